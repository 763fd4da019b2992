"""The contract between the core and its front ends (the CLI commands, the terminal UI, the
commit hook, ``eval``): what a front end may call, as Protocols.

A front end opens one :class:`CoreSession` per repository with
``async with open_session(settings, root=...) as core:`` (``gemmacode.session.core``) and
keeps it as long as it likes (the terminal UI: hours; a CLI command: one request). It then

- reads :attr:`CoreSession.status` and subscribes to status events for its status bar;
- starts reviews and questions, each a :class:`Task`: iterate it for task events, cancel it
  when the user presses Esc; the session stays usable for the next task;
- changes the model or pins the context size between tasks.

Nothing here parses flags or prints: that is the front end's job. Nothing in a front end
assembles prompts, picks ``num_ctx`` or talks to the server: that is the core's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from gemmacode.backends.base import LoadedModel, ModelInfo
from gemmacode.config import Settings
from gemmacode.session.events import ServerState, Status, StatusEvent, TaskEvent

TargetKind = Literal["path", "staged", "working", "diff"]


@dataclass(frozen=True)
class ReviewSpec:
    """What to review, as the CLI's arguments say it.

    ``kind="path"``: ``target`` is ``PATH``, ``PATH:START-END``, ``PATH::Class.method`` or a
    folder, relative to ``cwd`` (default: the workspace root). ``staged``: the index's
    content; ``index_file`` names another index (the commit hook passes ``GIT_INDEX_FILE``,
    made absolute). ``working``: unstaged changes. ``diff``: ``target`` is a revision range.
    """

    kind: TargetKind = "staged"
    target: str = ""
    cwd: Path | None = None
    index_file: Path | None = None
    focus: Sequence[str] = ()
    extra: str = ""  # the project's review.extra_instructions, when asked for
    prose: bool = True  # False: only the constrained findings pass (hooks, CI)
    # A cap on each request's prompt tokens below what num_ctx allows: the commit hook sizes
    # its work to its deadline from the server's measured speeds (None: num_ctx decides).
    max_prompt_tokens: int | None = None


@dataclass(frozen=True)
class ModelChoice:
    """A model the server has, what the server holds of it now, and whether it fits the
    GPU's free memory now; ``note`` says so in one line ("yes, up to 64K context")."""

    info: ModelInfo
    loaded: LoadedModel | None  # None: not loaded now
    fits_now: bool | None  # None: unknown (no GPU reading)
    max_ctx_now: int | None  # the largest context that fits now, if known
    note: str = ""


@dataclass(frozen=True)
class IndexProgress:
    """Indexing progress: ``done`` of ``total`` files (total 0: still listing)."""

    done: int
    total: int
    phase: str = ""


@dataclass(frozen=True)
class IndexSummary:
    files: int
    symbols: int
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Task(Protocol):
    """One review or question. Iterate it once for its events; the last is always
    ``Finished`` (``outcome`` done, cancelled or error). :meth:`cancel` stops it at the next
    event boundary, keeps the text streamed so far (``Finished.prose``, outcome
    ``cancelled``) and leaves the session ready for the next task."""

    def __aiter__(self) -> AsyncIterator[TaskEvent]: ...

    def cancel(self) -> None: ...

    @property
    def done(self) -> bool: ...


class Workspace(Protocol):
    """One repository: its root, its settings, its index and map cache. Opened once per
    session; :meth:`refresh` re-indexes on demand (incremental). Blocking (it parses):
    a front end calls it from a worker thread."""

    root: Path
    settings: Settings

    def refresh(self, progress: Callable[[IndexProgress], None] | None = None) -> IndexSummary: ...

    @property
    def cache_dir(self) -> Path: ...

    @property
    def map_cache_dir(self) -> Path: ...


class CoreSession(Protocol):
    @property
    def workspace(self) -> Workspace:
        """Read-only here, so an implementation may hold its own Workspace class."""
        ...

    @property
    def status(self) -> Status: ...

    def subscribe(self, callback: Callable[[StatusEvent], None]) -> Callable[[], None]:
        """Call ``callback`` with every status event from now on (on the thread that produced
        it); returns the function that unsubscribes."""
        ...

    def review(self, spec: ReviewSpec) -> Task: ...

    def ask(
        self, question: str, *, focus: Sequence[str] = (), history: Sequence[tuple[str, str]] = ()
    ) -> Task:
        """A question about the code; ``history`` holds earlier (question, answer) pairs of
        the same conversation, sent after the stable prefix so the server's cache serves it."""
        ...

    async def check_server(self) -> ServerState:
        """Whether the server answers and has the model (also sent as a status event); a
        front end re-runs it in the background while no server is up."""
        ...

    async def models(self) -> list[ModelChoice]: ...

    async def set_model(self, name: str) -> None:
        """Use ``name`` from the next task on; refused (one-line error, the current model
        stays) when the server does not have it or a task is running."""
        ...

    def set_num_ctx(self, num_ctx: int | None) -> None:
        """Pin the context size (``None``: back to the policy's choice) from the next
        request on; refused while a task is running."""
        ...
