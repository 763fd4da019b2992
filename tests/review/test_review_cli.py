"""``gemmacode review`` and ``gemmacode ask`` end to end: a real git repository, the real
Ollama backend talking HTTP to the wire-format fake server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmacode.cli import main
from tests.conftest import git
from tests.fakes.ollama_server import FakeOllama

CODE = """import sqlite3


def find_user(db, name):
    query = "SELECT * FROM users WHERE name = '" + name + "'"
    return db.execute(query).fetchall()


def total(items):
    result = 0
    for i in range(len(items) + 1):
        result += items[i]
    return result
"""
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port


def _finding(line: int, severity: str) -> str:
    return json.dumps(
        {
            "findings": [
                {
                    "file": "app.py",
                    "line": line,
                    "severity": severity,
                    "category": "security",
                    "message": "SQL built from user input",
                    "suggestion": "use a parameter",
                }
            ]
        }
    )


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (git_repo / "app.py").write_text(CODE.replace("range(len(items) + 1)", "range(len(items))"))
    (git_repo / "logo.bin").write_bytes(b"\0\1\2")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "c")
    (git_repo / "app.py").write_text(CODE)
    (git_repo / "logo.bin").write_bytes(b"\0\1\2\3")
    git(git_repo, "add", "-A")
    monkeypatch.chdir(git_repo)
    yield git_repo


def _server(severity: str = "high") -> FakeOllama:
    def answer(body: dict[str, Any]) -> str:
        if body.get("format"):
            return _finding(11, severity)
        return "- app.py line 5 [high, security]: the query is built from user input."

    return FakeOllama(answer=answer, load_s=0.0)


def test_explain_context_needs_no_server(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["review", "--staged", "--explain-context", "--num-ctx", "4096", "--host", DEAD])
    out = capsys.readouterr().out
    assert code == 0
    assert "num_ctx 4096 (num_ctx pinned)" in out and "prompt budget" in out
    assert "left out: logo.bin (modified, binary) (binary file, not reviewed)" in out
    assert "request 1 of 1" in out
    assert "lines shown: app.py 8-13" in out
    assert "===== request 1 of 1, exactly as sent =====" in out
    assert "11 +     for i in range(len(items) + 1):" in out
    assert "Review the change above: staged changes (2 files)." in out


def test_explain_context_json_adds_up(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "app.py:4-6", "--explain-context", "--json", "--num-ctx", "2048"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (req,) = doc["requests"]
    assert req["total_tokens"] == sum(p["tokens"] for p in req["parts"])
    assert req["total_tokens"] <= doc["prompt_budget"] == 2048 - 1024 - 163
    assert [p["name"] for p in req["parts"]][0] == "system"
    assert req["files"] == {"app.py": [[4, 6]]}


def test_explain_context_without_a_server_says_what_it_assumed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "app.py", "--explain-context", "--host", DEAD]) == 0
    out = capsys.readouterr().out
    assert "no model server" in out and "assuming num_ctx 2048" in out


def test_review_streams_then_prints_findings_and_exit_code(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _server("high") as server:
        code = main(["review", "--staged", "--host", server.host, "--num-ctx", "4096"])
        bodies = server.bodies("/api/chat")
    out = capsys.readouterr().out
    assert code == 1  # a high finding fails the default --fail-on high
    assert out.index("the query is built from user input") < out.index("SQL built from user")
    assert "use a parameter" in out
    assert len(bodies) == 2 and bodies[0].get("format") is None and bodies[1]["format"]
    assert all(b["options"]["num_ctx"] == 4096 for b in bodies)


def test_fail_on_json_and_sarif(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _server("medium") as server:
        host = ["--host", server.host, "--num-ctx", "4096", "--no-prose"]
        assert main(["review", "--staged", "--json", *host]) == 0  # medium < high
        doc = json.loads(capsys.readouterr().out)
        assert main(["review", "--staged", "--sarif", "--fail-on", "medium", *host]) == 1
        sarif = json.loads(capsys.readouterr().out)
        assert len(server.bodies("/api/chat")) == 2  # --no-prose: one request per review
    assert doc["findings"][0]["line"] == 11 and doc["model"] == "gemma4:e4b"
    assert sarif["version"] == "2.1.0"


def test_nothing_staged_is_not_an_error(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    assert main(["review", "--staged", "--host", DEAD]) == 0
    assert "nothing to review" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["review", "missing.py", "--num-ctx", "4096"], "no such file: missing.py"),
        (["review", "app.py:50-60", "--num-ctx", "4096"], "past the end of app.py"),
        (["review", "--diff", "nope..HEAD"], "unknown revision 'nope'"),
        (["review", "app.py", "--extra"], "review.extra_instructions is empty"),
        (["review", "app.py", "--host", DEAD], "127.0.0.1:9"),
    ],
)
def test_errors_are_one_line_with_exit_2(
    repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and err.startswith("gemmacode: error: ") and "\n" not in err


def test_not_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["review", "--staged"]) == 2
    assert "not inside a git repository" in capsys.readouterr().err


def test_ask_streams_an_answer_from_relevant_code(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOllama(answer="find_user builds SQL from its input (app.py line 5).") as server:
        code = main(["ask", "Is find_user safe?", "--host", server.host, "--num-ctx", "4096"])
        (body,) = server.bodies("/api/chat")
    assert code == 0
    assert capsys.readouterr().out == "find_user builds SQL from its input (app.py line 5).\n"
    user = body["messages"][-1]["content"]
    assert "### app.py lines" in user and "def find_user(db, name):" in user
    assert user.rstrip().endswith("Question: Is find_user safe?")


def test_ask_explain_context(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "what does total do?", "--explain-context", "--num-ctx", "4096"]) == 0
    out = capsys.readouterr().out
    assert "passes: one streamed answer" in out and "def total(items):" in out


def test_symbol_and_folder_targets_explained(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "pkg").mkdir()
    (repo / "pkg" / "a.py").write_text("def alpha():\n    return 1\n")
    (repo / "pkg" / "b.py").write_text(
        "from pkg.a import alpha\n\n\ndef beta():\n    return alpha()\n"
    )
    assert main(["review", "app.py::total", "--explain-context", "--num-ctx", "4096"]) == 0
    out = capsys.readouterr().out
    assert "lines shown: app.py 9-13" in out and "Review the code above: app.py::total" in out
    assert main(["review", "pkg", "--explain-context", "--json", "--num-ctx", "4096"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (req,) = doc["requests"]
    assert req["files"] == {"pkg/a.py": [[1, 2]], "pkg/b.py": [[1, 5]]}


def test_map_ask_and_file_reviews_share_the_repositorys_map_cache(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gemmacode.config import load_settings, user_cache_dir
    from gemmacode.repomap import build as repomap
    from gemmacode.session.workspace import map_cache_dir

    # in-process rankings of an identical repository (other tests) would skip the disk
    monkeypatch.setattr(repomap, "_graphs", type(repomap._graphs)())
    monkeypatch.setattr(repomap, "_ranks", type(repomap._ranks)())
    folder = map_cache_dir(repo, load_settings(repo))
    assert main(["ask", "what does total do?", "--explain-context", "--num-ctx", "4096"]) == 0
    after_ask = sorted(p.name for p in folder.iterdir())
    assert any(name.startswith("graph-") for name in after_ask)
    assert not list(user_cache_dir().glob("graph-*")), "nothing in the shared cache root"
    assert main(["review", "app.py", "--explain-context", "--num-ctx", "4096"]) == 0
    assert "Repository outline:" in capsys.readouterr().out
    assert len(list(folder.glob("graph-*"))) == 1  # the review found the graph ask built
