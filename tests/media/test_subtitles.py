from pathlib import Path

import pytest

from vidsearch.media.probe import probe
from vidsearch.media.subtitles import find_sidecars, read_all, read_embedded, read_sidecar
from vidsearch.media.synthesize import Scene, make_video

SRT = """1
00:00:01,000 --> 00:00:03,500
Hello <i>world</i>

2
00:00:04,000 --> 00:00:06,000
Second line
"""

VTT = """WEBVTT

00:00:02.000 --> 00:00:05.000
Bonjour à tous
"""


@pytest.fixture(scope="module")
def subtitled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("subs") / "talk.mp4"
    make_video([Scene("rocket", 3, subtitle="First cue"), Scene("coffee", 3, subtitle="Second cue")], out)
    return out


def test_embedded_text_track_is_read_with_times(subtitled):
    cues = read_embedded(subtitled, probe(subtitled))
    assert [c.text for c in cues] == ["First cue", "Second cue"]
    assert cues[0].start == pytest.approx(0, abs=0.05) and cues[0].end == pytest.approx(3, abs=0.05)
    assert cues[1].start == pytest.approx(3, abs=0.05)
    assert cues[0].source.startswith("stream:")


def test_sidecars_are_found_by_name_and_parsed(tmp_path):
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"")
    (tmp_path / "talk.srt").write_text(SRT)
    (tmp_path / "talk.fr.vtt").write_text(VTT)
    (tmp_path / "talkative.srt").write_text(SRT)  # another video's subtitles
    assert [p.name for p in find_sidecars(video)] == ["talk.fr.vtt", "talk.srt"]
    srt = read_sidecar(tmp_path / "talk.srt")
    assert [(c.start, c.end, c.text) for c in srt] == [(1.0, 3.5, "Hello world"), (4.0, 6.0, "Second line")]
    vtt = read_sidecar(tmp_path / "talk.fr.vtt")
    assert vtt[0].text == "Bonjour à tous" and vtt[0].source == "talk.fr.vtt"


def test_latin1_sidecar_is_read(tmp_path):
    path = tmp_path / "old.srt"
    path.write_bytes("1\n00:00:00,000 --> 00:00:01,000\nCafé crème\n".encode("latin-1"))
    assert read_sidecar(path)[0].text == "Café crème"


def test_read_all_combines_track_and_sidecar_and_survives_a_broken_sidecar(subtitled, tmp_path):
    video = tmp_path / subtitled.name
    video.write_bytes(subtitled.read_bytes())
    (tmp_path / "talk.srt").write_text(SRT)
    (tmp_path / "talk.en.srt").write_bytes(b"\x00\x01 garbage")
    cues = read_all(video, probe(video))
    texts = [c.text for c in cues]
    assert "First cue" in texts and "Hello world" in texts
