"""ModelSession: prompt layout, never over num_ctx, request options, calibration, reload cost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from gemmacode.backends.base import ChatRequest, Delta, Event, Final
from gemmacode.config import Settings
from gemmacode.context.budget import Part
from gemmacode.context.model_session import ModelSession
from gemmacode.errors import ContextOverflowError
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.tokens.calibration import CalibrationStore
from gemmacode.tokens.encoding import raw_count
from tests.fakes.backend import FakeBackend
from tests.fakes.gpu import E4B, GIB, MIB, FakeClock, ScriptedSource, build_rig

CODE = "".join(f"def handler_{i}(request):\n    return respond(request, {i})\n" for i in range(400))


def parts(question: str = "Is this safe?", code: str = CODE) -> list[Part]:
    return [
        Part("system", "You are a careful code reviewer.", role="system"),
        Part("map", "app/handlers.py: handler_0 .. handler_399", required=False),
        Part("code", code, shrinkable=True, min_tokens=50),
        Part("question", question),
    ]


def pinned(num_ctx: int = 8192, **sampling: object) -> Settings:
    s = Settings()
    s.context.num_ctx = num_ctx
    for key, value in sampling.items():
        setattr(s.sampling, key, value)
    return s


async def collect(session: ModelSession, ps: list[Part], **kw: object) -> list[Event]:
    return [e async for e in session.stream(ps, **kw)]  # type: ignore[arg-type]


def test_layout_is_system_then_parts_in_order_with_settings_applied(tmp_path: Path) -> None:
    backend = FakeBackend(answers=["No issues."])
    settings = pinned(8192, temperature=0.1, top_p=0.8, seed=7)
    settings.backend.model = "gemma4:e4b"
    settings.backend.keep_alive = "10m"
    session = ModelSession(
        backend, settings, calibration=CalibrationStore(tmp_path / "c.json", prior=1.0)
    )
    schema = {"type": "object"}
    events = asyncio.run(collect(session, parts(), json_schema=schema, num_predict=512))
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "No issues."
    final = events[-1]
    assert isinstance(final, Final) and final.num_ctx == 8192
    (request,) = backend.requests
    system, user = request.messages
    assert system.role == "system" and system.content == "You are a careful code reviewer."
    assert user.role == "user"
    assert user.content.index("app/handlers.py") < user.content.index("def handler_0")
    assert user.content.endswith("Is this safe?")
    o = request.options
    assert (o.num_ctx, o.temperature, o.top_p, o.seed, o.num_predict) == (8192, 0.1, 0.8, 7, 512)
    assert request.keep_alive == "10m" and request.think is False
    assert request.json_schema == schema
    assert session.last_fit is not None
    assert request.estimated_prompt_tokens == session.last_fit.total
    assert session.num_ctx == 8192 and session.model_name == "gemma4:e4b"


def test_follow_up_keeps_the_same_prefix(tmp_path: Path) -> None:
    backend = FakeBackend(answers=["a", "b"])
    session = ModelSession(
        backend, pinned(), calibration=CalibrationStore(tmp_path / "c.json", prior=1.0)
    )
    asyncio.run(collect(session, parts("First question?")))
    asyncio.run(collect(session, parts("And the second?")))
    first, second = (r.messages[1].content for r in backend.requests)
    prefix = first[: first.index("First question?")]
    assert second.startswith(prefix) and len(prefix) > len(CODE)


def test_never_sends_more_than_num_ctx(tmp_path: Path) -> None:
    backend = FakeBackend(answers=["ok"])
    session = ModelSession(
        backend, pinned(4096), calibration=CalibrationStore(tmp_path / "c", prior=1.0)
    )
    big = CODE * 3  # ~20K tokens of code into a 4K context
    asyncio.run(collect(session, parts(code=big)))
    assert session.last_fit is not None
    assert ("map", "over budget") in session.last_fit.dropped
    assert session.last_fit.shrunk and session.last_fit.shrunk[0][0] == "code"
    assert backend.max_prompt_seen <= 4096 - session.budget().num_predict
    plan = session.explain(parts(code=big))
    assert plan.total <= session.budget().prompt_tokens


def test_overflow_raises_before_anything_is_sent(tmp_path: Path) -> None:
    backend = FakeBackend(answers=["never"])
    session = ModelSession(
        backend, pinned(2048), calibration=CalibrationStore(tmp_path / "c", prior=1.0)
    )
    huge_question = "why? " * 3000
    with pytest.raises(ContextOverflowError, match="num_ctx 2048"):
        asyncio.run(collect(session, parts(question=huge_question)))
    assert backend.requests == []


@dataclass
class ScaledBackend(FakeBackend):
    """Reports prompt tokens as a tokenizer ``scale`` times tiktoken's would (plus a fresh load
    on the first request), or truncates like Ollama when over num_ctx."""

    scale: float = 1.3
    exact: bool = False
    truncate_to: int = 0

    async def chat(self, request: ChatRequest) -> AsyncIterator[Event]:  # type: ignore[override]
        first = not self.requests
        async for event in super().chat(request):
            if isinstance(event, Final):
                tokens = int((event.prompt_tokens or 0) * self.scale)
                if self.truncate_to:
                    tokens = min(tokens, self.truncate_to)
                event = replace(event, prompt_tokens=tokens, load_s=1.5 if first else 0.0)
            yield event

    def count_tokens(self, model: str, text: str) -> int | None:
        return int(raw_count(text) * self.scale) if self.exact else None


def test_calibration_learns_and_persists_the_factor(tmp_path: Path) -> None:
    store_path = tmp_path / "calibration.json"
    backend = ScaledBackend(answers=lambda r: "ok", scale=1.3)
    session = ModelSession(
        backend, pinned(16384), calibration=CalibrationStore(store_path, prior=1.0)
    )
    for i in range(8):
        asyncio.run(collect(session, parts(f"question {i}?")))
    assert session.counter.factor == pytest.approx(1.3, abs=0.03)
    assert session.last_calibration is not None and session.last_calibration.updated
    again = ModelSession(
        backend, pinned(16384), calibration=CalibrationStore(store_path, prior=1.0)
    )
    assert again.counter.factor == pytest.approx(session.counter.factor)
    # The estimate now includes the factor: the same prompt is counted ~1.3x.
    assert (
        again.explain(parts()).total
        > 1.25
        * ModelSession(
            FakeBackend(),
            pinned(16384),
            calibration=CalibrationStore(tmp_path / "fresh", prior=1.0),
        )
        .explain(parts())
        .total
    )


def test_exact_counts_from_the_backend_tokenizer_calibrate_directly(tmp_path: Path) -> None:
    backend = ScaledBackend(answers=lambda r: "ok", scale=0.8, exact=True)
    session = ModelSession(
        backend, pinned(16384), calibration=CalibrationStore(tmp_path / "c", prior=1.0)
    )
    asyncio.run(collect(session, parts()))
    result = session.last_calibration
    assert result is not None and result.updated
    assert result.actual == sum(
        int(raw_count(m.content) * 0.8) for m in backend.requests[0].messages
    )
    assert session.counter.factor == pytest.approx(0.8, abs=0.01)


def test_silent_truncation_is_flagged_on_the_final(tmp_path: Path) -> None:
    # The server cuts the prompt to 1,500 tokens although ~3,000 were sent in a 4K context.
    backend = ScaledBackend(answers=lambda r: "ok", scale=1.0, truncate_to=1500)
    session = ModelSession(
        backend, pinned(4096), calibration=CalibrationStore(tmp_path / "c", prior=1.0)
    )
    events = asyncio.run(collect(session, parts(code=CODE * 3)))
    final = events[-1]
    assert isinstance(final, Final) and final.truncated
    assert session.notes and "cut the prompt silently" in session.notes[0]
    # The truncated count never calibrates; the factor rises past num_ctx / raw instead.
    assert session.last_calibration is not None
    raw = session.last_calibration.raw
    assert session.counter.factor == pytest.approx(1.02 * 4096 / raw, rel=1e-3)
    # A small prompt evaluated in full is not truncation.
    small = asyncio.run(collect(session, parts(code="x = 1\n")))
    assert isinstance(small[-1], Final) and not small[-1].truncated


def test_cancelling_a_stream_releases_the_session(tmp_path: Path) -> None:
    backend = FakeBackend(answers=["x" * 700], delay_s=0.001)
    session = ModelSession(
        backend, pinned(), calibration=CalibrationStore(tmp_path / "c", prior=1.0)
    )

    async def run() -> int:
        got = 0
        gen = session.stream(parts())
        async for _event in gen:
            got += 1
            if got == 3:
                await gen.aclose()  # type: ignore[attr-defined]
                break
        return got

    assert asyncio.run(run()) == 3
    assert session._inflight == 0
    events = asyncio.run(collect(session, parts()))
    assert isinstance(events[-1], Final)


def test_prepare_describes_the_model_and_reload_cost_is_recorded() -> None:
    settings = Settings()
    settings.context.max_ctx = 131072
    rig = build_rig(
        [(0, 7900 * MIB), (100, 6000 * MIB)], model=E4B, total=8 * GIB, settings=settings
    )
    asyncio.run(rig.session.prepare())
    assert rig.session.info == E4B and rig.session.num_ctx == 131072
    asyncio.run(rig.ask(parts()))
    rig.clock.advance(120)
    asyncio.run(rig.ask(parts()))
    policy = rig.session.policy
    assert policy is not None
    assert [c.after for c in policy.changes] == [131072, 49152]
    assert [c.load_s for c in policy.changes] == [2.5, 2.5]
    assert rig.server.reloads == 1


def test_monitor_listener_feeds_the_hold(tmp_path: Path) -> None:
    clock = FakeClock()
    source = ScriptedSource([(0, 6000 * MIB), (10, 7900 * MIB)], clock, total=8 * GIB)
    monitor = GpuMonitor(source, clock=clock)
    settings = Settings()
    settings.context.max_ctx = 131072
    settings.backend.model = E4B.name
    backend = FakeBackend(answers=lambda r: "ok", models=[E4B])
    session = ModelSession(
        backend,
        settings,
        monitor=monitor,
        calibration=CalibrationStore(tmp_path / "c", prior=1.0),
        clock=clock,
    )
    asyncio.run(session.prepare())
    start = session.num_ctx
    clock.advance(10)
    monitor.sample()  # what the background thread does every second
    clock.advance(200)
    assert session.budget().num_ctx == start  # nothing changes between requests
    asyncio.run(collect(session, parts()))
    assert session.num_ctx > start
    assert session.policy is not None and "headroom held 200s" in session.policy.changes[-1].reason
    asyncio.run(session.aclose())
    monitor.sample()
    assert session.policy._up_since is None


def test_describe_reports_state_for_json_output() -> None:
    settings = Settings()
    settings.context.max_ctx = 131072
    rig = build_rig(
        [(0, 7900 * MIB), (100, 6000 * MIB)], model=E4B, total=8 * GIB, settings=settings
    )
    asyncio.run(rig.ask(parts()))
    rig.clock.advance(120)
    asyncio.run(rig.ask(parts()))
    state = rig.session.describe()
    assert state["model"] == "gemma4:e4b" and state["num_ctx"] == 49152
    assert state["pinned"] is False and state["kv_from_model"] is True
    assert [(c["from"], c["to"]) for c in state["changes"]] == [(0, 131072), (131072, 49152)]
    assert "GPU" in state["memory"] and "free" in state["memory"]


def test_the_prompt_is_counted_while_the_model_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gemmacode.context.model_session as model_session

    counted: list[str] = []

    def recording(text: str) -> int:
        counted.append(text)
        return raw_count(text)

    monkeypatch.setattr(model_session, "raw_count", recording)
    seen_before_final: list[int] = []
    expected = [2]  # counts each request makes: its two messages (and then the shared prefix)

    class SlowBackend(FakeBackend):
        async def chat(self, request: ChatRequest) -> AsyncIterator[Event]:  # type: ignore[override]
            async for event in super().chat(request):
                if isinstance(event, Final):
                    for _ in range(200):  # the model is still "generating"
                        if len(counted) >= expected[0]:
                            break
                        await asyncio.sleep(0.01)
                    seen_before_final.append(len(counted))
                yield event

    backend = SlowBackend(answers=["ok", "ok"])
    store = CalibrationStore(tmp_path / "c.json", prior=1.0)
    session = ModelSession(backend, pinned(16384), calibration=store)
    first = asyncio.run(collect(session, parts("question 1?")))
    # every message was counted before the last token arrived, and calibration used them
    assert seen_before_final == [2]
    assert counted == [m.content for m in backend.requests[0].messages]
    assert isinstance(first[-1], Final) and session.last_calibration is not None
    counted.clear()
    expected[0] = 3
    asyncio.run(collect(session, parts("question 2?")))
    # the follow-up also counts the prefix it shares with the first prompt, as before
    assert len(counted) == 3 and seen_before_final[-1] == 3
    assert "You are a careful code reviewer." in counted[-1] and counted[-1].endswith("question ")
