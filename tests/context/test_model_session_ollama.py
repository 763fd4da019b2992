"""ModelSession through the real Ollama backend and client against the wire-format fake.

The fake server reloads on a new num_ctx (reporting ``load_duration``), caches the prompt
prefix, reports ``/api/ps`` and cuts prompts longer than num_ctx silently, like Ollama.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gemmacode.backends.base import Final
from gemmacode.backends.ollama import OllamaBackend
from gemmacode.config import Settings
from gemmacode.context.budget import Part
from gemmacode.context.model_session import PRIMED_FOR_S, ModelSession
from gemmacode.errors import ModelNotFoundError
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.tokens.calibration import CalibrationStore
from tests.fakes.gpu import GIB, MIB, FakeClock, ScriptedSource
from tests.fakes.ollama_server import FakeOllama

CODE = "".join(
    f"def route_{i}(req):\n    return render(req, 'page_{i}.html')\n" for i in range(120)
)


def parts(question: str, code: str = CODE) -> list[Part]:
    return [
        Part("system", "You review code for bugs.", role="system"),
        Part("code", code, shrinkable=True, min_tokens=100),
        Part("question", question),
    ]


async def ask(session: ModelSession, ps: list[Part]) -> Final:
    final = None
    async for event in session.stream(ps, num_predict=64):
        if isinstance(event, Final):
            final = event
    assert final is not None
    return final


def test_adaptive_size_reload_cost_and_prefix_cache(
    ollama_server: FakeOllama, tmp_path: Path
) -> None:
    clock = FakeClock()

    def resident() -> int:  # what the fake server's loaded model occupies on the "GPU"
        return sum(
            m.model.size + m.num_ctx * m.model.kv_bytes_per_token
            for m in ollama_server.loaded.values()
        )

    source = ScriptedSource(
        [(0, 7900 * MIB), (100, 6500 * MIB)], clock, total=8 * GIB, resident=resident
    )
    settings = Settings()
    settings.context.max_ctx = 131072
    settings.backend.model = "gemma4:e4b"
    backend = OllamaBackend(ollama_server.host)
    session = ModelSession(
        backend,
        settings,
        monitor=GpuMonitor(source, clock=clock),
        calibration=CalibrationStore(tmp_path / "c.json"),
        clock=clock,
    )

    async def run() -> list[Final]:
        try:
            finals = [await ask(session, parts("Any bugs?"))]
            clock.advance(20)
            finals.append(await ask(session, parts("And security issues?")))
            clock.advance(100)  # a second program took 1.4 GB meanwhile
            finals.append(await ask(session, parts("Any bugs?")))
            return finals
        finally:
            await backend.aclose()

    first, follow_up, after_drop = asyncio.run(run())
    policy = session.policy
    assert policy is not None and policy.kv_known  # Gemma 4 shape from /api/show
    assert session.info is not None and session.info.size_bytes > 4 * GIB
    big, small = policy.fit(7900 * MIB), policy.fit(6500 * MIB)
    assert big > small
    sent = [body["options"]["num_ctx"] for body in ollama_server.bodies("/api/chat")]
    assert sent == [big, big, small]
    assert [s.num_ctx for s in ollama_server.streams] == sent
    assert first.load_s == pytest.approx(ollama_server.load_s) and follow_up.load_s < 0.01
    assert after_drop.load_s == pytest.approx(ollama_server.load_s)
    assert [c.load_s for c in policy.changes] == [first.load_s, after_drop.load_s]
    # The follow-up reused the cached prefix; its low count did not drag the factor down.
    assert follow_up.prompt_tokens is not None and first.prompt_tokens is not None
    assert follow_up.prompt_tokens < first.prompt_tokens / 5
    first_cal, follow_cal, _ = session.calibrator.results
    assert first_cal.updated and not follow_cal.updated
    assert follow_cal.factor_after == first_cal.factor_after
    assert not any(s.truncated for s in ollama_server.streams)
    assert not (first.truncated or follow_up.truncated or after_drop.truncated)


def test_silent_truncation_is_caught_and_corrected(
    ollama_server: FakeOllama, tmp_path: Path
) -> None:
    store = CalibrationStore(tmp_path / "c.json")
    store.observe("gemma4:e4b", 1000, 500)  # a badly wrong factor: counts half of the truth
    settings = Settings()
    settings.context.num_ctx = 4096
    settings.backend.model = "gemma4:e4b"
    backend = OllamaBackend(ollama_server.host)
    session = ModelSession(backend, settings, calibration=store)
    code = CODE * 5  # ~5,000 tokens: the wrong factor says ~2,500, which seems to fit

    async def run() -> tuple[Final, Final]:
        try:
            return await ask(session, parts("Bugs?", code)), await ask(
                session, parts("Bugs?", code)
            )
        finally:
            await backend.aclose()

    cut, retry = asyncio.run(run())
    assert ollama_server.streams[0].truncated  # the server did cut it
    assert cut.truncated and "cut it silently" in session.notes[0]
    # The factor now covers the bound the cut proved, so the retry is shrunk to fit.
    assert not ollama_server.streams[1].truncated and not retry.truncated
    assert session.last_fit is not None and session.last_fit.shrunk
    assert store.factor("gemma4:e4b") > 0.8


def test_pinned_size_sends_before_describing_the_model(
    ollama_server: FakeOllama, tmp_path: Path
) -> None:
    """With num_ctx pinned the first request goes out before /api/show and /api/tags; the
    model's description arrives before the first Final is handed over, sizes untouched."""
    settings = Settings()
    settings.backend.model = "gemma4:e4b"
    settings.context.num_ctx = 8192
    backend = OllamaBackend(ollama_server.host)
    session = ModelSession(backend, settings, calibration=CalibrationStore(tmp_path / "c.json"))

    async def run() -> tuple[Final, Final]:
        try:
            await session.prepare()
            assert session.info is None and session.num_ctx == 8192
            assert ollama_server.requests == []  # nothing asked of the server yet
            first = await ask(session, parts("Any bugs?"))
            return first, await ask(session, parts("And security issues?"))
        finally:
            await backend.aclose()

    first, second = asyncio.run(run())
    paths = [p for _, p, _ in ollama_server.requests]
    assert paths[0] == "/api/chat"
    assert paths.count("/api/show") == 1 and paths.count("/api/tags") == 1
    assert paths.index("/api/show") < paths.index("/api/chat", 1)  # described once, early
    assert "/api/ps" not in paths  # a pinned size never asks what is loaded
    assert session.info is not None and session.info.size_bytes > 4 * GIB
    policy = session.policy
    assert policy is not None and policy.kv_known  # the described model replaced the name
    assert [c.after for c in policy.changes] == [8192]  # the pinned choice, kept once
    assert first.num_ctx == second.num_ctx == 8192
    assert [b["options"]["num_ctx"] for b in ollama_server.bodies("/api/chat")] == [8192, 8192]


