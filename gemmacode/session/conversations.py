"""Stored conversations: every question and review a front end ran, per repository.

One SQLite file per repository, in the repository's cache folder (never in the work tree):
``<cache>/index/<repo>-<hash>/conversations/conversations.sqlite``. The folder is created
0700 and the file 0600 (SQLite gives its ``-wal`` and ``-shm`` files the database's mode),
because answers quote private code.

Why SQLite in WAL mode rather than an append-only file per conversation (both measured in
``bench/bench_conversations.py``): each answer is one transaction, so a crash leaves the
previous state and never a torn record; two processes on one repository (the terminal UI and
the commit hook, or two UIs) append to the same conversation safely, each append taking the
next sequence number inside ``BEGIN IMMEDIATE``; and listing conversations is one query
instead of opening every file (measured: an append 0.13 ms against the file's 0.04 ms, both
nothing beside an answer; listing 500 conversations 1.9 ms against 32 ms).

Each answer records what is needed to reproduce it: the model and its digest (when the server
gives one), ``num_ctx``, the sampling settings and the token counts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from gemmacode.config import SamplingSettings, Settings, private_dir
from gemmacode.errors import ConversationError
from gemmacode.review.findings.model import Finding

DB_NAME = "conversations.sqlite"
BUSY_TIMEOUT_S = 30.0
SCHEMA = 1
TurnKind = Literal["ask", "review"]
T = TypeVar("T")


@dataclass(frozen=True)
class Sampling:
    """The sampling settings an answer was generated with."""

    temperature: float
    top_p: float
    top_k: int
    seed: int
    num_predict: int

    @classmethod
    def from_settings(cls, s: SamplingSettings) -> Sampling:
        return cls(s.temperature, s.top_p, s.top_k, s.seed, s.num_predict)


@dataclass(frozen=True)
class Turn:
    """One question (or review) and its answer, with what reproduces it. ``seq`` is the turn's
    place in its conversation (0-based), assigned by the store."""

    kind: TurnKind
    prompt: str  # the question, or the review's target label
    answer: str
    model: str
    num_ctx: int
    sampling: Sampling
    outcome: str = "done"  # done, cancelled or error
    error: str = ""
    model_digest: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float = 0.0
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()  # what the core said about the answer (parts left out, ...)
    at: float = field(default_factory=time.time)
    seq: int = -1


@dataclass(frozen=True)
class Summary:
    """One conversation as a list shows it."""

    id: str
    title: str
    created: float
    updated: float
    turns: int


def new_id() -> str:
    """A conversation id that sorts by creation time and never collides in practice."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def store_dir(root: Path, settings: Settings) -> Path:
    """The repository's conversations folder, beside its index cache (see
    :func:`gemmacode.index.cache.default_cache_dir`; ``index.cache_dir`` moves both)."""
    from gemmacode.index.cache import default_cache_dir

    return default_cache_dir(root.resolve(), settings.index) / "conversations"


