// vidsearch library page: add a folder, start and cancel scans, follow their progress (GET /jobs, polled
// while a job is active). The JSON routes need an admin key; the page's sign-in cookie carries it.
"use strict";

const ACTIVE = new Set(["queued", "waiting", "running"]);
let polling = null;

function say(text, isError) {
  const message = document.getElementById("manage-message");
  message.textContent = text;
  message.classList.toggle("error", Boolean(isError));
}

async function call(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `${response.status} ${response.statusText}`);
  return data;
}

function duration(seconds) {
  const s = Math.round(seconds), m = Math.floor(s / 60);
  return m ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

function baseName(path) {
  return path ? path.split("/").pop() : "";
}

function jobItem(job) {
  const item = document.createElement("li");
  item.className = `job ${job.state}`;
  item.dataset.jobId = job.id;
  const head = document.createElement("div");
  const state = document.createElement("span");
  state.className = `status ${job.state}`;
  state.textContent = job.state;
  head.append(state, " ", job.folders.join(", "));
  item.append(head);

  const facts = document.createElement("div");
  facts.className = "facts";
  const parts = [`${job.files_done} of ${job.files_total} files`];
  if (job.indexed || job.skipped) parts.push(`${job.indexed} indexed, ${job.skipped} unchanged`);
  if (job.current) parts.push(`now ${baseName(job.current)}`);
  if (job.realtime) parts.push(`${job.realtime.toFixed(1)}x realtime`);
  if (job.eta_seconds !== null && job.eta_seconds !== undefined) parts.push(`about ${duration(job.eta_seconds)} left`);
  if (job.error) parts.push(job.error);
  facts.textContent = parts.join(" · ");
  if (job.state === "running") {
    const bar = document.createElement("progress");
    bar.max = Math.max(1, job.files_total);
    bar.value = job.files_done;
    facts.prepend(bar, " ");
  }
  item.append(facts);

  for (const failure of job.failed) {
    const line = document.createElement("div");
    line.className = "reason";
    line.textContent = `${baseName(failure.path)}: ${failure.reason}`;
    line.title = failure.path;
    item.append(line);
  }
  if (ACTIVE.has(job.state) && !job.cancel_requested) {
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "cancel";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        await call("POST", `/jobs/${job.id}/cancel`);
        say("Cancelling: what is stored stays; the file being read is left as it was.");
      } catch (error) {
        say(error.message, true);
      }
      refresh();
    });
    item.append(cancel);
  }
  return item;
}

async function refresh() {
  let jobs;
  try {
    jobs = await call("GET", "/jobs");
  } catch (error) {
    say(error.message, true);
    return;
  }
  document.getElementById("jobs").replaceChildren(...jobs.slice(0, 10).map(jobItem));
  const active = jobs.some((job) => ACTIVE.has(job.state));
  if (active && polling === null) polling = setInterval(refresh, 2000);
  if (!active && polling !== null) {
    clearInterval(polling);
    polling = null;
  }
}

function folderRow(folder) {
  const row = document.createElement("tr");
  row.dataset.folder = folder.path;
  const name = document.createElement("td");
  name.className = "file";
  name.textContent = folder.path;
  const count = document.createElement("td");
  count.textContent = folder.videos;
  const action = document.createElement("td");
  const scan = document.createElement("button");
  scan.type = "button";
  scan.className = "scan";
  scan.dataset.folder = folder.path;
  scan.textContent = "Scan";
  action.append(scan);
  row.append(name, count, action);
  return row;
}

async function startScan(folder) {
  try {
    const job = await call("POST", "/jobs", folder ? { folder } : {});
    say(`Scan started (job ${job.id}).`);
  } catch (error) {
    say(error.message, true);
  }
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("manage");
  if (!section) return;
  section.addEventListener("click", (event) => {
    const button = event.target.closest("button.scan");
    if (button) startScan(button.dataset.folder || null);
  });
  const form = document.getElementById("add-folder");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const path = form.elements.path.value.trim();
      try {
        const folder = await call("POST", "/folders", { path });
        const rows = document.querySelector("#folders tbody");
        if (!rows.querySelector(`tr[data-folder="${CSS.escape(folder.path)}"]`)) rows.append(folderRow(folder));
        say(`Added ${folder.path}. Scan it to index its videos.`);
        form.reset();
      } catch (error) {
        say(error.message, true);
      }
    });
  }
  refresh();
});
