"""Input built to break a tree walker: syntax nested far deeper than Python's recursion limit.

Generated code (a data literal nested thousands of levels) used to end ``gemmacode chunks``
and ``gemmacode review FILE`` in a ``RecursionError`` traceback. Every command that walks a
syntax tree runs here on such files, in Python and JavaScript, and must finish normally.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gemmacode.cli import main
from gemmacode.index.chunker import chunk_text
from gemmacode.tokens.counter import TokenCounter
from tests.conftest import git

DEPTH = 4 * sys.getrecursionlimit()  # far past what a recursive walk survives
FUNCTIONS = 60


def _python() -> str:
    nested = "TABLE = " + "[\n" * DEPTH + "1" + "]\n" * DEPTH
    funcs = "".join(
        f"\n\ndef lookup_{i}(key):\n    return TABLE[0] + key * {i}\n" for i in range(FUNCTIONS)
    )
    return nested + funcs


def _javascript() -> str:
    nested = "const TABLE = " + "[\n" * DEPTH + "1" + "]\n" * DEPTH + ";\n"
    funcs = "".join(
        f"function lookup{i}(key) {{\n  return TABLE[0] + key * {i};\n}}\n"
        for i in range(FUNCTIONS)
    )
    return nested + funcs


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    return {"deep.py": _python(), "deep.js": _javascript()}


@pytest.fixture
def repo(git_repo: Path, sources: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in sources.items():
        (git_repo / name).write_text(text)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "deep")
    for name in sources:  # a staged change inside the nested file
        with (git_repo / name).open("a") as fh:
            fh.write("\n// edited\n" if name.endswith(".js") else "\n# edited\n")
    git(git_repo, "add", "-A")
    monkeypatch.chdir(git_repo)
    return git_repo


@pytest.mark.parametrize("name", ["deep.py", "deep.js"])
def test_chunker_walks_deep_trees_without_recursion(sources: dict[str, str], name: str) -> None:
    text = sources[name]
    language = "python" if name.endswith(".py") else "javascript"
    counter = TokenCounter()
    chunks = chunk_text(text, path=name, language=language, budget=256, counter=counter)
    assert "".join(c.text for c in chunks) == text
    assert all(0 < c.tokens <= 256 for c in chunks)
    assert len(chunks) > 10  # the literal alone is many budgets long


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "RecursionError" not in out + err
    return code, out, err


@pytest.mark.parametrize("name", ["deep.py", "deep.js"])
def test_chunks_command(repo: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, _ = _run(capsys, "chunks", name, "--budget", "256", "--json")
    assert code == 0
    doc = json.loads(out)
    assert "".join(c["text"] for c in doc["chunks"]) == (repo / name).read_text()


def test_index_and_map_commands(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "index", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["files"] == 2 and doc["symbols"] >= 2 * FUNCTIONS
    code, out, _ = _run(capsys, "map", "--tokens", "256")
    assert code == 0 and "lookup" in out


@pytest.mark.parametrize(
    "target",
    [
        ["deep.py"],
        ["deep.js"],
        ["."],
        ["--staged"],
    ],
    ids=["file-py", "file-js", "folder", "staged"],
)
def test_review_explains_deep_files(
    repo: Path, capsys: pytest.CaptureFixture[str], target: list[str]
) -> None:
    code, out, _ = _run(
        capsys, "review", *target, "--explain-context", "--num-ctx", "4096", "--no-prose"
    )
    assert code == 0
    assert "request 1 of" in out


def test_ask_explains_with_deep_files(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "ask", "what does lookup_3 return?", "--explain-context", "--num-ctx", "4096"
    )
    assert code == 0
    assert "lookup_3" in out
