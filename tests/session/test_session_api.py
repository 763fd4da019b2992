"""What a front end calls between and around tasks: the server check, the model list, a new
model, a pinned size; and what a task takes: another index (the commit hook), a prompt cap,
earlier turns of a conversation."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmacode.backends.base import ChatRequest, ModelInfo
from gemmacode.config import Settings, load_settings
from gemmacode.errors import ModelNotFoundError, UsageError
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.session.api import ReviewSpec
from gemmacode.session.core import CoreSession, open_session
from gemmacode.session.events import (
    ContextPending,
    ContextSize,
    Finished,
    RequestStats,
    StatusEvent,
    TaskEvent,
)
from gemmacode.tokens.calibration import CalibrationStore
from tests.conftest import git
from tests.fakes.backend import FakeBackend
from tests.fakes.gpu import E2B, E4B, GIB, FakeClock, ScriptedSource
from tests.fakes.ollama_server import FakeOllama

CODE = "".join(f"def step_{i}(x):\n    return helper(x, {i})\n" for i in range(200))


@pytest.fixture
def repo(git_repo: Path) -> Iterator[Path]:
    (git_repo / "app.py").write_text(CODE)
    (git_repo / "util.py").write_text("def helper(x, n):\n    return x + n\n")
    yield git_repo


def answer(request: ChatRequest) -> str:
    return '{"findings": []}' if request.json_schema is not None else "fine"


def settings(**context: Any) -> Settings:
    s = Settings()
    s.backend.model = E2B.name
    s.context.max_ctx = 131072
    for key, value in context.items():
        setattr(s.context, key, value)
    return s


async def run(task: Any) -> list[TaskEvent]:
    return [e async for e in task]


def finished(events: list[TaskEvent]) -> Finished:
    end = events[-1]
    assert isinstance(end, Finished), end
    return end


def open_fake(root: Path, tmp: Path, backend: FakeBackend, s: Settings, **kw: Any) -> Any:
    clock = FakeClock()
    source = ScriptedSource([(0, 7 * GIB)], clock, total=8 * GIB)
    monitor = GpuMonitor(source, clock=clock)
    return open_session(
        s,
        root=root,
        backend=backend,
        monitor=monitor,
        clock=clock,
        calibration=CalibrationStore(tmp / "calibration.json"),
        **kw,
    )


# --- the server -------------------------------------------------------------------------


def test_check_server_says_what_is_wrong_and_how_to_fix_it(repo: Path) -> None:
    async def check(host: str, model: str = "gemma4:e4b") -> Any:
        s = load_settings(repo, {}, {"backend.host": host, "backend.model": model})
        seen: list[StatusEvent] = []
        async with open_session(s, root=repo) as core:
            core.subscribe(seen.append)
            state = await core.check_server()
            assert seen[0] == state and core.status.server == state
            if not state.model_present:
                assert seen == [state] and core.status.context is None
            return state

    down = asyncio.run(check("http://127.0.0.1:9"))
    assert not down.reachable and down.fix
    with FakeOllama() as server:
        up = asyncio.run(check(server.host))
        assert up.reachable and up.model_present and not up.fix
        missing = asyncio.run(check(server.host, "gemma4:31b"))
        assert missing.reachable and missing.model_present is False
        assert "gemma4:31b" in missing.fix
        assert server.bodies("/api/chat") == []


def _check_then_review(server: FakeOllama, repo: Path, tmp: Path, **extra: Any) -> Any:
    """check_server on a card with 6 GiB free, then one review: the status after the
    check, the events it published, and what the review then sent."""
    s = load_settings(repo, {}, {"backend.host": server.host, **extra})
    clock = FakeClock()
    monitor = GpuMonitor(ScriptedSource([(0, 6 * GIB)], clock, total=8 * GIB), clock=clock)
    seen: list[StatusEvent] = []

    async def main() -> Any:
        async with open_session(
            s,
            root=repo,
            monitor=monitor,
            clock=clock,
            live=True,
            calibration=CalibrationStore(tmp / "calibration.json"),
        ) as core:
            core.subscribe(seen.append)
            await core.check_server()
            after_check = core.status
            chats = len(server.bodies("/api/chat"))
            events = list(seen)
            assert finished(await run(core.review(ReviewSpec("path", "app.py")))).complete
            return after_check, chats, events

    return asyncio.run(main())


def test_check_server_shows_the_size_the_next_request_will_use(repo: Path, tmp_path: Path) -> None:
    """A status bar learns the context size as soon as the server answers: the model is
    described and the policy chooses, without a chat request (nothing is loaded)."""
    with FakeOllama() as server:
        status, chats, events = _check_then_review(server, repo, tmp_path)
        sent = [b["options"]["num_ctx"] for b in server.bodies("/api/chat")]
        shows = len(server.bodies("/api/show"))
    assert chats == 0  # the check loaded nothing
    assert status.context is not None and not status.context.pinned
    assert sent and set(sent) == {status.context.num_ctx}  # the size the bar showed
    assert status.context.num_ctx > 8192  # the policy's choice for 6 GiB, not a default
    assert [e for e in events if isinstance(e, ContextSize)] == [status.context]
    assert shows == 1  # described once, at the check; the review reused it

    with FakeOllama() as server:
        status, chats, _ = _check_then_review(server, repo, tmp_path, **{"context.num_ctx": 4096})
        sent = [b["options"]["num_ctx"] for b in server.bodies("/api/chat")]
    assert chats == 0 and status.context == ContextSize(4096, True) and set(sent) == {4096}


# --- models, set_model, set_num_ctx -----------------------------------------------------


def test_models_say_what_fits_the_gpu_now(repo: Path, tmp_path: Path) -> None:
    huge = ModelInfo("huge", size_bytes=20 * GIB, kv=E4B.kv, context_length=131072)
    backend = FakeBackend(answers=answer, models=[E2B, E4B, huge])

    async def main() -> Any:
        async with open_fake(repo, tmp_path, backend, settings()) as core:
            return await core.models()

    choices = {c.info.name: c for c in asyncio.run(main())}
    assert set(choices) == {E2B.name, E4B.name, "huge"}
    assert choices[E2B.name].fits_now and choices[E2B.name].max_ctx_now
    assert choices[E4B.name].fits_now  # 7 GiB free
    assert choices["huge"].fits_now is False and choices["huge"].note.startswith("no:")
    assert all(c.loaded is None for c in choices.values())


def test_set_model_refuses_an_unknown_model_and_keeps_the_current_one(
    repo: Path, tmp_path: Path
) -> None:
    backend = FakeBackend(answers=answer, models=[E2B, E4B])

    async def main() -> None:
        async with open_fake(repo, tmp_path, backend, settings(num_ctx=8192)) as core:
            assert finished(await run(core.review(ReviewSpec("path", "app.py")))).complete
            with pytest.raises(ModelNotFoundError):
                await core.set_model("gemma4:nope")
            assert core.model_name == E2B.name
            await core.set_model(E4B.name)
            end = finished(await run(core.review(ReviewSpec("path", "app.py"))))
            assert end.complete and end.model == E4B.name

    asyncio.run(main())
    assert [r.model for r in backend.requests] == [E2B.name] * 2 + [E4B.name] * 2


def test_a_pinned_size_applies_from_the_next_request(repo: Path, tmp_path: Path) -> None:
    backend = FakeBackend(answers=answer, models=[E2B])
    seen: list[StatusEvent] = []

    async def main() -> None:
        async with open_fake(repo, tmp_path, backend, settings()) as core:
            core.subscribe(seen.append)
            assert finished(await run(core.review(ReviewSpec("path", "app.py")))).complete
            chosen = core.status.context
            assert chosen is not None and not chosen.pinned and chosen.num_ctx > 8192
            core.set_num_ctx(8192)
            assert core.status.pending == ContextPending(chosen.num_ctx, 8192, "pinned by you")
            assert finished(await run(core.review(ReviewSpec("path", "app.py")))).complete
            assert core.status.context == ContextSize(8192, True)
            core.set_num_ctx(None)
            assert finished(await run(core.ask("what does step_3 do?"))).complete
            assert core.status.context == ContextSize(chosen.num_ctx, False)
            with pytest.raises(UsageError):
                core.set_num_ctx(100)

    asyncio.run(main())
    sizes = [r.options.num_ctx for r in backend.requests]
    assert sizes[2:4] == [8192, 8192] and sizes[0] == sizes[-1] > 8192


def test_nothing_changes_while_a_task_runs(repo: Path, tmp_path: Path) -> None:
    backend = FakeBackend(answers=answer, models=[E2B, E4B], delay_s=0.01)

    async def main() -> None:
        async with open_fake(repo, tmp_path, backend, settings()) as core:
            task = core.review(ReviewSpec("path", "app.py"))
            async for event in task:
                if isinstance(event, Finished):
                    break
                with pytest.raises(UsageError, match="while a task runs"):
                    core.set_num_ctx(4096)
                with pytest.raises(UsageError, match="while a task runs"):
                    await core.set_model(E4B.name)
                task.cancel()
            assert event == Finished("cancelled", "", (), E2B.name, seconds=event.seconds)
            core.set_num_ctx(4096)  # between tasks: fine

    asyncio.run(main())


# --- what a task takes ----------------------------------------------------------------------


def test_max_prompt_tokens_caps_every_request_of_that_task_only(repo: Path, tmp_path: Path) -> None:
    backend = FakeBackend(answers=answer, models=[E2B])
    seen: list[StatusEvent] = []

    async def main() -> None:
        async with open_fake(repo, tmp_path, backend, settings(num_ctx=16384)) as core:
            core.subscribe(seen.append)
            spec = ReviewSpec("path", "app.py", max_prompt_tokens=1200)
            assert finished(await run(core.review(spec))).complete
            assert finished(await run(core.review(ReviewSpec("path", "app.py")))).complete

    asyncio.run(main())
    stats = [e for e in seen if isinstance(e, RequestStats)]
    capped, free = stats[: len(stats) - 2], stats[-2:]
    assert len(capped) > 2  # the cap split the file into parts
    assert all(s.budget_tokens == 1200 and s.estimated_tokens <= 1200 for s in capped)
    assert all(s.budget_tokens > 10000 for s in free)


def test_history_goes_after_the_code_and_before_the_question(repo: Path, tmp_path: Path) -> None:
    backend = FakeBackend(answers=answer, models=[E2B])

    async def main() -> None:
        async with open_fake(repo, tmp_path, backend, settings(num_ctx=8192)) as core:
            await run(core.ask("what does step_3 do?"))
            history = [("what does step_3 do?", "It calls helper with 3.")]
            await run(core.ask("and helper?", history=history))

    asyncio.run(main())
    first, second = (r.messages[-1].content for r in backend.requests)
    assert backend.requests[0].messages[0] == backend.requests[1].messages[0]  # system
    earlier = second.index("Earlier in this conversation")
    assert second.index("step_3") < earlier < second.index("It calls helper with 3.")
    assert second.rindex("and helper?") > earlier
    assert "Earlier in this conversation" not in first


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_staged_review_reads_the_index_file_it_is_given(repo: Path, tmp_path: Path) -> None:
    git(repo, "add", "util.py")
    git(repo, "commit", "-qm", "util")
    git(repo, "add", "app.py")  # the repository's own index: app.py staged
    # a commit hook's temporary index (git commit util.py): only util.py changed
    other = tmp_path / "hook-index"
    env_index = {"GIT_INDEX_FILE": str(other)}

    def git_with(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], env={**os.environ, **env_index}, check=True)

    git_with("read-tree", "HEAD")
    (repo / "util.py").write_text("def helper(x, n):\n    return x - n\n")
    git_with("add", "util.py")
    before = _digest(repo / ".git" / "index")

    async def explain(spec: ReviewSpec) -> dict[str, Any]:
        s = load_settings(repo, {}, {"context.num_ctx": 8192})
        async with open_session(s, root=repo) as core:
            found = await core.explain_review(spec)
            assert found.doc is not None
            return found.doc

    hook = asyncio.run(explain(ReviewSpec("staged", cwd=repo, index_file=other)))
    plain = asyncio.run(explain(ReviewSpec("staged", cwd=repo)))
    files = lambda doc: {f for r in doc["requests"] for f in r["files"]}  # noqa: E731
    assert files(hook) == {"util.py"} and files(plain) == {"app.py"}
    assert "return x - n" in json.dumps(hook)
    assert _digest(repo / ".git" / "index") == before  # the repository's index untouched


def test_tasks_wait_for_each_other(repo: Path, tmp_path: Path) -> None:
    backend = FakeBackend(answers=answer, models=[E2B], delay_s=0.005)
    order: list[str] = []

    async def main() -> None:
        async with open_fake(repo, tmp_path, backend, settings(num_ctx=8192)) as core:

            async def one(name: str, task: Any) -> None:
                async for event in task:
                    if isinstance(event, Finished):
                        order.append(f"{name} {event.outcome}")

            assert isinstance(core, CoreSession)
            await asyncio.gather(
                one("review", core.review(ReviewSpec("path", "app.py"))),
                one("ask", core.ask("what does step_3 do?")),
            )

    asyncio.run(main())
    assert sorted(order) == ["ask done", "review done"]
    # one task at a time: the review's two passes are not interleaved with the answer
    owners = [
        "ask" if "step_3 do?" in r.messages[-1].content else "review" for r in backend.requests
    ]
    assert owners in (["review", "review", "ask"], ["ask", "review", "review"])
