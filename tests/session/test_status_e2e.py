"""Status events end to end: a core session opened with ``open_session`` against the
wire-format fake Ollama server (tests/fakes/ollama_server.py), on a scripted GPU. The status
board's own unit tests (test_status_board.py) feed it records; here the server's answers
make them: the first load, a prompt the server cut, a model spilled to the CPU."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gemmacode.config import Settings, load_settings
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.session.api import ReviewSpec
from gemmacode.session.core import open_session
from gemmacode.session.events import (
    Answering,
    ContextApplied,
    ContextSize,
    Finished,
    GpuSample,
    ModelSpilled,
    PromptCut,
    Reloading,
    RequestStats,
    ServerState,
    StatusEvent,
    TaskEvent,
)
from gemmacode.tokens.calibration import CalibrationStore
from tests.conftest import git
from tests.fakes.gpu import GIB, FakeClock, ScriptedSource
from tests.fakes.ollama_server import FakeOllama, TiktokenEngine

FINDINGS = '{"findings": []}'
CODE = "".join(
    f"def check_{i}(value, limit={i}):\n    return validate(value, limit) or fallback_{i}(value)\n"
    for i in range(400)
)


def _settings(server: FakeOllama, **extra: Any) -> Settings:
    return load_settings(None, {}, {"backend.host": server.host, **extra})


def _repo(git_repo: Path, code: str = "def total(items):\n    return sum(items)\n") -> Path:
    (git_repo / "app.py").write_text(code)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "base")
    return git_repo


def _review(
    repo: Path, tmp_path: Path, settings: Settings, *, reviews: int = 1
) -> tuple[list[StatusEvent], list[list[TaskEvent]]]:
    """Reviews of app.py (findings pass only) through one core session on a card with 8 GiB
    free: every status event and each review's task events."""
    clock = FakeClock()
    monitor = GpuMonitor(ScriptedSource([(0, 8 * GIB)], clock, total=12 * GIB), clock=clock)
    seen: list[StatusEvent] = []
    tasks: list[list[TaskEvent]] = []

    async def main() -> None:
        async with open_session(
            settings,
            root=repo,
            monitor=monitor,
            clock=clock,
            calibration=CalibrationStore(tmp_path / "calibration.json"),
        ) as core:
            core.subscribe(seen.append)
            for _ in range(reviews):
                task = core.review(ReviewSpec("path", "app.py", prose=False))
                tasks.append([event async for event in task])
                clock.advance(5)

    asyncio.run(main())
    for events in tasks:
        done = events[-1]
        assert isinstance(done, Finished) and done.outcome == "done", done
    return seen, tasks


