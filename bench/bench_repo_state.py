"""What the terminal UI's git queries cost: plain git against GitPython, in the same run.

On two repositories: the Django corpus (``bench/corpus.py``, 6,800 files) and a synthetic
one of 50,000 files (built once under ``bench/_repos/``), each with some staged, changed and
untracked files. Printed per query, medians over rounds and the ratio GitPython / plain:

- status: ``git status --porcelain=v2 -z --branch`` (one process; what ``RepoState.status``
  runs) against GitPython's ``head.commit.diff()`` + ``index.diff(None)`` + ``untracked_files``
  on a fresh ``Repo``;
- refs, the 20 newest commits and checking one revision: ``RepoState`` (a GitPython ``Repo``
  held open, as the UI holds it) against one plain git process each (``for-each-ref``,
  ``log -z``, ``rev-parse --verify``);
- importing GitPython, once, in a fresh interpreter.

    python bench/bench_repo_state.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import REPOS, _git, django_repo  # noqa: E402
from gemmacode.session.repo_state import RepoState  # noqa: E402

ENV = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


def synthetic_repo(files: int = 50_000) -> Path:
    """A repository of ``files`` small files in 500 folders, committed once."""
    repo = REPOS / f"synthetic-{files // 1000}k"
    if (repo / ".bench-complete").exists():
        return repo
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    for i in range(files):
        folder = repo / f"pkg{i % 500:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "synthetic")
    (repo / ".git" / "info" / "exclude").write_text(".bench-complete\n")
    (repo / ".bench-complete").write_text("ok\n")
    return repo


def dirty(repo: Path) -> None:
    """Some of each kind of change (idempotent)."""
    tracked = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "*.py"], capture_output=True, env=ENV
    ).stdout.split(b"\0")[:300]
    for n, raw in enumerate(tracked):
        path = repo / os.fsdecode(raw)
        if not path.is_file():
            continue
        if not path.read_text().endswith("# bench\n"):
            path.write_text(path.read_text() + "# bench\n")
        if n % 2:
            _git(repo, "add", str(path))
    (repo / "bench_untracked").mkdir(exist_ok=True)
    for i in range(100):
        (repo / "bench_untracked" / f"u{i}.py").write_text("u")
        (repo / f"bench_u{i}.txt").write_text("u")


def median_ms(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        action()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def plain(repo: Path, *args: str) -> Callable[[], bytes]:
    return lambda: (
        subprocess.run(["git", "-C", str(repo), *args], capture_output=True, env=ENV).stdout
    )


def gitpython_status(repo: Path) -> Callable[[], object]:
    import git

    def run() -> object:
        with git.Repo(repo) as r:
            staged = [d.b_path for d in r.head.commit.diff()]
            changed = [d.a_path for d in r.index.diff(None)]
            return staged, changed, r.untracked_files

    return run


def row(name: str, gp: float, pl: float) -> None:
    print(f"  {name:<28} gitpython {gp:8.2f} ms   plain git {pl:8.2f} ms   ratio {gp / pl:5.2f}")


def bench(repo: Path, rounds: int) -> None:
    files = len(plain(repo, "ls-files", "-z")().split(b"\0")) - 1
    print(f"{repo.name}: {files} tracked files")
    row(
        "status",
        median_ms(gitpython_status(repo), rounds),
        median_ms(plain(repo, "status", "--porcelain=v2", "-z", "--branch"), rounds),
    )
    with RepoState(repo) as state:
        state.commits(1)  # the cat-file child is started once per session
        row(
            "refs (branches, tags)",
            median_ms(state.branches, rounds * 4),
            median_ms(plain(repo, "for-each-ref", "--format=%(refname)%00%(objectname)"), rounds),
        )
        row(
            "20 newest commits",
            median_ms(lambda: state.commits(20), rounds * 4),
            median_ms(plain(repo, "log", "-z", "-n20", "--format=%H%x00%ct%x00%an%x00%s"), rounds),
        )
        row(
            "check one revision",
            median_ms(lambda: state.verify("HEAD~1") or state.verify("HEAD"), rounds * 4),
            median_ms(plain(repo, "rev-parse", "--verify", "-q", "HEAD~1^{commit}"), rounds),
        )
        st = state.status()
        print(
            f"  (status: {len(st.staged)} staged, {len(st.changed)} changed, "
            f"{len(st.untracked)} untracked)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    cold = (
        subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import git"], capture_output=True, text=True
        )
        .stderr.strip()
        .splitlines()[-1]
    )
    print(f"import git (fresh interpreter): {int(cold.split('|')[1]) / 1000:.0f} ms")
    for repo in (django_repo(), synthetic_repo()):
        dirty(repo)
        bench(repo, rounds)


if __name__ == "__main__":
    main()
