"""Snapshots of the main states (see tests/tui/snapshots.py for how they are compared)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gemmacode.errors import ServerUnreachableError
from gemmacode.review.findings.model import Finding
from gemmacode.session.events import GpuSample, ServerState, Status
from gemmacode.tui.app import GemmacodeApp
from gemmacode.tui.widgets.prompt import PromptInput
from gemmacode.tui.widgets.repo_tree import RepoTree
from gemmacode.tui.widgets.status_bar import StatusBar
from tests.fakes.core import FakeCore, ScriptedTask, failing_opener, make_core, opener
from tests.tui.conftest import notices, wait_for
from tests.tui.snapshots import compare

pytestmark = pytest.mark.anyio
GIB = 1024**3
PROSE = """## Division by zero

`div` divides by `b` without checking it:

```python
def div(a, b):
    return a / b
```

Check `b` first, or document that callers must.
"""
FINDINGS = (
    Finding("src/app.py", 9, 9, "high", "bug", "division by zero when b is 0", "check b"),
    Finding("src/app.py", 4, 4, "low", "style", "add has no type hints", "annotate a, b"),
)


async def _ready(pilot: Any, core: FakeCore) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: core.subscribers == 1)
    await wait_for(pilot, lambda: len(app.screen.query_one(RepoTree).snapshot.files) > 0)
    await wait_for(pilot, lambda: bool(app.screen.query_one(StatusBar).index_summary))


async def _send(pilot: Any, line: str) -> None:
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.value = line
    await pilot.press("enter")


async def test_main_80x24(build: Callable[..., GemmacodeApp], core: FakeCore) -> None:
    async def idle(pilot: Any) -> None:
        await _ready(pilot, core)

    await compare("main_80x24", build(), idle, (80, 24))


async def test_small_60x20(build: Callable[..., GemmacodeApp], core: FakeCore) -> None:
    async def idle(pilot: Any) -> None:
        await _ready(pilot, core)

    await compare("small_60x20", build(), idle, (60, 20))


async def test_indexing(build: Callable[..., GemmacodeApp], core: FakeCore) -> None:
    gate = threading.Event()
    core.workspace.gate = gate

    async def indexing(pilot: Any) -> None:
        await wait_for(
            pilot, lambda: "indexing 25/100" in str(pilot.app.screen.query_one("#status").render())
        )

    try:
        await compare("indexing", build(), indexing, (100, 30))
    finally:
        gate.set()


async def test_streaming(build: Callable[..., GemmacodeApp], core: FakeCore) -> None:
    task = ScriptedTask("src/app.py", prose=PROSE, hold_at=120, piece=8)
    core.script = lambda label, spec: task

    async def streaming(pilot: Any) -> None:
        await _ready(pilot, core)
        await _send(pilot, "/review src/app.py")
        await wait_for(pilot, lambda: task.streamed and "return a / b" in _text(pilot))

    await compare("streaming", build(), streaming, (100, 30))
    task.release.set()


def _text(pilot: Any) -> str:
    from tests.tui.conftest import screen_text

    return screen_text(pilot.app)


@pytest.mark.parametrize(
    ("name", "size"), [("findings", (120, 36)), ("findings_wide", (180, 30))]
)  # wide: the list beside the prose
async def test_findings_list(
    build: Callable[..., GemmacodeApp], core: FakeCore, name: str, size: tuple[int, int]
) -> None:
    core.script = lambda label, spec: ScriptedTask(label, prose=PROSE, findings=FINDINGS)

    async def findings(pilot: Any) -> None:
        await _ready(pilot, core)
        await _send(pilot, "/review src/app.py")
        await wait_for(pilot, lambda: "findings (2)" in _text(pilot))

    await compare(name, build(), findings, size)


async def test_error_notice(build: Callable[..., GemmacodeApp], repo: Path) -> None:
    down = failing_opener(
        ServerUnreachableError(
            "no Ollama server at http://127.0.0.1:11434",
            "start it with `ollama serve`, or set backend.host",
        )
    )

    async def error(pilot: Any) -> None:
        await wait_for(pilot, lambda: "no Ollama server" in notices(pilot.app))
        await wait_for(pilot, lambda: len(pilot.app.screen.query_one(RepoTree).snapshot.files) > 0)

    await compare("error_notice", build(opener=down, retry_s=(60.0, 60.0)), error, (100, 30))


async def test_no_gpu(build: Callable[..., GemmacodeApp], repo: Path) -> None:
    status = Status(
        server=ServerState("ollama", "127.0.0.1:11434", "gemma4:e4b", True, True),
        memory=GpuSample("cpu", used=9 * GIB, total=24 * GIB, note="no NVIDIA driver"),
    )
    core = make_core(repo, initial=status)

    async def no_gpu(pilot: Any) -> None:
        await _ready(pilot, core)

    await compare("no_gpu", build(opener=opener(core)), no_gpu, (100, 30))


async def test_remote_host(build: Callable[..., GemmacodeApp], repo: Path) -> None:
    status = Status(
        server=ServerState("ollama", "gpu-box:11434", "gemma4:e4b", True, True),
        memory=GpuSample("remote", vram=5_100_000_000, note="remote host"),
    )
    core = make_core(repo, initial=status)

    async def remote(pilot: Any) -> None:
        await _ready(pilot, core)

    await compare("remote_host", build(opener=opener(core)), remote, (100, 30))
