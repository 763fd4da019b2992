"""Messages from the core's side (workers, the core's status thread) to the main screen:
small dataclasses carrying the core's own records. ``post_message`` is thread-safe, so the
core's status callback posts them straight from the GPU monitor's thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from gemmacode.session.api import IndexProgress, IndexSummary
from gemmacode.session.events import StatusEvent
from gemmacode.tui.repo_status import RepoSnapshot


@dataclass
class StatusChanged(Message):
    event: StatusEvent


@dataclass
class CoreReady(Message):
    pass


@dataclass
class CoreFailed(Message):
    message: str
    fix: str
    retry_s: float


@dataclass
class IndexProgressed(Message):
    progress: IndexProgress


@dataclass
class IndexDone(Message):
    summary: IndexSummary | None
    error: str = ""


@dataclass
class RepoLoaded(Message):
    snapshot: RepoSnapshot
