"""The benchmark corpus: Django's real source, one git commit per release.

No network reaches code hosts here, so the corpus comes from PyPI: the sdists of a few Django
releases (6,800 files, 2,800 of them Python) unpacked into a git repository, one commit per
release. The diffs between commits are the project's own real changes between releases.
Set ``GEMMACODE_BENCH_REPO`` to benchmark another repository instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOS = HERE / "_repos"
VERSIONS = ("5.0.9", "5.1", "5.1.3")


def _git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "b@example.com",
    }
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, env=env)


def django_repo() -> Path:
    """Path of the corpus repository, built on first use (about a minute)."""
    override = os.environ.get("GEMMACODE_BENCH_REPO")
    if override:
        return Path(override)
    repo = REPOS / "django"
    if (repo / ".git").is_dir() and (repo / ".bench-complete").exists():
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    with tempfile.TemporaryDirectory() as tmp:
        for version in VERSIONS:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    f"django=={version}",
                    "-d",
                    tmp,
                ],
                check=True,
            )
            sdist = next(Path(tmp).glob(f"[Dd]jango-{version}.tar.gz"))
            for child in repo.iterdir():
                if child.name != ".git":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            with tarfile.open(sdist) as tar:
                tar.extractall(tmp, filter="data")
            src = Path(tmp) / sdist.name.removesuffix(".tar.gz")
            for child in src.iterdir():
                shutil.move(str(child), repo / child.name)
            shutil.rmtree(src)
            _git(repo, "add", "-A")
            _git(repo, "commit", "-q", "-m", f"Django {version}")
            _git(repo, "tag", f"v{version}")
    (repo / ".git" / "info" / "exclude").write_text(".bench-complete\n")
    (repo / ".bench-complete").write_text("ok\n")
    return repo


if __name__ == "__main__":
    print(django_repo())
