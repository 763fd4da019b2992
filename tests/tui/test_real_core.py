"""The UI on the real core session (``gemmacode.session.core.open_session``) with the scripted
model server and GPU of tests/fakes: the status bar is proven against the core's own events,
and a GPU timeline moves the bar and the next request's ``num_ctx``, once, not per sample."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gemmacode.backends.base import ChatRequest
from gemmacode.config import Settings
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.session.core import CoreSession, open_session
from gemmacode.tokens.calibration import CalibrationStore
from gemmacode.tui.app import GemmacodeApp
from gemmacode.tui.widgets.findings import FindingsList
from gemmacode.tui.widgets.prompt import PromptInput
from tests.conftest import git
from tests.fakes.gpu import E2B, GIB, MIB, FakeClock, ScriptedSource, SimulatedServer
from tests.tui.conftest import notices, screen_text, wait_for

pytestmark = pytest.mark.anyio
CODE = "".join(f"def check_{i}(value):\n    return validate(value, limit={i})\n" for i in range(60))
FINDING = {
    "findings": [
        {
            "file": "app.py",
            "line": 2,
            "severity": "medium",
            "category": "bug",
            "message": "limit is never checked",
            "suggestion": "check it",
        }
    ]
}


def answer(request: ChatRequest) -> str:
    if request.json_schema is not None:
        return json.dumps(FINDING)
    return "- `app.py` line 2: **limit** is never checked.\n"


class Rig:
    """E2B on a 4 GB card: 3796 MiB free gives 65536; a browser taking 400 MiB at t=60
    gives 16384 (the arithmetic is in tests/context/test_context_timelines.py)."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.settings = Settings()
        self.settings.backend.model = E2B.name
        self.settings.context.max_ctx = 131072
        assert E2B.kv is not None
        self.server = SimulatedServer(
            answers=answer, models=[E2B], weights=E2B.size_bytes, kv=E2B.kv
        )
        self.source = ScriptedSource(
            [(0, 3796 * MIB), (60, 3396 * MIB)],
            self.clock,
            total=4 * GIB,
            resident=self.server.resident,
        )
        self.server.gpu = self.source
        self.monitor = GpuMonitor(self.source, interval_s=1.0, clock=self.clock)
        self.calibration = CalibrationStore(tmp_path / "calibration.json")
        self.core: CoreSession | None = None

    def opener(
        self, root: Path
    ) -> Callable[[], contextlib.AbstractAsyncContextManager[CoreSession]]:
        @contextlib.asynccontextmanager
        async def open_() -> AsyncIterator[CoreSession]:
            async with open_session(
                self.settings,
                root=root,
                backend=self.server,
                monitor=self.monitor,
                clock=self.clock,
                calibration=self.calibration,
            ) as core:
                self.core = core
                yield core

        return open_

    def sample_on_thread(self) -> None:
        """One reading from a thread of its own, as the monitor's thread takes them."""
        thread = threading.Thread(target=self.monitor.sample)
        thread.start()
        thread.join()


@pytest.fixture
def code_repo(git_repo: Path) -> Path:
    (git_repo / "app.py").write_text(CODE)
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "init")
    return git_repo


def bar(app: GemmacodeApp) -> str:
    return "\n".join(screen_text(app).splitlines()[:2])


async def send(pilot, line: str) -> None:  # type: ignore[no-untyped-def]
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.focus()
    prompt.value = line
    await pilot.press("enter")


async def test_the_bar_shows_the_context_size_before_the_first_request(
    build: Callable[..., GemmacodeApp], code_repo: Path, tmp_path: Path
) -> None:
    """As soon as the server answers, the bar says the size the next request will use
    (the policy's choice on this card), not "ctx auto"; nothing has been loaded for it."""
    rig = Rig(tmp_path)
    app = build(opener=rig.opener(code_repo), settings=rig.settings)
    async with app.run_test(notifications=True, size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "gemma4:e2b" in bar(app))  # check_server answered
        await wait_for(pilot, lambda: "ctx 65536" in bar(app))
        assert "ctx auto" not in bar(app) and "pinned" not in bar(app)
        assert rig.server.requests == [] and rig.server.loads == 0


async def test_gpu_timeline_moves_the_bar_and_the_next_request(
    build: Callable[..., GemmacodeApp], code_repo: Path, tmp_path: Path
) -> None:
    rig = Rig(tmp_path)
    app = build(opener=rig.opener(code_repo), settings=rig.settings)
    async with app.run_test(notifications=True, size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "gemma4:e2b" in bar(app))  # check_server answered
        assert "ollama" in bar(app)
        rig.sample_on_thread()
        await wait_for(pilot, lambda: "GPU " in bar(app))
        await wait_for(pilot, lambda: "files" in bar(app) and "symbols" in bar(app))

        await send(pilot, "/review app.py")
        await wait_for(pilot, lambda: "limit is never checked" in screen_text(app), 20)
        await wait_for(pilot, lambda: rig.core is not None and not rig.core._busy)
        await pilot.pause(0.1)
        assert "ctx 65536" in bar(app)
        assert "last reload 0→65536: 2.5 s" in bar(app)
        assert "fill " in bar(app)
        assert [r.options.num_ctx for r in rig.server.requests] == [65536, 65536]
        assert app.screen.query_one(FindingsList).findings[0].line == 2

        # a browser opens: the bar says what the next request will use, and why, unasked
        rig.clock.advance(60)
        rig.sample_on_thread()
        await wait_for(pilot, lambda: "next request 16384" in bar(app))
        assert "MiB available" in bar(app)
        pending_events = 0

        def count(event: object) -> None:
            nonlocal pending_events
            pending_events += type(event).__name__ == "ContextPending"

        assert rig.core is not None
        unsubscribe = rig.core.subscribe(count)
        for _ in range(5):  # more samples at the same memory: no new decision
            rig.clock.advance(1)
            rig.sample_on_thread()
        unsubscribe()
        assert pending_events == 0
        assert len(rig.server.requests) == 2  # nothing was sent by the samples

        await send(pilot, "does check_3 validate?")
        await wait_for(pilot, lambda: len(rig.server.requests) == 3, 20)
        await wait_for(pilot, lambda: "last reload 65536→16384: 2.5 s" in bar(app))
        assert rig.server.requests[-1].options.num_ctx == 16384
        assert "ctx 16384" in bar(app) and "next request" not in bar(app)
        assert rig.server.reloads == 1


