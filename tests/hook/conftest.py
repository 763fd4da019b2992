"""The hook's test kit: a scripted core session and helpers to run the hook in-process.

:class:`ScriptedCore` implements the ``CoreSession`` protocol of ``gemmacode.session.api`` with
answers fixed by the test: the findings of each review (or a function of the spec), a delay
per request (for the deadline), an error when the session opens (server down, model
missing), the server metrics each request reports, and a status event to send. It records
every spec and the settings it was opened with, so tests assert on what the hook asked for.
The real core is exercised by the commit tests through the fake Ollama server.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gemmacode.backends.base import Final
from gemmacode.config import Settings
from gemmacode.errors import GemmacodeError
from gemmacode.hook.output import Printer
from gemmacode.hook.run import HookIO, run_hook
from gemmacode.review.findings.model import Finding
from gemmacode.session.api import IndexSummary, ModelChoice, ReviewSpec
from gemmacode.session.events import (
    FindingsReady,
    Finished,
    PlanReady,
    RequestStarted,
    ServerState,
    Status,
    StatusEvent,
    TaskEvent,
)
from tests.conftest import git

FAST_FINAL = Final(prompt_tokens=800, completion_tokens=60, prompt_s=0.4, eval_s=0.6, total_s=1.0)


def finding(
    file: str, line: int, severity: str = "high", message: str = "bad thing", end: int = 0
) -> Finding:
    return Finding(file, line, end or line, severity, "bug", message, "do the good thing")


@dataclass
class _Workspace:
    root: Path
    settings: Settings

    def refresh(self, progress: Any = None) -> IndexSummary:
        return IndexSummary(0, 0)

    @property
    def cache_dir(self) -> Path:
        return self.root

    @property
    def map_cache_dir(self) -> Path:
        return self.root


class _Task:
    def __init__(self, core: ScriptedCore, spec: ReviewSpec) -> None:
        self.core = core
        self.spec = spec
        self._cancel = asyncio.Event()
        self._done = False

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def done(self) -> bool:
        return self._done

    async def __aiter__(self) -> AsyncIterator[TaskEvent]:
        core = self.core
        answer = core.findings(self.spec) if callable(core.findings) else core.findings
        found: list[Finding] = []
        finals: list[Final] = []
        yield PlanReady("staged changes", core.requests, 8192)
        outcome = "done"
        for i in range(1, core.requests + 1):
            yield RequestStarted(i, core.requests, "findings")
            try:
                await asyncio.wait_for(self._cancel.wait(), timeout=core.delay_s or 0.001)
                outcome = "cancelled"
                break
            except TimeoutError:
                pass
            part = [f for n, f in enumerate(answer) if n % core.requests == i - 1]
            found += part
            finals.append(core.final)
            yield FindingsReady(tuple(part))
        self._done = True
        yield Finished(
            outcome,  # type: ignore[arg-type]
            "",
            tuple(found),
            core.settings.backend.model if core.settings else "",
            notes=tuple(core.notes),
            finals=tuple(finals),
            error=core.task_error,
        )


@dataclass
class ScriptedCore:
    """A ``CoreSession`` with scripted answers (see the module docstring)."""

    findings: Sequence[Finding] | Callable[[ReviewSpec], Sequence[Finding]] = ()
    delay_s: float = 0.0
    requests: int = 1
    open_error: GemmacodeError | None = None
    task_error: str = ""
    notes: list[str] = field(default_factory=list)
    final: Final = FAST_FINAL
    status_event: StatusEvent | None = None
    specs: list[ReviewSpec] = field(default_factory=list)
    settings: Settings | None = None
    opened: int = 0
    _callbacks: list[Callable[[StatusEvent], None]] = field(default_factory=list)

    # --- the opener the hook calls --------------------------------------------------------

    def opener(self) -> Callable[..., Any]:
        @asynccontextmanager
        async def open_session(settings: Settings, *, root: Path) -> AsyncIterator[ScriptedCore]:
            self.opened += 1
            self.settings = settings
            self.workspace = _Workspace(root, settings)
            if self.open_error is not None:
                raise self.open_error
            yield self

        return open_session

    # --- CoreSession ----------------------------------------------------------------------

    @property
    def status(self) -> Status:
        return Status()

    def subscribe(self, callback: Callable[[StatusEvent], None]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def review(self, spec: ReviewSpec) -> _Task:
        self.specs.append(spec)
        if self.status_event is not None:
            for cb in list(self._callbacks):
                cb(self.status_event)
        return _Task(self, spec)

    def ask(self, question: str, *, focus: Sequence[str] = (), history: Any = ()) -> _Task:
        raise NotImplementedError

    async def check_server(self) -> ServerState:
        return ServerState("scripted", "", "scripted", True, True)

    async def models(self) -> list[ModelChoice]:
        return []

    async def set_model(self, name: str) -> None:
        return None

    def set_num_ctx(self, num_ctx: int | None) -> None:
        return None


@dataclass
class Ran:
    code: int
    output: str


def run_in_process(
    repo: Path,
    core: ScriptedCore | None = None,
    *,
    stage: str = "pre-commit",
    env: dict[str, str] | None = None,
    stdin: str = "",
    cwd: Path | None = None,
) -> Ran:
    """Run the hook in this process as git would (cwd at the work-tree root), with the
    scripted core; the settings come from ``env`` (GEMMACODE_*), never the user's files."""
    chunks: list[str] = []
    full_env = {**os.environ, **(env or {})}
    io = HookIO(
        cwd or repo,
        full_env,
        Printer(chunks.append),
        stdin=stdin,
        opener=core.opener() if core is not None else None,
    )
    code = run_hook(stage, io)
    return Ran(code, "".join(chunks))


# An embedded backend has no server to probe: the scripted core answers alone.
EMBEDDED = {"GEMMACODE_BACKEND_KIND": "embedded", "GEMMACODE_BACKEND_MODEL": "scripted"}


def commit_all(repo: Path, message: str = "base") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(git_repo: Path) -> Iterator[Path]:
    """A repository with one commit holding ``app.py`` (20 numbered lines)."""
    (git_repo / "app.py").write_text("".join(f"x{i} = {i}\n" for i in range(1, 21)))
    commit_all(git_repo)
    yield git_repo
