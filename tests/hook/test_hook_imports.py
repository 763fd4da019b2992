"""The hook's fast paths load no heavy module: a bypass, nothing to review, no server, a
cached review. Each runs in a fresh interpreter, as git starts it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git
from tests.hook.conftest import ScriptedCore, finding, run_in_process
from tests.hook.test_hook_commit import closed_port, commit_env

ROOT = Path(__file__).resolve().parents[2]
# The official client, the terminal UI, grammars, the tokenizer, the embedded engine, the
# async machinery and HTTP client the core brings: none of them before a review is needed.
HEAVY = (
    "ollama",
    "textual",
    "tree_sitter",
    "tiktoken",
    "llama_cpp",
    "git",
    "pynvml",
    "httpx",
    "asyncio",
    "gemmacode.session.core",
)

PROBE = (
    "import sys\n"
    "from gemmacode.cli import main\n"
    "code = main(['hook', 'run', 'pre-commit'])\n"
    f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})\n"
    "print('HEAVY', heavy, 'EXIT', code)\n"
)


def _heavy(repo: Path, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=repo,
        env={**commit_env(**env), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("HEAVY"))
    return line


@pytest.mark.parametrize("case", ["skip", "nothing", "server-down", "cached"])
def test_fast_paths_import_nothing_heavy(repo: Path, case: str) -> None:
    (repo / "app.py").write_text("x = eval(input())\n")
    git(repo, "add", "app.py")
    env: dict[str, str] = {}
    if case == "skip":
        env["GEMMACODE_SKIP"] = "1"
    elif case == "nothing":
        git(repo, "reset", "-q")
        (repo / "NOTES.md").write_text("notes\n")
        git(repo, "add", "NOTES.md")
    elif case == "server-down":
        env["OLLAMA_HOST"] = f"127.0.0.1:{closed_port()}"
    else:  # a review cached by an in-process run with the scripted core
        kind = {"GEMMACODE_BACKEND_KIND": "embedded", "GEMMACODE_BACKEND_MODEL": "m"}
        assert run_in_process(repo, ScriptedCore([finding("app.py", 1)]), env=kind).code == 1
        env.update(kind)
    line = _heavy(repo, **env)
    assert line.startswith("HEAVY []"), line
    assert line.endswith("EXIT 1" if case == "cached" else "EXIT 0"), line