async def test_pinning_through_the_ui_reaches_the_server(
    build: Callable[..., GemmacodeApp], code_repo: Path, tmp_path: Path
) -> None:
    rig = Rig(tmp_path)
    app = build(opener=rig.opener(code_repo), settings=rig.settings)
    async with app.run_test(notifications=True, size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "gemma4:e2b" in bar(app))
        await send(pilot, "first question")
        await wait_for(pilot, lambda: len(rig.server.requests) == 1, 20)
        await wait_for(pilot, lambda: rig.core is not None and not rig.core._busy)
        await pilot.pause(0.1)
        await send(pilot, "/ctx 8192")
        await wait_for(pilot, lambda: "pinned" in notices(app))
        await send(pilot, "second question")
        await wait_for(pilot, lambda: len(rig.server.requests) == 2, 20)
        assert rig.server.requests[-1].options.num_ctx == 8192
        await wait_for(pilot, lambda: "ctx 8192 pinned" in bar(app))
        # the follow-up carried the first exchange
        contents = " ".join(m.content for m in rig.server.requests[-1].messages)
        assert "first question" in contents


async def test_no_server_is_said_with_the_fix(
    build: Callable[..., GemmacodeApp], repo: Path
) -> None:
    """The real Ollama backend with nothing listening: the UI opens, says so, keeps asking."""
    settings = Settings()
    settings.backend.host = "http://127.0.0.1:9"  # the discard port: nothing listens

    @contextlib.asynccontextmanager
    async def open_() -> AsyncIterator[CoreSession]:
        async with open_session(settings, root=repo) as core:
            yield core

    app = build(opener=open_, settings=settings, retry_s=(0.05, 0.1))
    async with app.run_test(notifications=True, size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "not reachable" in bar(app), 10)
        await wait_for(pilot, lambda: "ollama serve" in notices(app), 10)
        # the UI is usable meanwhile (the tree is listed after the first paint, on a thread)
        await wait_for(pilot, lambda: "files (2)" in screen_text(app), 10)


async def test_missing_model_is_said_and_found_once_pulled(
    build: Callable[..., GemmacodeApp], repo: Path
) -> None:
    """The wire-format fake Ollama without the model, then with it: the notice names the
    fix, and the background check finds the model without a keypress."""
    from tests.fakes.ollama_server import FakeOllama, gemma4_e4b

    settings = Settings()
    with FakeOllama(installed=[]) as server:
        settings.backend.host = server.host

        @contextlib.asynccontextmanager
        async def open_() -> AsyncIterator[CoreSession]:
            async with open_session(settings, root=repo) as core:
                yield core

        app = build(opener=open_, settings=settings, retry_s=(0.05, 0.1))
        async with app.run_test(notifications=True, size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: "gemma4:e4b: not installed" in bar(app), 10)
            await wait_for(pilot, lambda: "models pull gemma4:e4b" in notices(app))
            server.installed["gemma4:e4b"] = gemma4_e4b()  # `ollama pull` in another shell
            await wait_for(pilot, lambda: "not installed" not in bar(app), 10)
            assert "gemma4:e4b" in bar(app)


async def test_escape_cancels_a_real_answer_and_the_next_request_works(
    build: Callable[..., GemmacodeApp], code_repo: Path, tmp_path: Path
) -> None:
    from tests.tui.test_actions import turns

    rig = Rig(tmp_path)
    long = "The answer goes on. " * 300
    rig.server.answers = lambda request: long if len(rig.server.requests) == 1 else "Short."
    rig.server.delay_s = 0.005
    app = build(opener=rig.opener(code_repo), settings=rig.settings)
    async with app.run_test(notifications=True, size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "gemma4:e2b" in bar(app))
        await send(pilot, "what does check_1 do?")
        await wait_for(pilot, lambda: bool(turns(app)) and "goes on" in turns(app)[0].text, 20)
        await pilot.press("escape")
        await wait_for(pilot, lambda: "incomplete: cancelled" in screen_text(app), 20)
        kept = turns(app)[0].text
        assert kept.startswith("The answer goes on.") and len(kept) < len(long)
        await wait_for(pilot, lambda: rig.core is not None and not rig.core._busy)
        await send(pilot, "and check_2?")
        await wait_for(pilot, lambda: len(turns(app)) == 2 and turns(app)[1].text == "Short.", 20)
        assert len(rig.server.requests) == 2
        # the cancelled answer is not sent back as history: it was incomplete
        contents = " ".join(m.content for m in rig.server.requests[-1].messages)
        assert "goes on" not in contents