def _story(seen: list[StatusEvent]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for e in seen:
        if isinstance(e, ContextSize):
            out.append(("size", e.num_ctx))
        elif isinstance(e, Reloading):
            out.append(("reloading", e.num_ctx))
        elif isinstance(e, Answering):
            out.append(("answering", e.num_ctx))
        elif isinstance(e, ContextApplied):
            out.append(("applied", e.before, e.after))
        elif isinstance(e, RequestStats):
            out.append(("request", e.num_ctx))
        elif not isinstance(e, GpuSample | ServerState):
            out.append((type(e).__name__,))
    return out


def test_the_first_load_is_announced_unless_the_server_holds_the_model(
    git_repo: Path, tmp_path: Path
) -> None:
    repo = _repo(git_repo)
    with FakeOllama(answer=FINDINGS, load_s=3.0) as server:
        first, _ = _review(repo, tmp_path, _settings(server))
        again, _ = _review(repo, tmp_path, _settings(server))  # a new session, model resident
        (loaded,) = server.loaded.values()
    size = loaded.num_ctx
    assert _story(first) == [
        ("size", size),
        ("reloading", size),  # /api/ps: nothing loaded, so the request loads the model
        ("answering", size),  # the first token: the load is over, the bar says so at once
        ("applied", 0, size),
        ("request", size),
    ]
    applied = next(e for e in first if isinstance(e, ContextApplied))
    assert applied.load_s == 3.0  # what the server reported for the load
    reloading = next(e for e in first if isinstance(e, Reloading))
    assert reloading.model == "gemma4:e4b"
    # the second session keeps the size the server holds: no load, none announced
    assert _story(again) == [("size", size), ("applied", 0, size), ("request", size)]
    assert [s.num_ctx for s in server.streams] == [size, size]


def test_a_pinned_first_request_is_not_announced_as_a_load_without_asking(
    git_repo: Path, tmp_path: Path
) -> None:
    """A one-shot command with a pinned size does not ask /api/ps (a round trip before the
    first request): whether the request loads is unknown, so no Reloading is claimed."""
    repo = _repo(git_repo)
    with FakeOllama(answer=FINDINGS, load_s=3.0) as server:
        seen, _ = _review(repo, tmp_path, _settings(server, **{"context.num_ctx": 4096}))
        assert server.bodies("/api/ps") == []
    assert _story(seen) == [("size", 4096), ("applied", 0, 4096), ("request", 4096)]


def test_a_new_models_first_load_is_announced(git_repo: Path, tmp_path: Path) -> None:
    """After /model, the new model's first request loads it, whatever size the last
    model's requests used."""
    from tests.fakes.ollama_server import gemma4_e2b, gemma4_e4b

    repo = _repo(git_repo)
    seen: list[StatusEvent] = []
    clock = FakeClock()
    monitor = GpuMonitor(ScriptedSource([(0, 8 * GIB)], clock, total=12 * GIB), clock=clock)
    with FakeOllama([gemma4_e4b(), gemma4_e2b()], answer=FINDINGS) as server:
        settings = _settings(server, **{"context.num_ctx": 8192})

        async def main() -> None:
            async with open_session(
                settings, root=repo, monitor=monitor, clock=clock, live=True
            ) as core:
                core.subscribe(seen.append)
                for model in ("gemma4:e4b", "gemma4:e2b"):
                    await core.set_model(model)
                    task = core.review(ReviewSpec("path", "app.py", prose=False))
                    assert [e async for e in task][-1].outcome == "done"  # type: ignore[attr-defined]

        asyncio.run(main())
        assert [s.model for s in server.streams] == ["gemma4:e4b", "gemma4:e2b"]
    loads = [(e.model, e.num_ctx) for e in seen if isinstance(e, Reloading)]
    assert loads == [("gemma4:e4b", 8192), ("gemma4:e2b", 8192)]  # the same size, a new model


class InflatingEngine(TiktokenEngine):
    """A model whose tokenizer makes three tokens of each tiktoken token: prompts the client
    sized for num_ctx are three times longer on the server, which cuts them silently."""

    def tokenize(self, text: str) -> list[int]:
        return [t for t in super().tokenize(text) for _ in range(3)]


def test_a_prompt_the_server_cut_is_reported(git_repo: Path, tmp_path: Path) -> None:
    repo = _repo(git_repo, CODE)
    with FakeOllama(answer=FINDINGS, engine=InflatingEngine()) as server:
        seen, tasks = _review(repo, tmp_path, _settings(server, **{"context.num_ctx": 4096}))
        streams = list(server.streams)
    assert streams and streams[0].truncated  # the server did cut the first request
    cuts = [e for e in seen if isinstance(e, PromptCut)]
    stats = [e for e in seen if isinstance(e, RequestStats)]
    assert cuts and len(stats) == len(streams)
    first = cuts[0]
    # the server evaluated fewer tokens than were sent, and said so only in its count
    assert first.evaluated == streams[0].evaluated < streams[0].prompt_tokens
    assert first.sent_estimate == stats[0].estimated_tokens > 0
    assert "cut it silently" in first.note
    assert stats[0].prompt_tokens == first.evaluated
    # every reported cut was a real one (no false alarm on the requests the server kept)
    reported = {c.evaluated for c in cuts}
    assert all(s.truncated for s in streams if s.evaluated in reported)
    assert isinstance(tasks[0][-1], Finished)


def test_a_model_spilled_to_the_cpu_is_reported(git_repo: Path, tmp_path: Path) -> None:
    repo = _repo(git_repo)
    with FakeOllama(answer=FINDINGS, vram_bytes=4 * GIB) as server:  # /api/ps: size_vram cut
        seen, _ = _review(repo, tmp_path, _settings(server), reviews=2)
        sizes = [s.num_ctx for s in server.streams]
        model = server.installed["gemma4:e4b"]
    spills = [e for e in seen if isinstance(e, ModelSpilled)]
    assert spills, "the spill /api/ps showed after the request"
    first = spills[0]
    assert first.model == "gemma4:e4b" and first.vram == 4 * GIB
    assert first.size == model.size + sizes[0] * model.kv_bytes_per_token > first.vram
    # the policy answers the spill: the next request runs at a smaller size, announced
    assert sizes[1] < sizes[0]
    story = _story(seen)
    assert story.index(("ModelSpilled",)) < story.index(("reloading", sizes[1]))
