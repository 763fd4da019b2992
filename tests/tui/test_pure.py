"""The UI's pure parts: slash commands and completion, the status bar's words, git status
parsing, conversations and the copy fallback. No app, no terminal."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gemmacode.session.api import IndexProgress
from gemmacode.session.events import (
    ContextPending,
    ContextSize,
    GpuSample,
    RequestStats,
    ServerState,
    Status,
)
from gemmacode.session.repo_state import parse_status
from gemmacode.tui.clipboard import osc52, terminal_copy
from gemmacode.tui.conversations import MemoryStore, Turn
from gemmacode.tui.repo_status import marker_of, markers_from
from gemmacode.tui.slash import Parsed, SlashError, complete, parse
from gemmacode.tui.status_text import index_text, sparkline, status_lines

GIB = 1024**3


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("", None),
        ("   ", None),
        ("why is this slow?", Parsed("ask", "why is this slow?")),
        ("/ask  where?  ", Parsed("ask", "where?")),
        ("/review", Parsed("review", "")),
        ("/review src/app.py:10-20", Parsed("review", "src/app.py:10-20")),
        ("/review src/app.py::Store.put", Parsed("review", "src/app.py::Store.put")),
        ("/staged", Parsed("staged", "")),
        ("/diff main...HEAD", Parsed("diff", "main...HEAD")),
        ("/ctx auto", Parsed("ctx", "auto")),
        ("/ctx 8192", Parsed("ctx", "8192")),
        ("/copy code", Parsed("copy", "code")),
        ("/export sarif out.sarif", Parsed("export", "sarif out.sarif")),
        ("/MODEL gemma4:e2b", Parsed("model", "gemma4:e2b")),
    ],
)
def test_parse(line: str, parsed: Parsed | None) -> None:
    assert parse(line) == parsed


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/revew x", "did you mean /review"),
        ("/diff", "/diff needs RANGE"),
        ("/ask", "/ask needs QUESTION"),
        ("/ctx big", "at least 512"),
        ("/ctx 100", "at least 512"),
        ("/copy everything", "answer, code or finding"),
        ("/export xml", "json or sarif"),
        ("/review a.py:x-y", "PATH:START-END"),
        ("/", "unknown command"),
    ],
)
def test_parse_errors_say_what_to_type(line: str, message: str) -> None:
    with pytest.raises(SlashError, match=message):
        parse(line)


def test_complete() -> None:
    paths = ["src/app.py", "src/api.py", "README.md"]
    assert complete("/re", paths) == "/review "
    assert complete("/review src/app", paths) == "/review src/app.py"
    assert complete("/review src/app.py", paths) is None
    assert complete("/model gem", models=["gemma4:e4b"]) == "/model gemma4:e4b"
    assert complete("/copy c") == "/copy code"
    assert complete("/ctx a") == "/ctx auto"
    assert complete("plain question") is None
    assert complete("/zzz") is None


def test_sparkline_scales_to_total() -> None:
    assert sparkline((0, 4 * GIB, 8 * GIB), 8 * GIB) == "▁▅█"
    assert sparkline((), 8 * GIB) == ""
    assert len(sparkline(tuple(range(20)), 20, width=8)) == 8


def _status(**kw: object) -> Status:
    base = {
        "server": ServerState("ollama", "gpu-box:11434", "gemma4:e4b", True, True),
        "memory": GpuSample("gpu", used=2 * GIB, total=8 * GIB),
        "memory_history": (GIB, 2 * GIB),
        "context": ContextSize(8192, False),
    }
    base.update(kw)
    return Status(**base)  # type: ignore[arg-type]


def test_status_lines_full_and_compact() -> None:
    status = _status(
        pending=ContextPending(8192, 4096, "free VRAM fell to 1.9 GiB"),
        last_request=RequestStats("gemma4:e4b", 8192, 6000, 5900, 7000, 100, 55.0, 0.0, "stop"),
    )
    first, second = (t.plain for t in status_lines(status))
    assert first == (
        "ollama gpu-box:11434 │ gemma4:e4b │ ctx 8192 │ "
        "next request 4096: free VRAM fell to 1.9 GiB"
    )
    assert second == "GPU 2.0/8.0 GiB ▂▃ │ fill 6000/7000 (86%) │ 55.0 tok/s"
    (only,) = (t.plain for t in status_lines(status, lines=1))
    assert only == "gemma4:e4b │ GPU 2.0/8.0 ▂▃ │ ctx 8192→4096"


def test_fill_uses_the_estimate_when_the_server_reports_no_count() -> None:
    stats = RequestStats("m", 4096, None, 3000, 3500, None, None, 0.0, "stop")
    _, second = status_lines(_status(last_request=stats))
    assert second.plain.endswith(" │ fill 3000/3500 (86%)")


def test_pinned_context_and_indexing() -> None:
    first, second = status_lines(
        _status(context=ContextSize(4096, True)), index=index_text(IndexProgress(3, 10))
    )
    assert "ctx 4096 pinned" in first.plain
    assert second.plain == "GPU 2.0/8.0 GiB ▂▃ │ indexing 3/10"
    assert index_text(IndexProgress(0, 0)).plain == "indexing: listing files…"


def test_tree_markers_from_git_status() -> None:
    assert [marker_of(xy) for xy in ("M ", " M", "MM", "??", "R ", "UU")] == [
        "staged", "changed", "both", "untracked", "staged", "both"
    ]  # fmt: skip
    status = parse_status(
        b"1 M. N... 100644 100644 100644 a a staged.py\0"
        b"1 .M N... 100644 100644 100644 a a changed.py\0"
        b"2 R. N... 100644 100644 100644 a a R100 new_name.py\0old_name.py\0"
        b"? new.py\0? fresh/\0"
    )
    files = ("changed.py", "clean.py", "fresh/a/b.py", "new.py", "new_name.py", "staged.py")
    assert markers_from(status, files) == {
        "staged.py": "staged",
        "changed.py": "changed",
        "new.py": "untracked",
        "new_name.py": "staged",
        "fresh/a/b.py": "untracked",
    }


def test_diff_completes_revisions_and_ranges() -> None:
    revs = ["HEAD", "main", "feature", "fix", "v1.0", "3f2a9c1b"]
    assert complete("/diff ma", revisions=revs) == "/diff main"
    assert complete("/diff main..fe", revisions=revs) == "/diff main..feature"
    assert complete("/diff v1.0...", revisions=revs) == "/diff v1.0...HEAD"
    assert complete("/diff 3f", revisions=revs) == "/diff 3f2a9c1b"
    assert complete("/diff main", revisions=revs) is None
    assert complete("/diff zz", revisions=revs) is None


def test_conversation_history_keeps_only_finished_questions() -> None:
    store = MemoryStore()
    conv = store.new()
    conv.turns += [
        Turn("ask", "q1", "a1", outcome="done"),
        Turn("review", "/staged", "r", outcome="done"),
        Turn("ask", "q2", "partial", outcome="cancelled"),
    ]
    assert conv.history() == [("q1", "a1")]
    assert store.list() == []
    store.save(conv)
    assert store.load(conv.id) is conv
    assert store.new().id != conv.id


def test_copy_writes_a_private_file_and_says_how(tmp_path: Path) -> None:
    sent: list[str] = []
    copy = terminal_copy(tmp_path / "clip", env={})
    result = copy("secret code", sent.append)
    assert sent == [osc52("secret code")]
    assert result.terminal and result.path is not None
    assert result.path.read_text() == "secret code"
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(result.path.parent.stat().st_mode) == 0o700
    assert "OSC 52" in result.how and str(result.path) in result.how

    def broken(text: str) -> None:
        raise OSError("no terminal")

    result = copy("more", broken)
    assert not result.terminal and result.ok
    assert "OSC 52" not in result.how


def test_docs_name_every_key_and_slash_command() -> None:
    from gemmacode.tui.keys import KEYS
    from gemmacode.tui.slash import COMMANDS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "tui.md").read_text()
    missing = [f"`{k.id}`" for k in KEYS if f"`{k.id}`" not in doc]
    missing += [f"/{c.name}" for c in COMMANDS if f"`/{c.name}" not in doc]
    assert not missing, f"docs/tui.md must name {', '.join(missing)}"
