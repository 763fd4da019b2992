"""The pre-push review: the range being pushed, never the whole repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gemmacode.hook.exits import EXIT_BLOCKED, EXIT_OK
from gemmacode.hook.gitio import NULL_SHA, hook_context
from gemmacode.hook.install import install
from gemmacode.hook.push import push_ranges
from tests.conftest import git
from tests.hook.conftest import EMBEDDED, ScriptedCore, commit_all, finding, run_in_process
from tests.hook.test_hook_commit import commit_env


@pytest.fixture
def pushed(repo: Path, tmp_path: Path) -> Path:
    """``repo`` with a bare remote ``origin`` holding its first commit."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return repo


def _sha(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", rev).strip()


def test_update_of_a_pushed_branch_reviews_remote_to_local(pushed: Path) -> None:
    base = _sha(pushed)
    (pushed / "app.py").write_text((pushed / "app.py").read_text().replace("x3 = 3", "x3 = 33"))
    commit_all(pushed, "one")
    (pushed / "b.py").write_text("b = 1\n")
    commit_all(pushed, "two")
    tip = _sha(pushed)
    line = f"refs/heads/main {tip} refs/heads/main {base}\n"
    core = ScriptedCore([finding("app.py", 3), finding("app.py", 10)])
    ran = run_in_process(pushed, core, stage="pre-push", stdin=line, env=EMBEDDED)
    assert ran.code == EXIT_BLOCKED
    spec = core.specs[0]
    assert (spec.kind, spec.target, spec.index_file) == ("diff", f"{base}..{tip}", None)
    assert "app.py:3: high" in ran.output and "app.py:10: high: bad thing  (not blocking)" in (
        ran.output
    )


def test_new_branch_starts_after_what_remotes_already_have(pushed: Path) -> None:
    base = _sha(pushed)
    git(pushed, "checkout", "-q", "-b", "topic")
    (pushed / "t.py").write_text("t = 1\n")
    commit_all(pushed, "topic")
    ctx = hook_context(pushed, dict(os.environ))
    (r,) = push_ranges(ctx, f"refs/heads/topic {_sha(pushed)} refs/heads/topic {NULL_SHA}\n", {})
    assert (r.base, r.tip) == (base, _sha(pushed))
    deleting = f"(delete) {NULL_SHA} refs/heads/old {base}\n"
    assert push_ranges(ctx, deleting, {}) == []
    same = f"refs/heads/main {base} refs/heads/main {base}\n"
    assert push_ranges(ctx, same, {}) == []
    framework = {"PRE_COMMIT_FROM_REF": base, "PRE_COMMIT_TO_REF": _sha(pushed)}
    (f,) = push_ranges(ctx, "", framework)
    assert (f.base, f.tip) == (base, _sha(pushed))


def test_a_push_of_only_docs_asks_nothing(pushed: Path) -> None:
    base = _sha(pushed)
    (pushed / "CHANGES.md").write_text("# 1.0\n")
    commit_all(pushed, "docs")
    core = ScriptedCore([finding("CHANGES.md", 1)])
    line = f"refs/heads/main {_sha(pushed)} refs/heads/main {base}\n"
    ran = run_in_process(pushed, core, stage="pre-push", stdin=line, env=EMBEDDED)
    assert (ran.code, core.opened) == (EXIT_OK, 0)


def test_real_push_runs_the_installed_pre_push_hook(pushed: Path) -> None:
    install(hook_context(pushed, commit_env()), "pre-push", python=sys.executable)
    (pushed / "app.py").write_text("import os\nos.system(input())\n")
    commit_all(pushed, "risky")

    def push(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "push", "-q", "origin", "main"],
            cwd=pushed,
            env=commit_env(**extra),
            capture_output=True,
            text=True,
            check=False,
        )

    refused = push(GEMMACODE_HOOK_STRICT="1")
    assert refused.returncode != 0
    assert "push blocked: not reviewed: no model server" in refused.stderr
    assert "git push --no-verify" in refused.stderr
    done = push()
    assert done.returncode == 0, done.stderr
    assert "warning: push not reviewed: no model server" in done.stderr
