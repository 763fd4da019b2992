"""Conversations: what the UI keeps of each exchange, and where it keeps them.

A :class:`Conversation` is a list of :class:`Turn` (one request and what the core answered),
enough to show it again, to send follow-up questions with their history and to export its
findings. The app receives a :class:`ConversationStore`; :class:`MemoryStore` keeps them for
the life of the process. A store that persists them per project (private code: folders 0700,
files 0600) only has to implement the same four methods.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gemmacode.backends.base import Final
from gemmacode.review.findings.model import Finding

TurnKind = Literal["review", "ask"]


@dataclass
class Turn:
    kind: TurnKind
    request: str  # what the user typed or chose, as shown ("/review app.py", a question)
    answer: str = ""
    findings: tuple[Finding, ...] = ()
    outcome: str = ""  # done, cancelled, error ("" while running)
    model: str = ""
    notes: tuple[str, ...] = ()
    error: str = ""
    finals: tuple[Final, ...] = ()
    num_ctx: int = 0  # the context size the core planned the answer at (PlanReady)

    @property
    def complete(self) -> bool:
        return self.outcome == "done"


@dataclass
class Conversation:
    id: str
    created: float = field(default_factory=time.time)
    turns: list[Turn] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.turns[0].request[:60] if self.turns else "(empty)"

    def history(self) -> list[tuple[str, str]]:
        """Earlier finished questions and answers, oldest first, for a follow-up question."""
        return [(t.request, t.answer) for t in self.turns if t.kind == "ask" and t.complete]

    def findings(self) -> list[Finding]:
        return [f for t in self.turns for f in t.findings]

    def last_answer(self) -> Turn | None:
        return next((t for t in reversed(self.turns) if t.answer), None)


class ConversationStore(Protocol):
    def new(self) -> Conversation: ...

    def save(self, conversation: Conversation) -> None: ...

    def list(self) -> list[Conversation]:
        """Past conversations of this project, newest first."""
        ...

    def load(self, conversation_id: str) -> Conversation | None: ...


class MemoryStore:
    """Conversations kept for the life of the process (nothing written to disk)."""

    def __init__(self) -> None:
        self._items: dict[str, Conversation] = {}
        self._ids = itertools.count(1)

    def new(self) -> Conversation:
        return Conversation(id=str(next(self._ids)))

    def save(self, conversation: Conversation) -> None:
        if conversation.turns:
            self._items[conversation.id] = conversation

    def list(self) -> list[Conversation]:
        return sorted(self._items.values(), key=lambda c: c.created, reverse=True)

    def load(self, conversation_id: str) -> Conversation | None:
        return self._items.get(conversation_id)