_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, at REAL NOT NULL, kind TEXT NOT NULL, prompt TEXT NOT NULL,
    answer TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT NOT NULL,
    model TEXT NOT NULL, model_digest TEXT NOT NULL, num_ctx INTEGER NOT NULL,
    sampling TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,
    seconds REAL NOT NULL, findings TEXT NOT NULL, notes TEXT NOT NULL,
    PRIMARY KEY (conversation, seq)
);
CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations (updated);
"""


class ConversationStore:
    """The conversations of one repository. Open it with :meth:`open` (or on a folder, for
    tests); close it (or use ``with``). Safe to use from several processes at once; one
    instance belongs to one thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        try:
            private_dir(directory)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)
            os.close(fd)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise ConversationError(
                f"cannot open the conversation store {self.path}: {err}",
                "check that the cache folder is writable (index.cache_dir moves it)",
            ) from err
        try:
            self._guarded(self._setup)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open(cls, root: Path, settings: Settings) -> ConversationStore:
        return cls(store_dir(root, settings))

    def _setup(self) -> None:
        # Switching to WAL takes an exclusive lock SQLite does not wait for: retried.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                (mode,) = self._db.execute("PRAGMA journal_mode").fetchone()
                if str(mode).lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA_SQL)  # idempotent; each statement its own transaction
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        (found,) = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if found != str(SCHEMA):
            raise ConversationError(
                f"{self.path} was written by another gemmacode version (schema {found})",
                "upgrade gemmacode, or move the file aside to start a new store",
            )

    def _guarded(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except sqlite3.DatabaseError as err:
            raise ConversationError(
                f"the conversation store {self.path} is unusable ({err})",
                "move the file aside; gemmacode starts a new one",
            ) from err

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction; ``BEGIN IMMEDIATE`` takes the write lock up front so two
        writers queue (up to ``BUSY_TIMEOUT_S``) instead of failing on upgrade."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the operations ---------------------------------------------------------------

    def new(self, title: str = "", *, cid: str = "", created: float = 0.0) -> str:
        """Start a conversation; returns its id (``cid`` when given, else a new one from
        :func:`new_id`). The title defaults to the first prompt."""
        cid = cid or new_id()
        now = time.time()

        def run() -> None:
            with self._write():
                self._db.execute(
                    "INSERT INTO conversations VALUES (?, ?, ?, ?)",
                    (cid, title, created or now, now),
                )

        self._guarded(run)
        return cid

    def append(self, conversation: str, turn: Turn) -> Turn:
        """Add ``turn`` at the end of ``conversation``; returns it with its ``seq``."""

        def run() -> int:
            with self._write():
                row = self._db.execute(
                    "SELECT title FROM conversations WHERE id=?", (conversation,)
                ).fetchone()
                if row is None:
                    raise ConversationError(
                        f"no conversation '{conversation}' in {self.path}",
                        "list them with /sessions, or start one with /new",
                    )
                (seq,) = self._db.execute(
                    "SELECT COALESCE(MAX(seq) + 1, 0) FROM turns WHERE conversation=?",
                    (conversation,),
                ).fetchone()
                self._db.execute(
                    "INSERT INTO turns VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (conversation, seq, *_turn_row(turn)),
                )
                self._db.execute(
                    "UPDATE conversations SET updated=?, title=? WHERE id=?",
                    (max(turn.at, time.time()), row[0] or _title(turn.prompt), conversation),
                )
                return int(seq)

        seq = self._guarded(run)
        return _replace_seq(turn, seq)

    def conversations(self, limit: int = 50) -> list[Summary]:
        """The most recently updated conversations first."""
        rows = self._guarded(
            lambda: self._db.execute(
                "SELECT c.id, c.title, c.created, c.updated, COUNT(t.seq) FROM conversations c "
                "LEFT JOIN turns t ON t.conversation = c.id GROUP BY c.id "
                "ORDER BY c.updated DESC, c.created DESC LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [Summary(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def latest(self) -> str | None:
        """The conversation to resume: the most recently updated one, or None."""
        found = self.conversations(limit=1)
        return found[0].id if found else None

    def summary(self, conversation: str) -> Summary | None:
        found = self._guarded(
            lambda: self._db.execute(
                "SELECT c.id, c.title, c.created, c.updated, COUNT(t.seq) FROM conversations c "
                "LEFT JOIN turns t ON t.conversation = c.id WHERE c.id=? GROUP BY c.id",
                (conversation,),
            ).fetchone()
        )
        return Summary(*found) if found else None

    def turns(self, conversation: str) -> list[Turn]:
        """Every turn of ``conversation`` in order (empty for an unknown id)."""
        rows = self._guarded(
            lambda: self._db.execute(
                "SELECT seq, at, kind, prompt, answer, outcome, error, model, model_digest, "
                "num_ctx, sampling, prompt_tokens, completion_tokens, seconds, findings, notes "
                "FROM turns WHERE conversation=? ORDER BY seq",
                (conversation,),
            ).fetchall()
        )
        return [_row_turn(r) for r in rows]

    def history(self, conversation: str) -> tuple[tuple[str, str], ...]:
        """The (question, answer) pairs ``CoreSession.ask(history=...)`` takes: completed
        questions only (reviews and cut-short answers would mislead the model)."""
        return tuple(
            (t.prompt, t.answer)
            for t in self.turns(conversation)
            if t.kind == "ask" and t.outcome == "done"
        )

    def delete(self, conversation: str) -> bool:
        """Remove a conversation and its turns; False if there was none."""

        def run() -> bool:
            with self._write():
                cur = self._db.execute("DELETE FROM conversations WHERE id=?", (conversation,))
                return cur.rowcount > 0

        return self._guarded(run)


def _title(prompt: str) -> str:
    """A conversation's default title: the first line of its first prompt, shortened."""
    lines = prompt.strip().splitlines()
    return lines[0][:80] if lines else ""


def _turn_row(t: Turn) -> tuple[Any, ...]:
    return (
        t.at,
        t.kind,
        t.prompt,
        t.answer,
        t.outcome,
        t.error,
        t.model,
        t.model_digest,
        t.num_ctx,
        json.dumps(t.sampling.__dict__),
        t.prompt_tokens,
        t.completion_tokens,
        t.seconds,
        json.dumps([f.to_dict() for f in t.findings]),
        json.dumps(list(t.notes)),
    )


def _row_turn(r: Sequence[Any]) -> Turn:
    return Turn(
        seq=r[0],
        at=r[1],
        kind=r[2],
        prompt=r[3],
        answer=r[4],
        outcome=r[5],
        error=r[6],
        model=r[7],
        model_digest=r[8],
        num_ctx=r[9],
        sampling=Sampling(**json.loads(r[10])),
        prompt_tokens=r[11],
        completion_tokens=r[12],
        seconds=r[13],
        findings=tuple(Finding(**f) for f in json.loads(r[14])),
        notes=tuple(json.loads(r[15])),
    )


def _replace_seq(turn: Turn, seq: int) -> Turn:
    return dataclasses.replace(turn, seq=seq)
