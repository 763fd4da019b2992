"""Reading, hashing and parsing changed files, in worker processes or in-process.

One function, :func:`process`, turns a path into an :class:`Outcome`: read (binary files
only sniffed), hashed, checked for the content skips, its language found and, when the
content hash is not already in the cache, parsed into its stored form (``parsed.dump_tags``). Worker
processes run exactly the same function on batches of paths, so a cold index sends paths to
the workers (not file bytes) and the main process only reads the files without a grammar.

Workers are forked on Linux, inheriting the grammars, the compiled queries and the set of
content hashes already parsed; with other threads running (the TUI) forking is unsafe, so
they are spawned and receive the same through an initializer.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from typing import IO, TYPE_CHECKING, NamedTuple

from gemmacode.index import files as files_mod
from gemmacode.index.languages import LANGUAGES
from gemmacode.index.parsed import dump_tags

if TYPE_CHECKING:  # imported by Pool: a warm index never starts workers
    from concurrent.futures import Future


class Outcome(NamedTuple):
    """What the index learns from one changed file; sent back from a worker process (a
    tuple: thousands of them cross the pipe in a cold index)."""

    path: str
    digest: str  # "" when skipped unread
    language: str
    reason: str  # a skip reason, "" when indexed
    flags: str  # comma-separated, e.g. "non-utf8"
    blob: bytes | None  # parsed.dump_tags of the parse; None when not parsed here


Key = tuple[str, str]  # (digest, language): what a parse result is stored under

_known: Collection[Key] = frozenset()  # in a worker: content already parsed, never redone


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector. Indexing allocates hundreds of thousands of small
    objects without cycles; every automatic collection walks them all again (measured on
    Django: 15% of parsing time, a third of decoding time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def parse_one(language: str, data: bytes) -> tuple[bytes, str]:
    """(stored tags result, flags) for one file's bytes."""
    from gemmacode.index.tags import parse_tags

    non_utf8 = not files_mod.is_utf8(data)
    if non_utf8:
        data = files_mod.decode(data)[0].encode("utf-8")
    result = parse_tags(data, language)
    flags = (["non-utf8"] if non_utf8 else []) + (["parse-errors"] if result.has_error else [])
    return dump_tags(result), ",".join(flags)


def process(path: str, abspath: str, max_bytes: int, known: Collection[Key]) -> Outcome:
    """Everything the index needs from one changed file (see the module docstring)."""
    reason, data = files_mod.examine(abspath, max_bytes)
    if reason:
        return Outcome(path, "", "", reason, "", None)
    content = digest(data)
    language = files_mod.detect_language(path, data)
    if language not in LANGUAGES:
        flags = "" if files_mod.is_utf8(data) else "non-utf8"
        return Outcome(path, content, language, "", flags, None)
    if (content, language) in known:
        return Outcome(path, content, language, "", "", None)
    blob, flags = parse_one(language, data)
    return Outcome(path, content, language, "", flags, blob)


def preload() -> None:
    """Import what starting worker processes needs (a few hundredths of a second), so a cold
    index can pay it while git lists the files."""
    import concurrent.futures.process  # noqa: F401
    import multiprocessing.context  # noqa: F401


def _init(known: Collection[Key], languages: Collection[str]) -> None:
    global _known
    _known = known
    warm(languages)


def warm(languages: Collection[str]) -> None:
    """Load the grammars and compile the queries a parse will need."""
    from gemmacode.index.tags import get_query

    for language in languages:
        get_query(language)


def _process_batch(batch: list[tuple[str, str]], max_bytes: int) -> list[Outcome]:
    with gc_paused():
        return [process(path, abspath, max_bytes, _known) for path, abspath in batch]


class Pool:
    """Worker processes fed batches of paths; results are collected in submission order."""

    def __init__(
        self, workers: int, max_bytes: int, known: Collection[Key], languages: Collection[str]
    ) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.max_bytes = max_bytes
        self.done = 0  # files finished, updated from the pool's callback thread
        self._lock = threading.Lock()
        self._futures: list[tuple[Future[list[Outcome]], list[tuple[str, str]]]] = []
        use_fork = sys.platform == "linux" and threading.active_count() == 1
        if use_fork:
            _init(frozenset(known), languages)  # inherited by the forked workers
            self._pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("fork")
            )
        else:
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=(frozenset(known), set(languages)),
            )

    def submit(self, batch: list[tuple[str, str]]) -> None:
        future = self._pool.submit(_process_batch, batch, self.max_bytes)
        n = len(batch)
        future.add_done_callback(lambda _f: self._count(n))
        self._futures.append((future, batch))

    def _count(self, n: int) -> None:
        with self._lock:
            self.done += n

    def results(self, tick: Callable[[], None]) -> Iterator[list[Outcome]]:
        """Each batch's outcomes as it completes, in order; ``tick`` runs while waiting. A
        batch whose worker died is redone in this process."""
        try:
            for future, batch in self._futures:
                while True:
                    try:
                        outcomes = future.result(timeout=0.1)
                        break
                    except TimeoutError:
                        tick()
                    except Exception:
                        outcomes = [process(p, a, self.max_bytes, _known) for p, a in batch]
                        break
                yield outcomes
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


FILE_COST = 512  # a file's fixed cost (open, parser run, cursor, transfer) in bytes' worth


def batches(
    items: list[tuple[str, str, int]],
    workers: int,
    *,
    min_bytes: int = 16 * 1024,
    max_bytes: int = 512 * 1024,
) -> Iterator[list[tuple[str, str]]]:
    """(path, abspath) batches of ``items`` (path, abspath, size; largest first) that shrink
    with the work left: each is about an eighth of one worker's share of what remains,
    between ``min_bytes`` and ``max_bytes``. Early batches are few and large (cheap to hand
    out); the last ones are small, so the workers finish together and the final result the
    main process waits for, and then stores, is short."""
    left = sum(nbytes + FILE_COST for _path, _abspath, nbytes in items)
    share = workers * 8

    def target() -> int:
        return max(min_bytes, min(max_bytes, left // share))

    goal = target()
    batch: list[tuple[str, str]] = []
    size = 0
    for path, abspath, nbytes in items:
        batch.append((path, abspath))
        size += nbytes + FILE_COST
        if size >= goal:
            yield batch
            left -= size
            batch, size = [], 0
            goal = target()
    if batch:
        yield batch


class Progress:
    """A one-line bar on a terminal's stderr, redrawn at most ten times a second; silent
    when the stream is not a terminal (piped, captured, CI)."""

    def __init__(
        self,
        total: int,
        stream: IO[str] | None = None,
        enabled: bool = True,
        *,
        report: Callable[[int, int], None] | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and total > 0 and self.stream.isatty()
        self.total = total
        self.report = report  # (done, total), at the same pace as the bar, for front ends
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled and self.report is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if self.report is not None:
            self.report(min(done, self.total), self.total)
        if not self.enabled:
            return
        width = 30
        filled = int(width * min(done, self.total) / self.total)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\rindexing [{bar}] {done}/{self.total} files")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