def test_pinned_size_reports_a_missing_model_from_the_request(
    ollama_server: FakeOllama, tmp_path: Path
) -> None:
    """Putting off the description loses no diagnosis: a model that is not installed is the
    same typed error, now raised by the request itself."""
    settings = Settings()
    settings.backend.model = "nosuch:1b"
    settings.context.num_ctx = 4096
    backend = OllamaBackend(ollama_server.host)
    session = ModelSession(backend, settings, calibration=CalibrationStore(tmp_path / "c.json"))

    async def run() -> None:
        try:
            await ask(session, parts("Any bugs?"))
        finally:
            await backend.aclose()

    with pytest.raises(ModelNotFoundError, match="nosuch:1b"):
        asyncio.run(run())
    assert [p for _, p, _ in ollama_server.requests] == ["/api/chat"]


def test_unpinned_first_request_asks_what_is_loaded_once(
    ollama_server: FakeOllama, tmp_path: Path
) -> None:
    """Unpinned, /api/ps is asked alongside the description and that answer sizes the first
    request too; a request prepared longer ago than PRIMED_FOR_S asks the server again."""
    clock = FakeClock()
    source = ScriptedSource([(0, 7900 * MIB)], clock, total=8 * GIB)
    settings = Settings()
    settings.backend.model = "gemma4:e4b"
    backend = OllamaBackend(ollama_server.host)

    def session() -> ModelSession:
        return ModelSession(
            backend,
            settings,
            monitor=GpuMonitor(source, clock=clock),
            calibration=CalibrationStore(tmp_path / "c.json"),
            clock=clock,
        )

    def before_first_chat() -> list[str]:
        paths = [p for _, p, _ in ollama_server.requests]
        ollama_server.requests.clear()
        return sorted(paths[: paths.index("/api/chat")])

    async def run() -> tuple[list[str], list[str]]:
        try:
            quick = session()
            await quick.prepare()
            await ask(quick, parts("Any bugs?"))
            first = before_first_chat()
            slow = session()
            await slow.prepare()
            clock.advance(PRIMED_FOR_S + 0.5)  # e.g. a TUI session idle before its question
            await ask(slow, parts("Any bugs?"))
            return first, before_first_chat()
        finally:
            await backend.aclose()

    quick_paths, slow_paths = asyncio.run(run())
    assert quick_paths == ["/api/ps", "/api/show", "/api/tags"]
    assert slow_paths == ["/api/ps", "/api/ps", "/api/show", "/api/tags"]
