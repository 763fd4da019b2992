"""The app's conversations kept on disk: :class:`PersistentStore` implements the app's
:class:`~gemmacode.tui.conversations.ConversationStore` on the repository's
:class:`~gemmacode.session.conversations.ConversationStore` (SQLite in the cache folder,
0700/0600, safe with another gemmacode process on the same repository).

Saving appends the finished turns the file does not have yet; a turn still streaming is
saved when it finishes. Each stored answer carries what reproduces it: the model (and its
digest when the server listed one), ``num_ctx``, the sampling settings and token counts.
A conversation with no finished turn is never written, so opening and leaving the UI leaves
no empty entries behind.
"""

from __future__ import annotations

from pathlib import Path

from gemmacode.backends.base import Final
from gemmacode.config import Settings
from gemmacode.session import conversations as disk
from gemmacode.tui.conversations import Conversation, Turn

LIST_LIMIT = 50


def _total(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def to_disk(turn: Turn, sampling: disk.Sampling, digest: str) -> disk.Turn:
    """One finished UI turn as a stored answer; counts are summed over its requests."""
    finals = turn.finals
    num_ctx = next((f.num_ctx for f in reversed(finals) if f.num_ctx), turn.num_ctx)
    return disk.Turn(
        kind=turn.kind,
        prompt=turn.request,
        answer=turn.answer,
        model=turn.model,
        num_ctx=num_ctx or 0,
        sampling=sampling,
        outcome=turn.outcome,
        error=turn.error,
        model_digest=digest,
        prompt_tokens=_total([f.prompt_tokens for f in finals]),
        completion_tokens=_total([f.completion_tokens for f in finals]),
        seconds=sum(f.total_s for f in finals),
        findings=turn.findings,
        notes=turn.notes,
    )


def from_disk(stored: disk.Turn) -> Turn:
    """A stored answer as a UI turn; its requests' metrics come back as one summed Final."""
    final = Final(
        prompt_tokens=stored.prompt_tokens,
        completion_tokens=stored.completion_tokens,
        total_s=stored.seconds,
        num_ctx=stored.num_ctx or None,
    )
    return Turn(
        kind=stored.kind,
        request=stored.prompt,
        answer=stored.answer,
        findings=stored.findings,
        outcome=stored.outcome,
        model=stored.model,
        notes=stored.notes,
        error=stored.error,
        finals=(final,),
        num_ctx=stored.num_ctx,
    )


class PersistentStore:
    """Conversations of one repository on disk. ``digests`` maps a model name to the digest
    the server listed for it; the app fills it when it learns them (absent: "")."""

    def __init__(self, store: disk.ConversationStore, settings: Settings) -> None:
        self.disk = store
        self.sampling = disk.Sampling.from_settings(settings.sampling)
        self.digests: dict[str, str] = {}

    @classmethod
    def open(cls, root: Path, settings: Settings) -> PersistentStore:
        return cls(disk.ConversationStore.open(root, settings), settings)

    def new(self) -> Conversation:
        return Conversation(id=disk.new_id())

    def save(self, conversation: Conversation) -> None:
        finished = []
        for turn in conversation.turns:
            if not turn.outcome:
                break  # still streaming: it and anything after it wait for the next save
            finished.append(turn)
        summary = self.disk.summary(conversation.id)
        stored = summary.turns if summary else 0
        if len(finished) <= stored:
            return
        if summary is None:
            self.disk.new(cid=conversation.id, created=conversation.created)
        for turn in finished[stored:]:
            self.disk.append(
                conversation.id, to_disk(turn, self.sampling, self.digests.get(turn.model, ""))
            )

    def list(self) -> list[Conversation]:
        """The most recent conversations, newest first, with their turns."""
        out = []
        for s in self.disk.conversations(limit=LIST_LIMIT):
            conversation = self.load(s.id)
            if conversation is not None:
                out.append(conversation)
        return out

    def load(self, conversation_id: str) -> Conversation | None:
        summary = self.disk.summary(conversation_id)
        if summary is None:
            return None
        turns = [from_disk(t) for t in self.disk.turns(conversation_id)]
        return Conversation(id=summary.id, created=summary.created, turns=turns)

    def latest(self) -> Conversation | None:
        """The conversation to resume: the one updated last."""
        cid = self.disk.latest()
        return self.load(cid) if cid else None

    def close(self) -> None:
        self.disk.close()
