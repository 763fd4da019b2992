"""The status bar against the core's status events: from the GPU monitor's thread, without a
keypress; server problems as a notice with the fix; the session retried in the background."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gemmacode.errors import ServerUnreachableError
from gemmacode.session.events import (
    Answering,
    ContextApplied,
    ContextPending,
    GpuSample,
    ModelSpilled,
    PromptCut,
    Reloading,
    RequestStats,
    ServerState,
    Status,
)
from gemmacode.tui.app import GemmacodeApp
from tests.fakes.core import FakeCore, failing_opener, healthy_status, make_core, opener
from tests.tui.conftest import notices, screen_text, wait_for

pytestmark = pytest.mark.anyio
GIB = 1024**3


def status_lines(app: GemmacodeApp) -> str:
    return "\n".join(screen_text(app).splitlines()[:2])


async def test_status_bar_follows_events_from_another_thread(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(140, 30)) as pilot:
        await wait_for(pilot, lambda: core.subscribers == 1)
        assert "ollama 127.0.0.1:11434 │ gemma4:e4b │ ctx 8192" in status_lines(app)
        assert "GPU 3.0/8.0 GiB" in status_lines(app)
        core.emit_from_thread(
            [
                GpuSample("gpu", used=int(6.1 * GIB), total=8 * GIB),
                ContextPending(8192, 4096, "free VRAM fell to 1.9 GiB"),
            ]
        )
        await wait_for(pilot, lambda: "next request 4096" in status_lines(app))
        line = status_lines(app)
        assert "GPU 6.1/8.0 GiB" in line
        assert "next request 4096: free VRAM fell to 1.9 GiB" in line
        core.emit_from_thread([Reloading("gemma4:e4b", 4096)])
        await wait_for(pilot, lambda: "reloading gemma4:e4b at 4096" in status_lines(app))
        core.emit_from_thread([Answering("gemma4:e4b", 4096)])  # first token: loaded
        await wait_for(pilot, lambda: "reloading" not in status_lines(app))
        core.emit_from_thread(
            [
                ContextApplied(8192, 4096, "free VRAM fell", 2.5),
                RequestStats("gemma4:e4b", 4096, 3000, 2900, 3500, 200, 41.7, 2.5, "stop"),
            ]
        )
        await wait_for(pilot, lambda: "41.7 tok/s" in status_lines(app))
        line = status_lines(app)
        assert "ctx 4096" in line and "next request" not in line
        assert "last reload 8192→4096: 2.5 s" in line
        assert "fill 3000/3500 (86%)" in line


async def test_warnings_for_a_cut_prompt_and_a_spilled_model(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(160, 30)) as pilot:
        await wait_for(pilot, lambda: core.subscribers == 1)
        core.emit_from_thread([PromptCut(5000, 4096, "raise num_ctx or shorten the target")])
        await wait_for(pilot, lambda: "⚠ prompt cut" in status_lines(app))
        assert "~5000 sent, 4096 read" in status_lines(app)
        assert "The server cut the prompt" in notices(app)
        core.emit_from_thread([ModelSpilled("gemma4:e4b", 3 * GIB, int(4.5 * GIB))])
        await wait_for(pilot, lambda: "spilled to CPU" in status_lines(app))
        assert "3.0 of 4.5 GiB in VRAM" in status_lines(app)
        assert "spilled to the CPU" in notices(app)


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (GpuSample("cpu", used=6 * GIB, total=24 * GIB, note="no NVIDIA driver"),
         "CPU only (no NVIDIA driver)"),
        (GpuSample("remote", vram=5_100_000_000, note="remote host"),
         "remote: 5.1 GB in VRAM (from /api/ps)"),
        (GpuSample("none", note="GPU reading failed"), "memory: unknown (GPU reading failed)"),
    ],
)  # fmt: skip
async def test_memory_kinds(
    build: Callable[..., GemmacodeApp], core: FakeCore, sample: GpuSample, expected: str
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(140, 30)) as pilot:
        await wait_for(pilot, lambda: core.subscribers == 1)
        core.emit(sample)
        await wait_for(pilot, lambda: expected in status_lines(app))


async def test_no_server_opens_anyway_says_so_and_retries(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    attempts: list[int] = []
    server_up = False
    down = failing_opener(
        ServerUnreachableError(
            "no Ollama server at http://127.0.0.1:11434", "start it with `ollama serve`"
        )
    )
    up = opener(core)

    def flaky():  # type: ignore[no-untyped-def]
        attempts.append(1)
        return up() if server_up else down()

    app = build(opener=flaky, retry_s=(0.05, 0.1))
    async with app.run_test(notifications=True, size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "no Ollama server" in notices(app))
        assert "start it with `ollama serve`" in notices(app)
        assert "no model session" in status_lines(app)
        assert "files" in screen_text(app)  # the UI is there and usable
        await wait_for(pilot, lambda: len(attempts) >= 3)  # retried in the background
        server_up = True
        await wait_for(pilot, lambda: core.subscribers == 1)
        await wait_for(pilot, lambda: "no model session" not in status_lines(app))


async def test_server_state_problems_become_a_notice_with_the_fix(
    build: Callable[..., GemmacodeApp], repo: object
) -> None:
    status = Status(
        server=ServerState(
            "ollama",
            "127.0.0.1:11434",
            "gemma4:e4b",
            True,
            False,
            "model gemma4:e4b is not installed",
            "run: ollama pull gemma4:e4b",
        )
    )
    core = make_core(repo, initial=status)  # type: ignore[arg-type]
    app = build(opener=opener(core))
    async with app.run_test(notifications=True, size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "ollama pull gemma4:e4b" in notices(app))
        assert "gemma4:e4b: not installed" in status_lines(app)
        core.emit(ServerState("ollama", "127.0.0.1:11434", "gemma4:e4b", False, None, "", "x"))
        await wait_for(pilot, lambda: "not reachable" in status_lines(app))


async def test_compact_status_line_on_a_small_terminal(
    build: Callable[..., GemmacodeApp], core: FakeCore
) -> None:
    app = build()
    async with app.run_test(notifications=True, size=(60, 20)) as pilot:
        await wait_for(pilot, lambda: core.subscribers == 1)
        core.emit(ContextPending(8192, 4096, "free VRAM fell to 1.9 GiB"))
        await wait_for(pilot, lambda: "→4096" in screen_text(app).splitlines()[0])
        lines = screen_text(app).splitlines()
        assert lines[0].startswith(" gemma4:e4b │ GPU 3.0/8.0")
        assert "gemma4" not in lines[1]  # one status line; the second row is the body


def test_healthy_status_fixture_is_what_the_bar_starts_from() -> None:
    status = healthy_status()
    assert status.memory is not None and status.memory.used == 3 * GIB
    assert status.memory_history == (3 * GIB,)
