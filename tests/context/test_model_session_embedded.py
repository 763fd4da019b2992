"""ModelSession end to end on the real embedded engine with Gemma 3 270M (Gemma's tokenizer).

Proves the wiring against a real backend: the fixed CPU size (no GPU here), exact token
counts from the model's own tokenizer driving calibration, prefix reuse on a follow-up, and
the policy fed by the real system-RAM reading.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gemmacode.backends.base import Final
from gemmacode.config import Settings
from gemmacode.context.budget import Part
from gemmacode.context.model_session import ModelSession
from gemmacode.gpu.monitor import monitor_for
from gemmacode.tokens.calibration import CalibrationStore
from gemmacode.tokens.encoding import raw_count

pytest.importorskip("llama_cpp")

CODE = "".join(
    f"def parse_{i}(line: str) -> list[str]:\n    return [x.strip() for x in line.split(',')]\n"
    for i in range(6)
)


def parts(question: str) -> list[Part]:
    return [
        Part("system", "You are a code reviewer.", role="system"),
        Part("code", CODE, shrinkable=True),
        Part("question", question),
    ]


@pytest.mark.slow
def test_session_on_gemma3_270m(tmp_path: Path) -> None:
    from gemmacode.backends.embedded import EmbeddedBackend

    settings = Settings()
    settings.backend.kind = "embedded"
    settings.backend.model = "gemma3-270m"
    settings.context.max_ctx = 2048
    backend = EmbeddedBackend()
    monitor = monitor_for(settings)
    store = CalibrationStore(tmp_path / "calibration.json")
    session = ModelSession(backend, settings, monitor=monitor, calibration=store)

    async def ask(question: str) -> Final:
        final = None
        async for event in session.stream(parts(question), num_predict=8):
            if isinstance(event, Final):
                final = event
        assert final is not None
        return final

    async def run() -> tuple[Final, Final]:
        try:
            return await ask("Is this correct?"), await ask("Any edge cases?")
        finally:
            await session.aclose()
            await backend.aclose()
            monitor.close()

    first, second = asyncio.run(run())
    state = session.describe()
    assert state["num_ctx"] == 2048 and state["kv_from_model"] is True
    assert "fixed size" in state["changes"][0]["reason"]
    assert "embedded engine runs on the CPU" in state["changes"][0]["reason"]
    assert first.num_ctx == second.num_ctx == 2048 and not first.truncated
    # Calibration follows Gemma's own tokenizer exactly.
    request = session.last_request
    assert request is not None
    exact = sum(backend.count_tokens("gemma3-270m", m.content) or 0 for m in request.messages)
    raw = sum(raw_count(m.content) for m in request.messages)
    result = session.last_calibration
    assert result is not None and result.updated and result.actual == exact
    assert store.samples("gemma3-270m") == 2
    assert session.counter.factor == pytest.approx(store.factor("gemma3-270m"))
    assert abs(session.counter.factor - exact / raw) < 0.1
    # The follow-up shares the prefix: most of its prompt came from the cache.
    assert second.cached_tokens is not None and second.prompt_tokens is not None
    assert second.cached_tokens > 4 * second.prompt_tokens
    assert first.load_s > 0 and second.load_s == 0
    policy = session.policy
    assert policy is not None and policy.changes[0].load_s == first.load_s
