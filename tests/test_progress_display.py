"""Progress for a log: plain lines where a terminal would show bars."""

import io

from rich.console import Console

from vidsearch.progress_display import LineProgress, progress_display


def test_a_log_gets_a_line_per_named_item_and_longer_steps_at_intervals():
    lines: list[str] = []
    with LineProgress(lines.append, interval=3600) as progress:
        videos = progress.add_task("videos", total=2)
        for name in ("a.mp4", "b.mp4"):
            progress.update(videos, description=f"videos · {name}")  # names the item: no line yet
            windows = progress.add_task(f"  windows · {name}", total=40)
            for done in range(1, 40):
                progress.update(windows, completed=done)  # within the interval: no line
            progress.remove_task(windows)
            progress.advance(videos)
        embedding = progress.add_task("embedding texts", total=3)
        progress.advance(embedding, 3)
    assert [line.split(" (")[0] for line in lines] == [
        "videos · a.mp4: 1/2",
        "videos · b.mp4: 2/2",
        "embedding texts: 3/3",
    ]
    assert all(line.endswith("elapsed)") or "left)" in line for line in lines)


def test_bars_on_a_terminal_lines_elsewhere():
    piped = Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(progress_display(piped), LineProgress)
    assert isinstance(progress_display(piped, quiet_terminal=True), LineProgress)  # a --json run still logs
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert not isinstance(progress_display(terminal), LineProgress)
    assert progress_display(terminal, quiet_terminal=True).disable
    lines: list[str] = []
    with LineProgress(lines.append, interval=0) as progress:  # every step, when the interval is zero
        task = progress.add_task("embedding texts", total=4)
        progress.advance(task)
        progress.advance(task)
    assert [line.split(" (")[0] for line in lines] == ["embedding texts: 1/4", "embedding texts: 2/4"]
