"""User text must never reach a shell or an ffmpeg filter string: the library starts no process except
the demo/test video synthesiser and the export's chaptered copies (FFmpeg), which pass arguments as
lists and titles through files, and its own writers (the watcher child of `serve --watch`, an index
job's process), which run this Python on vidsearch with no user text on their command lines (a job
reads its folders from its record)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vidsearch"
PROCESS_CALLS = {"system", "popen", "run", "call", "check_call", "check_output", "Popen", "spawnl", "execv"}


def process_calls(path: Path) -> list[tuple[int, str, bool]]:
    """(line, call, uses shell=True) for every process-starting call in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PROCESS_CALLS:
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in {"subprocess", "os"}:
                shell = any(k.arg == "shell" and getattr(k.value, "value", False) is True for k in node.keywords)
                found.append((node.lineno, f"{owner.id}.{node.func.attr}", shell))
    return found


OWN_PROCESSES = {"indexer/watch.py", "indexer/jobs.py"}


def test_only_the_synthesiser_starts_processes_and_never_through_a_shell():
    starters = {p.relative_to(PACKAGE).as_posix(): calls for p in PACKAGE.rglob("*.py") if (calls := process_calls(p))}
    assert set(starters) == {"media/synthesize.py", "export/embed.py", *OWN_PROCESSES}
    assert all(not shell for calls in starters.values() for _, _, shell in calls)


def test_vidsearch_starts_only_itself_with_a_fixed_command_line():
    for name in OWN_PROCESSES:
        source = (PACKAGE / name).read_text()
        [(_, call, _)] = process_calls(PACKAGE / name)
        assert call == "subprocess.Popen"
        # The command: this interpreter, `-m` a vidsearch module, then words of its own and ids it made.
        assert '[sys.executable, "-m", "vidsearch' in source, name


def test_titles_reach_ffmpeg_through_a_file_not_the_filter_string():
    source = (PACKAGE / "media" / "synthesize.py").read_text()
    assert "textfile=" in source and "text='" not in source and 'text="' not in source


def test_chapter_titles_reach_ffmpeg_through_a_metadata_file_and_paths_are_absolute():
    source = (PACKAGE / "export" / "embed.py").read_text()
    assert '"-f", "ffmetadata", "-i", str(metadata)' in source  # titles are written to that file
    assert '"-i", str(source.resolve())' in source and "str(partial.resolve())" in source
