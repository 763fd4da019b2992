"""Shared fixtures. Every test runs with its own config and cache folders, never the user's."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmacode.backends.base import Delta, Event, Final


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path_factory.mktemp("gemmacode-home")
    monkeypatch.setenv("GEMMACODE_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("GEMMACODE_CACHE_DIR", str(base / "cache"))
    for var in list(os.environ):
        if var.startswith("GEMMACODE_") and var not in (
            "GEMMACODE_CONFIG_DIR",
            "GEMMACODE_CACHE_DIR",
        ):
            monkeypatch.delenv(var)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_SYSTEM": "/dev/null",
    }
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Iterator[Path]:
    """An empty git repository with a committer identity set."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "commit.gpgsign", "false")
    yield root


@pytest.fixture
def ollama_server() -> Iterator[Any]:
    """A running fake Ollama server (tests/fakes/ollama_server.py) with a Gemma-4-E4B-like
    model installed; ``.host`` is its URL. Tune it through its attributes."""
    from tests.fakes.ollama_server import FakeOllama

    with FakeOllama() as server:
        yield server


async def collect(events: AsyncIterator[Event]) -> tuple[list[str], Final]:
    """A backend's stream as (the text deltas, its one Final), checking the contract every
    backend keeps: text first, then exactly one Final, nothing after it."""
    deltas: list[str] = []
    finals: list[Final] = []
    async for ev in events:
        if isinstance(ev, Delta):
            assert not finals, "no Delta may follow the Final"
            deltas.append(ev.text)
        else:
            finals.append(ev)
    assert len(finals) == 1
    return deltas, finals[0]
