"""The core session over real HTTP (the Ollama backend against the wire-format fake server):
a cancelled task keeps what streamed and leaves the session usable; closing the session
leaves no thread, child process or connection behind."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemmacode.config import Settings, load_settings
from gemmacode.session.api import ReviewSpec
from gemmacode.session.core import open_session
from gemmacode.session.events import Finished, ProseDelta, TaskEvent
from gemmacode.session.startup import prewarm
from tests.fakes.ollama_server import FakeOllama

CODE = "def total(items):\n    result = 0\n    for i in range(len(items) + 1):\n" + (
    "        result += items[i]\n    return result\n"
)
LONG = " ".join(f"word{i}" for i in range(400))


@pytest.fixture
def repo(git_repo: Path) -> Iterator[Path]:
    (git_repo / "app.py").write_text(CODE)
    yield git_repo


def settings_for(server: FakeOllama, root: Path, **context: int) -> Settings:
    settings = load_settings(root, {}, {"backend.host": server.host})
    for key, value in context.items():
        setattr(settings.context, key, value)
    return settings


def test_cancel_keeps_the_text_so_far_and_the_next_task_works(repo: Path) -> None:
    server = FakeOllama(answer=LONG, token_delay_s=0.01, load_s=0.0)
    with server:
        settings = settings_for(server, repo, num_ctx=4096)

        async def main() -> tuple[list[TaskEvent], list[TaskEvent]]:
            async with open_session(settings, root=repo) as core:
                first: list[TaskEvent] = []
                task = core.review(ReviewSpec("path", "app.py"))
                async for event in task:
                    first.append(event)
                    if sum(isinstance(e, ProseDelta) for e in first) == 3:
                        task.cancel()
                assert task.done
                server.token_delay_s = 0.0
                server.answer = lambda body: '{"findings": []}' if body.get("format") else "ok"
                second = [e async for e in core.review(ReviewSpec("path", "app.py"))]
                return first, second

        first, second = asyncio.run(main())
        end = first[-1]
        assert isinstance(end, Finished) and end.outcome == "cancelled"
        streamed = "".join(e.text for e in first if isinstance(e, ProseDelta))
        assert end.prose == streamed and 0 < len(streamed) < len(LONG)
        assert not any(isinstance(e, Finished) for e in first[:-1])
        # the server saw the client go away mid-answer, not a finished stream
        deadline = time.monotonic() + 5
        while server.streams[0].ended != "aborted" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.streams[0].ended == "aborted"
        assert server.streams[0].chunks_sent < len(LONG.split())
        done = second[-1]
        assert isinstance(done, Finished) and done.outcome == "done" and done.prose == "ok"


def test_cancel_before_the_task_starts_sends_nothing(repo: Path) -> None:
    with FakeOllama(load_s=0.0) as server:
        settings = settings_for(server, repo, num_ctx=4096)

        async def main() -> list[TaskEvent]:
            async with open_session(settings, root=repo) as core:
                task = core.review(ReviewSpec("path", "app.py"))
                task.cancel()
                return [e async for e in task]

        events = asyncio.run(main())
        assert [type(e) for e in events] == [Finished]
        assert isinstance(events[0], Finished) and events[0].outcome == "cancelled"
        assert server.streams == []


def _children() -> set[int]:
    me = os.getpid()
    found: set[int] = set()
    for task in os.listdir(f"/proc/{me}/task"):
        try:
            with open(f"/proc/{me}/task/{task}/children") as fh:
                found |= {int(p) for p in fh.read().split()}
        except OSError:
            continue
    return found


def _sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return n


def _settle(check: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_closing_the_session_leaves_nothing_running(repo: Path) -> None:
    answer = '{"findings": []}'
    with FakeOllama(answer=lambda body: answer if body.get("format") else "fine", load_s=0.0) as s:
        settings = settings_for(s, repo)  # the policy picks num_ctx: a GPU monitor is made
        threads = {t.ident for t in threading.enumerate()}
        children = _children()
        sockets = _sockets()
        seen: dict[str, object] = {}

        async def main() -> None:
            warm = prewarm(settings)  # the tokenizer helper, the loading threads
            try:
                async with open_session(settings, root=repo, warm=warm, live=True) as core:
                    events = [e async for e in core.review(ReviewSpec("path", "app.py"))]
                    assert isinstance(events[-1], Finished) and events[-1].outcome == "done"
                    events = [e async for e in core.ask("what does total do?")]
                    assert isinstance(events[-1], Finished) and events[-1].outcome == "done"
                    seen["threads"] = {t.name for t in threading.enumerate()}
                    seen["sockets"] = _sockets()
            finally:
                warm.close()

        asyncio.run(main())
        assert "gemmacode-gpu" in seen["threads"]  # live: the monitor sampled in the background
        assert isinstance(seen["sockets"], int) and seen["sockets"] > sockets  # a connection
        _settle(lambda: {t.ident for t in threading.enumerate()} <= threads)
        left = [t.name for t in threading.enumerate() if t.ident not in threads]
        assert left == []
        assert _children() <= children
        _settle(lambda: _sockets() <= sockets)
        assert _sockets() <= sockets
