"""What the core tells its front ends: typed events, never log lines.

Two streams come out of the core, and every front end (the CLI, the terminal UI, the commit
hook, ``eval``) reads the same ones:

- **Status events**, from the long-lived model session: what a status bar shows. They arrive
  whenever something changes (a GPU sample, a policy decision, the end of a request), through
  ``CoreSession.subscribe(callback)``, on whatever thread produced them (the GPU monitor
  samples on its own thread): a front end that paints must hop to its own loop or thread
  (Textual: ``App.call_from_thread``). ``CoreSession.status`` is the same information as one
  :class:`Status` snapshot, for painting a fresh screen.
- **Task events**, from one review or question: what the conversation pane shows, yielded in
  order by the task's async iterator (``async for event in task``). The last one is always
  :class:`Finished`, also after a cancellation or an error.

All records are frozen dataclasses of plain values (str, int, float, tuples), so they can be
logged, compared in tests and sent across a thread or process boundary as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gemmacode.backends.base import Final
from gemmacode.review.findings.model import Finding

# --- status events ------------------------------------------------------------------------

MemoryKind = Literal["gpu", "remote", "cpu", "none"]


@dataclass(frozen=True)
class GpuSample:
    """One memory reading. ``kind``: ``gpu`` (NVML on this machine: used/total are the card's),
    ``remote`` (the server's GPU is elsewhere: ``vram`` is what its loaded models hold, from
    ``/api/ps``), ``cpu`` (no GPU here: used/total are system RAM), ``none`` (no reading).
    ``note`` says why when it is not a GPU reading ("no NVIDIA driver", "remote host ...")."""

    kind: MemoryKind
    used: int = 0  # bytes
    total: int = 0  # bytes
    vram: int = 0  # bytes the server's models hold in VRAM (remote), else 0
    note: str = ""
    at: float = 0.0  # the monitor's clock

    @property
    def free(self) -> int:
        return max(0, self.total - self.used)


@dataclass(frozen=True)
class ContextSize:
    """The size the next request will use, and whether it is pinned (``--num-ctx``, ``/ctx N``)
    or chosen by the policy."""

    num_ctx: int
    pinned: bool


@dataclass(frozen=True)
class ContextPending:
    """The policy will change the size at the next request (never during one)."""

    current: int
    next: int
    reason: str  # "free VRAM fell to 1.9 GiB", "headroom held 30 s", ...


@dataclass(frozen=True)
class ContextApplied:
    """A request ran at a new size; ``load_s`` is the reload it cost (None: not measured)."""

    before: int
    after: int
    reason: str
    load_s: float | None


@dataclass(frozen=True)
class Reloading:
    """A request has left at a size the server does not hold: the model is (re)loading."""

    model: str
    num_ctx: int


@dataclass(frozen=True)
class Answering:
    """The model sent the first token of an answer: whatever load it needed is over."""

    model: str
    num_ctx: int


@dataclass(frozen=True)
class PromptCut:
    """The server evaluated fewer prompt tokens than were sent: it cut the prompt silently."""

    sent_estimate: int
    evaluated: int
    note: str


@dataclass(frozen=True)
class ModelSpilled:
    """The server holds part of the model in system RAM (``/api/ps``: size_vram < size)."""

    model: str
    vram: int
    size: int


@dataclass(frozen=True)
class RequestStats:
    """One finished request: its fill of the budget and its speed."""

    model: str
    num_ctx: int
    prompt_tokens: int | None  # the server's count (None: not reported)
    estimated_tokens: int  # what the budget counted before sending
    budget_tokens: int  # the prompt budget at this size
    completion_tokens: int | None
    tokens_per_s: float | None  # completion tokens over generation time
    load_s: float
    done_reason: str

    @property
    def fill(self) -> float:
        """Share of the prompt budget the request used (0..1)."""
        return self.estimated_tokens / self.budget_tokens if self.budget_tokens else 0.0


@dataclass(frozen=True)
class ServerState:
    """Whether the model server answers and has the model; ``fix`` says what to do if not."""

    backend: str
    host: str
    model: str
    reachable: bool
    model_present: bool | None  # None: not asked yet
    message: str = ""
    fix: str = ""


StatusEvent = (
    GpuSample
    | ContextSize
    | ContextPending
    | ContextApplied
    | Reloading
    | Answering
    | PromptCut
    | ModelSpilled
    | RequestStats
    | ServerState
)


@dataclass(frozen=True)
class Status:
    """Everything a status bar shows, as one snapshot (the latest of each status event)."""

    server: ServerState | None = None
    memory: GpuSample | None = None
    memory_history: tuple[int, ...] = ()  # recent used bytes, oldest first
    context: ContextSize | None = None
    pending: ContextPending | None = None
    last_change: ContextApplied | None = None
    reloading: Reloading | None = None
    last_request: RequestStats | None = None
    prompt_cut: PromptCut | None = None
    spilled: ModelSpilled | None = None


# --- task events --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanReady:
    """The work is packed: ``requests`` requests at ``num_ctx``; ``label`` names the target."""

    label: str
    requests: int
    num_ctx: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestStarted:
    """Request ``index`` (1-based) of ``total`` is leaving; ``what`` says which pass/part."""

    index: int
    total: int
    what: str


@dataclass(frozen=True)
class ProseDelta:
    """Streamed answer text."""

    text: str


@dataclass(frozen=True)
class FindingsReady:
    """Findings of one request (or of the final merge)."""

    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Note:
    """Something the user should know about this task. ``kind="result"``: about the answer
    (a part left out, a repaired answer, a dropped finding); these are also in
    ``Finished.notes``, and the CLI prints them after the findings. ``kind="info"``: about
    the work as it happens ("continuing without the index", "nothing to review"); shown at
    once and not repeated in ``Finished``."""

    text: str
    kind: Literal["result", "info"] = "result"


@dataclass(frozen=True)
class Finished:
    """The last event of every task. ``outcome``: ``done``, ``cancelled`` or ``error``
    (``error`` holds the one-line message, ``exit_code`` the CLI's code for it). ``prose``
    and ``findings`` are everything the task produced, also when it was cut short.
    ``sources`` holds the text each finding's file had in what was reviewed (the staged
    content for ``--staged``), for excerpts."""

    outcome: Literal["done", "cancelled", "error"]
    prose: str
    findings: tuple[Finding, ...]
    model: str
    notes: tuple[str, ...] = ()
    finals: tuple[Final, ...] = field(default=(), compare=False)
    error: str = ""
    seconds: float = 0.0
    exit_code: int = 0
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def complete(self) -> bool:
        return self.outcome == "done"


TaskEvent = PlanReady | RequestStarted | ProseDelta | FindingsReady | Note | Finished
