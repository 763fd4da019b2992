"""The hook through the real ``pre-commit`` framework (PyPI): ``pre-commit try-repo`` on a real
repository, and ``git commit`` with the framework's own hook installed.

The framework installs the hook's package into an environment of its own (``language:
python``). Offline, and without installing every dependency again, that install is made
with pip told not to fetch anything (``PIP_NO_INDEX``, ``PIP_NO_DEPS``, no build isolation);
the hook then finds this checkout's code first on ``PYTHONPATH`` and its dependencies
through a ``sitecustomize`` that appends this interpreter's site-packages (appended, so the
new environment's own build tools still win while pip builds the package). The package it
installs is a committed snapshot of the manifest and the package, made once per session;
``try-repo`` builds a fresh environment on every run (~20 s), the installed framework hook
reuses one.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import git
from tests.hook.test_hook_commit import commit, commit_env, head_count

SOURCE = Path(__file__).resolve().parents[2]


def test_manifest_runs_once_per_commit_in_every_stage() -> None:
    hooks = yaml.safe_load((SOURCE / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["gemmacode"]
    hook = hooks[0]
    assert hook["pass_filenames"] is False and hook["require_serial"] is True
    assert hook["stages"] == ["pre-commit", "pre-push", "manual"]
    assert hook["minimum_pre_commit_version"] == "3.2.0"  # git's stage names arrived in 3.2.0
    assert hook["entry"] == "gemmacode hook run" and hook["language"] == "python"
    assert hook["verbose"] is True  # the fail-open warning is seen on success too


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed snapshot of the manifest and the package, for the framework to install."""
    snap = tmp_path_factory.mktemp("hook-src") / "gemmacode"
    snap.mkdir()
    for name in (".pre-commit-hooks.yaml", "pyproject.toml", "README.md"):
        shutil.copy(SOURCE / name, snap / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(SOURCE / "gemmacode", snap / "gemmacode", ignore=ignore)
    shutil.copytree(SOURCE / "prompts", snap / "prompts", ignore=ignore)
    git(snap, "init", "-q", "-b", "main")
    git(snap, "add", "-A")
    git(snap, "commit", "-q", "-m", "snapshot")
    return snap


@pytest.fixture(scope="session")
def paths_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sitecustomize")
    dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    (folder / "sitecustomize.py").write_text(
        "import site\n" + "".join(f"site.addsitedir({d!r})\n" for d in dirs)
    )
    return folder


@pytest.fixture(scope="session")
def framework_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def framework_env(home: Path, paths_dir: Path, **extra: str) -> dict[str, str]:
    env = commit_env(
        PRE_COMMIT_HOME=str(home),
        PIP_NO_INDEX="1",
        PIP_NO_DEPS="1",
        PIP_NO_BUILD_ISOLATION="0",
        PYTHONPATH=os.pathsep.join([str(paths_dir), str(SOURCE)]),
    )
    env.update(extra)
    return env


def try_repo(repo: Path, hook_repo: Path, env: dict[str, str]) -> tuple[int, str]:
    out = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "gemmacode"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return out.returncode, out.stdout + out.stderr


@pytest.fixture
def staged(repo: Path) -> Iterator[Path]:
    (repo / "app.py").write_text("import os\nos.system(input())\n")
    git(repo, "add", "app.py")
    yield repo


def test_try_repo_runs_the_manifest_hook_on_a_real_repository(
    staged: Path, hook_repo: Path, framework_home: Path, paths_dir: Path
) -> None:
    env = framework_env(framework_home, paths_dir, GEMMACODE_HOOK_STRICT="1")
    code, out = try_repo(staged, hook_repo, env)
    assert code == 1, out
    assert "gemmacode review" in out and "Failed" in out and "- exit code: 3" in out
    assert "commit blocked: not reviewed: no model server at" in out


@pytest.fixture
def framework_repo(
    repo: Path, hook_repo: Path, framework_home: Path, paths_dir: Path
) -> Iterator[Path]:
    """``repo`` with a committed .pre-commit-config.yaml using the hook and the framework's
    git hook installed."""
    rev = git(hook_repo, "rev-parse", "HEAD").strip()
    config = {"repos": [{"repo": str(hook_repo), "rev": rev, "hooks": [{"id": "gemmacode"}]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-q", "-m", "use pre-commit")
    env = framework_env(framework_home, paths_dir)
    subprocess.run(
        [sys.executable, "-m", "pre_commit", "install", "--install-hooks"],
        cwd=repo,
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )
    yield repo


def test_commit_through_the_framework_fails_open_strict_blocks_and_skip_skips(
    framework_repo: Path, framework_home: Path, paths_dir: Path
) -> None:
    repo = framework_repo
    (repo / "app.py").write_text("import os\nos.system(input())\n")
    git(repo, "add", "app.py")
    env = framework_env(framework_home, paths_dir)
    strict = {**env, "GEMMACODE_HOOK_STRICT": "1"}
    code, out = commit(repo, "-m", "strict", env=strict)
    assert code == 1 and "- exit code: 3" in out, out
    code, out = commit(repo, "-m", "skipped", env={**strict, "SKIP": "gemmacode"})
    assert code == 0 and "Skipped" in out, out
    (repo / "app.py").write_text("import os\nos.system(input('again'))\n")
    git(repo, "add", "app.py")
    code, out = commit(repo, "-m", "open", env=env)
    assert code == 0, out
    assert "gemmacode: warning: commit not reviewed: no model server at" in out
    assert head_count(repo) == 4


def test_framework_blocks_on_a_finding_and_reviews_only_the_index_with_unstaged_changes(
    framework_repo: Path, framework_home: Path, paths_dir: Path
) -> None:
    """The framework stashes unstaged changes before the hook runs; the review is the same
    as without it (the index), and the unstaged work is back afterwards."""
    import json

    from tests.fakes.ollama_server import FakeOllama

    repo = framework_repo
    lines = (repo / "app.py").read_text().splitlines()
    lines[4] = "x5 = eval(input())"
    (repo / "app.py").write_text("\n".join(lines) + "\n")
    git(repo, "add", "app.py")
    lines[14] = "x15 = 'unstaged work'"
    (repo / "app.py").write_text("\n".join(lines) + "\n")
    unstaged = (repo / "app.py").read_bytes()
    finding = {"file": "app.py", "line": 5, "severity": "high", "category": "security"}
    answer = json.dumps({"findings": [{**finding, "message": "eval of input"}]})
    with FakeOllama(answer=answer, load_s=0.01) as server:
        env = framework_env(framework_home, paths_dir, OLLAMA_HOST=server.host)
        code, out = commit(repo, "-m", "risky", env=env)
        sent = [m["content"] for b in server.bodies("/api/chat") for m in b["messages"]]
    assert code == 1, out
    assert "app.py:5: high: eval of input" in out and "commit blocked" in out
    assert "x5 = eval(input())" in "\n".join(sent) and "unstaged work" not in "\n".join(sent)
    assert (repo / "app.py").read_bytes() == unstaged
    assert head_count(repo) == 2
