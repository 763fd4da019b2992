"""The app on fakes: a scripted core (tests/fakes/core.py), a small git repository, a copy
function that records what it was given, at a fixed terminal size with the cursor frozen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gemmacode.config import Settings
from gemmacode.tui.app import GemmacodeApp, make_app
from gemmacode.tui.clipboard import CopyResult, osc52
from gemmacode.tui.repo_status import GitCliStatus
from tests.conftest import git
from tests.fakes.core import FakeCore, healthy_status, make_core, opener

APP_PY = '''"""A tiny app."""


def add(a, b):
    return a + b


def div(a, b):
    return a / b
'''


@pytest.fixture
def anyio_backend() -> str:
    """Async tests here run on asyncio (anyio's pytest plugin, installed with httpx)."""
    return "asyncio"


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / "src").mkdir()
    (git_repo / "src" / "app.py").write_text(APP_PY)
    (git_repo / "README.md").write_text("# demo\n")
    (git_repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "init")
    (git_repo / "src" / "app.py").write_text(APP_PY + "\n\ndef mul(a, b):\n    return a * b\n")
    (git_repo / "README.md").write_text("# demo\n\nstaged\n")
    git(git_repo, "add", "README.md")
    return git_repo


@dataclass
class Copies:
    texts: list[str] = field(default_factory=list)
    osc52: list[str] = field(default_factory=list)

    def __call__(self, text: str, write: Callable[[str], object]) -> CopyResult:
        self.texts.append(text)
        write(osc52(text))  # through the app's terminal writer, as the real one does
        self.osc52.append(text)
        return CopyResult("osc52", None, "sent to the terminal clipboard (OSC 52)")


@pytest.fixture
def core(repo: Path) -> FakeCore:
    return make_core(repo, initial=healthy_status())


@pytest.fixture
def copies() -> Copies:
    return Copies()


@pytest.fixture
def build(repo: Path, core: FakeCore, copies: Copies) -> Callable[..., GemmacodeApp]:
    """``build(**overrides)``: the app on the fake core (override opener, settings, ...)."""

    def make(**kwargs: Any) -> GemmacodeApp:
        settings = kwargs.pop("settings", None) or Settings()
        kwargs.setdefault("opener", opener(core))
        kwargs.setdefault("copy", copies)
        kwargs.setdefault("repo_status", GitCliStatus(repo, settings))
        return make_app(repo, settings, **kwargs)

    return make


def screen_text(app: GemmacodeApp) -> str:
    """What the terminal shows now, as plain text (no colours)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=None,
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until ``condition()`` holds (workers and messages need a few turns)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


def notices(app: GemmacodeApp) -> str:
    """The messages of the notifications on screen now, one a line."""
    return "\n".join(str(n.message) for n in app._notifications)
