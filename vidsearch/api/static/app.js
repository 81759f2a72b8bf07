// vidsearch web page: play a moment from its start, and ask questions whose citations play too.
"use strict";

const player = () => document.getElementById("player");

function clock(seconds) {
  const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
}

function play(videoId, start, end, label) {
  const video = player();
  const source = `/videos/${videoId}/media`;
  const seek = () => {
    video.currentTime = start;
    video.play().catch(() => {}); // a browser may refuse sound without a gesture; the seek stands
  };
  video.dataset.videoId = videoId;
  video.dataset.start = start;
  document.getElementById("now-playing").textContent = `${label || ""} ${clock(start)}–${clock(end)}`.trim();
  if (video.getAttribute("src") !== source) {
    video.setAttribute("src", source);
    video.addEventListener("loadedmetadata", seek, { once: true });
    video.load();
  } else if (video.readyState < 1) {
    video.addEventListener("loadedmetadata", seek, { once: true }); // the page's own player, still loading
  } else {
    seek();
  }
}

function playFrom(element) {
  const name = element.querySelector(".name");
  if (element.dataset.playable === "false") {
    // known only by a key, or its file is gone: say so instead of a blank player
    document.getElementById("now-playing").textContent = `${name ? name.textContent : ""}: no file to play`;
    return;
  }
  play(element.dataset.videoId, Number(element.dataset.start), Number(element.dataset.end), name && name.textContent);
  document.querySelectorAll(".moment.playing, .citation.playing").forEach((e) => e.classList.remove("playing"));
  element.classList.add("playing");
}

document.addEventListener("click", (event) => {
  if (event.target.closest("a.like")) return; // "more like this" is a link, not a play
  const target = event.target.closest(".moment, .citation");
  if (target) {
    event.preventDefault();
    playFrom(target);
  }
});
document.addEventListener("keydown", (event) => {
  const target = event.target.closest && event.target.closest(".moment");
  if (target && event.key === "Enter") playFrom(target);
});

async function ask(event) {
  event.preventDefault();
  const form = event.target;
  const panel = document.getElementById("answer");
  const question = form.elements.question.value.trim();
  if (!question) return;
  panel.hidden = false;
  panel.querySelector(".text").textContent = "Thinking…";
  panel.querySelector(".citations").replaceChildren();
  panel.querySelector(".note").textContent = "";
  const response = await fetch("/ask", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ question, k: 5 }),
    credentials: "same-origin",
  });
  const body = await response.json();
  if (!response.ok) {
    panel.querySelector(".text").textContent = body.detail || `error ${response.status}`;
    return;
  }
  panel.querySelector(".text").textContent = body.answer;
  const list = panel.querySelector(".citations");
  for (const c of body.citations) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#";
    link.className = "citation";
    link.dataset.videoId = c.video_id;
    link.dataset.start = c.start;
    link.dataset.end = c.end;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = c.path.split("/").pop();
    link.append(`[${c.number}] `, name, ` ${clock(c.start)}–${clock(c.end)}`);
    item.append(link);
    list.append(item);
  }
  panel.querySelector(".note").textContent = body.note || "";
}

// Times come from the server in UTC; show them in the reader's own zone.
function localTimes() {
  const two = (n) => String(n).padStart(2, "0");
  for (const element of document.querySelectorAll("time.local[datetime]")) {
    const when = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) continue;
    element.title = when.toString();
    element.textContent =
      `${when.getFullYear()}-${two(when.getMonth() + 1)}-${two(when.getDate())} ` +
      `${two(when.getHours())}:${two(when.getMinutes())}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("ask");
  if (form) form.addEventListener("submit", ask);
  localTimes();
});
