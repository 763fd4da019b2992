"""``gemmacode index``: the summary, ``--verbose``, the documented ``--json`` shape, and a run
with networking made to fail (the index and token counting must never reach the network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gemmacode.cli import main
from tests.conftest import git

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / "src").mkdir()
    (git_repo / "src" / "app.py").write_text("class App:\n    def run(self):\n        go()\n")
    (git_repo / "src" / "go.go").write_text("package src\n\nfunc Go() {}\n")
    (git_repo / "README.md").write_text("# app\n")
    (git_repo / "yarn.lock").write_text("# lock\n")
    (git_repo / "icon.ico").write_bytes(b"\0\0\1\0")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "init")
    return git_repo


def test_text_summary(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "--root", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "indexed 3 files" in out
    assert "python" in out and "go" in out and "text" in out
    assert "3 symbols" in out
    assert "skipped 2: binary 1, lockfile 1 (--verbose lists them)" in out
    assert "cache: " in out and str(repo) not in out.split("cache: ")[1]


def test_verbose_lists_skipped_files(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "--root", str(repo), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "binary           icon.ico" in out
    assert "lockfile         yarn.lock" in out


def test_json_shape(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "--root", str(repo), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "version", "root", "cache", "source", "files", "symbols", "references", "languages",
        "flags", "skipped", "skipped_files", "hashed", "parsed", "workers", "seconds",
    }  # fmt: skip
    assert data["version"] == 1
    assert data["root"] == str(repo.resolve())
    assert data["source"] == "git"
    assert (data["files"], data["symbols"], data["references"]) == (3, 3, 1)
    assert data["languages"] == {
        "go": {"files": 1, "symbols": 1},
        "python": {"files": 1, "symbols": 2},
        "text": {"files": 1, "symbols": 0},
    }
    assert data["skipped"] == {"binary": 1, "lockfile": 1}
    assert data["skipped_files"] == [
        {"path": "icon.ico", "reason": "binary"},
        {"path": "yarn.lock", "reason": "lockfile"},
    ]
    assert data["parsed"] == 2

    assert main(["index", "--root", str(repo), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["parsed"] == 0 and again["symbols"] == 3
    assert main(["index", "--root", str(repo), "--json", "--rebuild"]) == 0
    assert json.loads(capsys.readouterr().out)["parsed"] == 2


OFFLINE = """
import json, socket, sys

def no_network(*args, **kwargs):
    raise OSError("network disabled by the test")

socket.socket.connect = no_network
socket.socket.connect_ex = no_network
socket.getaddrinfo = no_network
socket.create_connection = no_network

from gemmacode.index import indexer
indexer.POOL_MIN_FILES = 2  # take the worker-process path too
indexer.POOL_MIN_BYTES = 1
from gemmacode.cli import main
from gemmacode.tokens.counter import TokenCounter

code = main(["index", "--root", sys.argv[1], "--json"])
print(json.dumps({"index": code, "tokens": TokenCounter().count("def f(x):\\n    return x\\n")}))
"""


def test_index_and_token_counting_run_without_network(repo: Path, tmp_path: Path) -> None:
    # First prove the guard works: a connection attempt must fail inside that interpreter.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            OFFLINE.split("from gemmacode.index")[0]
            + "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.returncode != 0 and "network disabled by the test" in probe.stderr

    env = {
        **os.environ,
        "GEMMACODE_INDEX_WORKERS": "2",
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-tiktoken-cache"),
    }
    out = subprocess.run(
        [sys.executable, "-c", OFFLINE, str(repo)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    summary = json.loads("\n".join(lines[:-1]))
    result = json.loads(lines[-1])
    assert result["index"] == 0 and result["tokens"] > 0
    assert summary["workers"] == 2 and summary["symbols"] == 3


def test_project_file_excludes_and_size_limit(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".gemmacode.toml").write_text('[index]\nexclude = ["*.go"]\nmax_file_bytes = 40\n')
    (repo / "src" / "big.py").write_text("x = 1\n" * 20)
    assert main(["index", "--root", str(repo), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "go" not in data["languages"]
    assert {"path": "src/big.py", "reason": "too-large"} in data["skipped_files"]
