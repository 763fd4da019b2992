"""File names with control characters are shown quoted as git quotes them, never raw: a
newline in a name printed raw into the map or a prompt splits it into what reads as two
lines (a new file header, a new instruction)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gemmacode.cli import main
from gemmacode.index.pathquote import needs_quoting, quote_path, unquote_path
from tests.conftest import git

EVIL = "evil\nname.py"  # a newline in the name
TABBED = 'tab\tq"b\\.py'  # a tab, a quote and a backslash
ESC = "esc\x1b[31mred.py"  # a terminal escape sequence


def test_harmless_names_are_unchanged() -> None:
    for name in ("app.py", "src/caf\u00e9.py", "docs/read me.md", "\u6587\u4ef6.go"):
        assert quote_path(name) == name and not needs_quoting(name)


def test_quoting_matches_git(git_repo: Path) -> None:
    names = [EVIL, TABBED, ESC, "bell\x07.py", "del\x7f.py"]
    for name in names:
        (git_repo / name).write_text("x = 1\n")
    git(git_repo, "add", "-A")
    listed = git(git_repo, "-c", "core.quotePath=false", "ls-files").splitlines()
    assert sorted(listed) == sorted(quote_path(n) for n in names)
    assert quote_path(EVIL) == '"evil\\nname.py"'
    assert quote_path(ESC) == '"esc\\033[31mred.py"'


def test_line_breakers_beyond_ascii_are_quoted() -> None:
    for ch in ("\u0085", "\u2028", "\u2029", "\u202e"):
        quoted = quote_path(f"a{ch}b.py")
        assert quoted.startswith('"') and ch not in quoted
        assert len(quoted.splitlines()) == 1
        assert unquote_path(quoted) == f"a{ch}b.py"


@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1))
def test_quoting_round_trips_and_keeps_one_line(name: str) -> None:
    quoted = quote_path(name)
    assert unquote_path(quoted) == name or not needs_quoting(name) and quoted == name
    assert len(quoted.splitlines()) <= 1


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (git_repo / "core.py").write_text("def helper_function_x(a):\n    return a\n")
    (git_repo / EVIL).write_text("def evil_function(a):\n    return helper_function_x(a)\n")
    (git_repo / TABBED).write_text("def tabbed_function(a):\n    return helper_function_x(a)\n")
    (git_repo / "blob\n.bin").write_bytes(b"\0\1")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "c")
    (git_repo / EVIL).write_text("def evil_function(a):\n    return helper_function_x(a) + 1\n")
    (git_repo / "blob\n.bin").write_bytes(b"\0\2")
    git(git_repo, "add", "-A")
    monkeypatch.chdir(git_repo)
    return git_repo


def _no_raw_fragments(text: str) -> None:
    lines = text.splitlines()
    assert "name.py" not in [line.strip(" :") for line in lines]
    assert not any(line.startswith("name.py") for line in lines)


def test_map_shows_quoted_names(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["map", "--tokens", "400"]) == 0
    out = capsys.readouterr().out
    assert '"evil\\nname.py":' in out.splitlines()
    assert '"tab\\tq\\"b\\\\.py":' in out.splitlines()
    _no_raw_fragments(out)
    assert main(["map", "--tokens", "400", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert EVIL in doc["files"]  # machine-readable output keeps the real name


def test_review_prompt_and_explanation_quote_names(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "--staged", "--explain-context", "--num-ctx", "4096"]) == 0
    out = capsys.readouterr().out
    assert '### "evil\\nname.py" (modified, +1 -1): lines 1-2, in evil_function' in out
    assert 'lines shown: "evil\\nname.py" 1-2' in out
    assert 'left out: "blob\\n.bin" (modified, binary)' in out
    _no_raw_fragments(out)
    assert main(["review", EVIL, "--explain-context", "--num-ctx", "4096"]) == 0
    out = capsys.readouterr().out
    assert '### "evil\\nname.py" (python)' in out
    _no_raw_fragments(out)


def test_index_and_chunks_quote_names(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert '"blob\\n.bin"' in out
    assert main(["chunks", EVIL]) == 0
    out = capsys.readouterr().out
    assert out.startswith('"evil\\nname.py" (python):')


def test_findings_name_their_file_quoted() -> None:
    from gemmacode.review.findings.model import Finding
    from gemmacode.review.findings.render import render_human

    finding = Finding(EVIL, 2, 2, "high", "bug", "wrong sum")
    out = render_human([finding], sources={EVIL: "a\nb\n"}, color=False)
    assert out.splitlines()[0] == '"evil\\nname.py"'
