"""The benchmark corpus: real projects' source, one git commit per release.

No network reaches code hosts here, so the corpus comes from the package registries: the
sdists of a few Django releases (6,800 files, 2,800 of them Python) unpacked into a git
repository, one commit per release, and likewise other projects (:data:`PROJECTS`: a
TypeScript one from npm, a Rust one whose sdist on PyPI carries its crate). The diffs between
commits are the projects' own real changes between releases. Set ``GEMMACODE_BENCH_REPO`` to
benchmark another repository instead of Django.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
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


def _fetch_pypi(package: str, version: str, tmp: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", package]
        + [f"{package}=={version}", "-d", tmp],
        check=True,
    )
    stem = package.replace("-", "_").lower()
    return next(
        p for p in Path(tmp).glob("*.tar.gz") if p.name.lower().startswith(f"{stem}-{version}")
    )


def _fetch_npm(package: str, version: str, tmp: str) -> Path:
    out = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--silent", "--pack-destination", tmp],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(tmp) / out.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class Project:
    """A project whose releases on a registry make the corpus: ``keep`` lists the top-level
    folders (and files) of the unpacked release to commit; the rest (built output) is not
    the project's source."""

    name: str
    registry: str  # pypi or npm
    package: str
    versions: tuple[str, ...]
    keep: tuple[str, ...] = ()


PROJECTS = {
    "django": Project("django", "pypi", "django", VERSIONS),
    "rxjs": Project(
        "rxjs",
        "npm",
        "rxjs",
        ("7.2.0", "7.3.0", "7.4.0", "7.5.0", "7.6.0", "7.8.0"),
        ("src", "package.json"),
    ),
    # Its sdists carry the Rust crate (tokenizers-lib/) and its Python bindings; later
    # releases build with maturin, whose metadata step needs crates.io, so these are the
    # last that download here.
    "tokenizers": Project(
        "tokenizers", "pypi", "tokenizers", ("0.10.3", "0.11.0", "0.11.6", "0.12.0", "0.12.1")
    ),
}


def project_repo(name: str) -> Path:
    """Path of a project's corpus repository (:data:`PROJECTS`), built on first use; tags
    ``v<version>`` name its commits."""
    if name == "django":
        return django_repo()
    project = PROJECTS[name]
    repo = REPOS / name
    if (repo / ".git").is_dir() and (repo / ".bench-complete").exists():
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    fetch = _fetch_npm if project.registry == "npm" else _fetch_pypi
    with tempfile.TemporaryDirectory() as tmp:
        for version in project.versions:
            archive = fetch(project.package, version, tmp)
            for child in repo.iterdir():
                if child.name != ".git":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            unpacked = Path(tmp) / f"unpacked-{version}"
            with tarfile.open(archive) as tar:
                tar.extractall(unpacked, filter="data")
            (src,) = list(unpacked.iterdir())  # package/ or name-version/
            for child in src.iterdir():
                if not project.keep or child.name in project.keep:
                    shutil.move(str(child), repo / child.name)
            shutil.rmtree(unpacked)
            _git(repo, "add", "-A")
            _git(repo, "commit", "-q", "--allow-empty", "-m", f"{name} {version}")
            _git(repo, "tag", f"v{version}")
    (repo / ".git" / "info" / "exclude").write_text(".bench-complete\n")
    (repo / ".bench-complete").write_text("ok\n")
    return repo


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
    for name in sys.argv[1:] or ["django"]:
        print(project_repo(name))
