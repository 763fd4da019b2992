"""Real ``git commit`` runs that trigger the installed hook: the shim, chaining, the bypasses
and the paths that finish before any model is asked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from gemmacode.hook.gitio import hook_context
from gemmacode.hook.install import install
from tests.conftest import git

# A shell's PATH without the virtual environment, as GUI clients have it.
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"


def commit_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "VIRTUAL_ENV", "PATH"))}
    env.update(
        {
            "PATH": BARE_PATH,
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_SYSTEM": "/dev/null",
            "OLLAMA_HOST": f"http://127.0.0.1:{closed_port()}",
        }
    )
    env.update(extra)
    return env


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commit(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    out = subprocess.run(
        ["git", "commit", "-q", *args],
        cwd=repo,
        env=env or commit_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.returncode, out.stdout + out.stderr


def installed(repo: Path) -> Path:
    install(hook_context(repo, commit_env()), "pre-commit", python=sys.executable)
    return repo


def head_count(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD").strip())


def test_docs_only_commit_passes_without_a_server_and_from_a_bare_path(repo: Path) -> None:
    installed(repo)
    (repo / "NOTES.md").write_text("# notes\n")
    git(repo, "add", "NOTES.md")
    code, out = commit(repo, "-m", "docs")
    assert code == 0, out
    assert "nothing to review in the staged changes: NOTES.md (documentation only)" in out
    assert head_count(repo) == 2


def test_server_down_fails_open_and_strict_blocks_with_exit_3(repo: Path) -> None:
    installed(repo)
    (repo / "app.py").write_text("import os\nos.system(input())\n")
    git(repo, "add", "app.py")
    code, out = commit(repo, "-m", "strict", env=commit_env(GEMMACODE_HOOK_STRICT="1"))
    assert code != 0 and "commit blocked: not reviewed: no model server at" in out
    assert head_count(repo) == 1
    code, out = commit(repo, "-m", "open")
    assert code == 0, out
    assert out.strip().startswith("gemmacode: warning: commit not reviewed: no model server")
    assert head_count(repo) == 2


def test_bypasses_skip_the_review(repo: Path) -> None:
    installed(repo)
    (repo / "app.py").write_text("x = 1\n")
    git(repo, "add", "app.py")
    strict = commit_env(GEMMACODE_HOOK_STRICT="1")
    code, out = commit(repo, "-m", "skip", env={**strict, "GEMMACODE_SKIP": "1"})
    assert code == 0 and "review skipped (GEMMACODE_SKIP is set)" in out
    (repo / "app.py").write_text("x = 2\n")
    git(repo, "add", "app.py")
    code, out = commit(repo, "--no-verify", "-m", "no-verify", env=strict)
    assert code == 0 and "gemmacode" not in out
    assert head_count(repo) == 3


def test_chained_hook_runs_first_and_its_failure_stops_the_commit(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text('#!/bin/sh\necho "team check ran in $(pwd)" >&2\nexit 7\n')
    os.chmod(hook, 0o755)
    installed(repo)
    (repo / "NOTES.md").write_text("# notes\n")
    git(repo, "add", "NOTES.md")
    code, out = commit(repo, "-m", "x", env=commit_env(GEMMACODE_SKIP="1"))
    assert code != 0 and f"team check ran in {repo}" in out
    assert "gemmacode" not in out  # stopped before the review, as before
    assert head_count(repo) == 1
    hook.with_name("pre-commit.gemmacode-chained").write_text("#!/bin/sh\nexit 0\n")
    code, out = commit(repo, "-m", "x")
    assert code == 0 and "nothing to review" in out


def test_a_deleted_interpreter_fails_open_with_one_line(repo: Path) -> None:
    from gemmacode.hook.gitio import hook_context as ctx

    install(ctx(repo, commit_env()), "pre-commit", python="/nowhere/venv/bin/python")
    (repo / "app.py").write_text("x = 1\n")
    git(repo, "add", "app.py")
    code, out = commit(repo, "-m", "x")
    assert code == 0
    assert out.strip() == (
        "gemmacode: warning: commit not reviewed: /nowhere/venv/bin/python is gone; "
        "run `gemmacode hook install` again"
    )
