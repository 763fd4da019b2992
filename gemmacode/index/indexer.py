"""Build or refresh the repository index: :func:`open_index` returns a :class:`RepoIndex`.

A refresh lists the files (``files.py``), trusts every file whose size and mtime match the
cache, reads and hashes the rest, and parses only content whose hash the cache has never seen
(``cache.py``). A cold index reads and parses source files in worker processes while the
main process reads the rest (``workers.py``); small refreshes stay in-process, where starting
workers would cost more than it saves. Parse results stay marshalled bytes until something
asks for symbols, so a warm refresh that nobody queries never builds them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gemmacode.config import IndexSettings
from gemmacode.errors import IndexBuildError
from gemmacode.index import cache as cache_mod
from gemmacode.index import files as files_mod
from gemmacode.index import workers as workers_mod
from gemmacode.index.cache import FileRow, IndexCache, ParseRow
from gemmacode.index.languages import LANGUAGES
from gemmacode.index.model import FileRecord, Reference, Skipped, Symbol
from gemmacode.index.parsed import (
    SymbolTuple,
    count_tags,
    load_records,
    load_tags,
    symbols_from,
)
from gemmacode.index.workers import Progress

POOL_MIN_FILES = 48  # fewer stale source files than this parse in-process
POOL_MIN_BYTES = 512 * 1024
STORE_BYTES = 1024 * 1024  # new parse results committed in groups of about this size
RACY_WINDOW_NS = 2_000_000_000  # mtimes this close to the scan are re-hashed next time
CONTENT_SKIPS = frozenset({"binary", "generated", "minified"})


@dataclass
class IndexStats:
    """What a refresh did, for ``gemmacode index`` and the benchmarks."""

    files: int = 0
    skipped: int = 0
    hashed: int = 0  # read and hashed because size/mtime changed (or never seen)
    parsed: int = 0  # parsed because the content hash was new
    workers: int = 0  # processes used for parsing; 0 = in-process
    from_git: bool = False
    seconds: float = 0.0
    cache_path: str = ""


def _worker_count(settings: IndexSettings) -> int:
    if settings.workers > 0:
        return settings.workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def open_index(
    root: Path,
    settings: IndexSettings,
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
    rebuild: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> RepoIndex:
    """Refresh the index of ``root`` from its cache and return it.

    ``cache_dir`` is the exact cache folder (default from :func:`cache.default_cache_dir`).
    ``progress`` draws a bar on stderr when it is a terminal. ``rebuild`` forgets the cache
    first. ``on_progress(done, total)`` hears the same progress as the bar (files read of
    those that changed), for front ends that draw their own. A corrupt cache file is
    deleted and rebuilt rather than reported.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise IndexBuildError(f"{root} is not a folder", "pass --root with a project folder")
    folder = (cache_dir or cache_mod.default_cache_dir(root, settings)).resolve()
    try:
        with workers_mod.gc_paused():
            try:
                return _refresh(root, settings, folder, progress, rebuild, on_progress)
            except cache_mod.CorruptCacheError:
                cache_mod.destroy(folder)
            try:
                return _refresh(root, settings, folder, progress, rebuild, on_progress)
            except cache_mod.CorruptCacheError as err:
                raise IndexBuildError(
                    f"the index cache {folder / cache_mod.DB_NAME} is damaged ({err})",
                    "delete that folder and run gemmacode index again",
                ) from err
    except sqlite3.OperationalError as err:
        raise IndexBuildError(
            f"the index cache {folder / cache_mod.DB_NAME} is unusable ({err})",
            "close other gemmacode processes, or run gemmacode index --rebuild",
        ) from err


def _refresh(
    root: Path,
    settings: IndexSettings,
    folder: Path,
    progress: bool,
    rebuild: bool,
    on_progress: Callable[[int, int], None] | None = None,
) -> RepoIndex:
    from gemmacode.index.tags import fingerprint

    started = time.perf_counter()
    scan_ns = time.time_ns()
    ignore = []
    if folder.is_relative_to(root):
        ignore.append(folder.relative_to(root).as_posix())
    records: dict[str, FileRecord] = {}
    upserts: list[FileRow] = []
    with contextlib.ExitStack() as stack:
        opened: list[tuple[IndexCache, dict[str, FileRow]]] = []

        def open_cache() -> None:
            """Open the cache while git lists the files (it needs no listing); a cache with
            no files means a cold index, so also import what starting workers takes."""
            db = stack.enter_context(IndexCache(folder, fingerprint()))
            if rebuild:
                db.clear()
            rows = db.file_rows()
            if not rows:
                workers_mod.preload()
            opened.append((db, rows))

        listing = files_mod.list_files(
            root,
            max_file_bytes=settings.max_file_bytes,
            exclude=settings.exclude,
            ignore_dirs=ignore,
            while_listing=open_cache,
        )
        if not opened:  # a stand-in listing that ignored the callback
            open_cache()
        db, rows = opened[0]
        stats = IndexStats(from_git=listing.from_git, cache_path=str(folder / cache_mod.DB_NAME))
        skipped = list(listing.skipped)
        stale = _reuse(listing.candidates, rows, records, skipped)
        new_parses: dict[tuple[str, str], ParseRow] = {}
        pending: list[ParseRow] = []
        pending_bytes = 0

        def store(parsed: list[ParseRow], flush: bool = False) -> None:
            """Keep new results; commit them (content-addressed: safe before the file rows)
            a few MiB at a time while the workers parse, since each commit costs the main
            process time the workers could use."""
            nonlocal pending_bytes
            for row in parsed:
                new_parses[(row.digest, row.language)] = row
                pending_bytes += len(row.blob)
            pending.extend(parsed)
            if pending and (flush or pending_bytes >= STORE_BYTES):
                db.add_parses(pending)
                pending.clear()
                pending_bytes = 0

        if stale:
            _read_stale(
                stale,
                db,
                settings,
                records,
                skipped,
                upserts,
                scan_ns,
                progress,
                stats,
                store,
                on_progress,
            )
            store([], flush=True)
        stored = len(new_parses)
        blobs = _attach_parses(root, db, records, new_parses, skipped, upserts, stats)
        late = list(new_parses.values())[stored:]  # parsed again in _attach_parses
        present = set(records) | {s.path for s in skipped}
        deletes = [p for p in rows if p not in present]
        if upserts or deletes or late:
            db.write(upserts, deletes, late)
    skipped.sort(key=lambda s: s.path)
    stats.files = len(records)
    stats.skipped = len(skipped)
    stats.seconds = time.perf_counter() - started
    return RepoIndex(root, dict(sorted(records.items())), skipped, blobs, stats)


def _reuse(
    candidates: list[files_mod.Candidate],
    rows: dict[str, FileRow],
    records: dict[str, FileRecord],
    skipped: list[Skipped],
) -> list[files_mod.Candidate]:
    """Take every file whose size and mtime match the cache as is; return the others."""
    stale: list[files_mod.Candidate] = []
    for c in candidates:
        row = rows.get(c.path)
        if row is None or row.racy or row.size != c.size or row.mtime_ns != c.mtime_ns:
            stale.append(c)
        elif row.skip:
            skipped.append(Skipped(c.path, row.skip))
        else:
            flags = row.flags.split(",") if row.flags else []
            records[c.path] = FileRecord(
                c.path, row.language, c.size, c.mtime_ns, row.digest, flags=flags
            )
    return stale


def _attach_parses(
    root: Path,
    db: IndexCache,
    records: dict[str, FileRecord],
    new_parses: dict[tuple[str, str], ParseRow],
    skipped: list[Skipped],
    upserts: list[FileRow],
    stats: IndexStats,
) -> dict[str, bytes]:
    """The parse result of every source file, by path: fresh ones, else from the cache.

    A result the cache no longer has (another process pruned it) is parsed again here; new
    results are added to ``new_parses`` for writing.
    """
    keys = {(r.digest, r.language) for r in records.values() if r.language in LANGUAGES}
    stored = db.parses(keys - new_parses.keys())
    blobs: dict[str, bytes] = {}
    for path, rec in list(records.items()):
        if rec.language not in LANGUAGES:
            continue
        key = (rec.digest, rec.language)
        hit = new_parses.get(key) or stored.get(key)
        if hit is None:
            try:
                data = Path(root, path).read_bytes()
            except OSError:
                del records[path]
                skipped.append(Skipped(path, "vanished"))
                continue
            rec.digest = workers_mod.digest(data)
            hit = ParseRow(rec.digest, rec.language, *workers_mod.parse_one(rec.language, data))
            new_parses[(rec.digest, rec.language)] = hit
            upserts.append(
                FileRow(path, rec.size, rec.mtime_ns, rec.digest, rec.language, "", "", True)
            )
            stats.parsed += 1
        blobs[path] = hit.blob
        for flag in hit.flags.split(",") if hit.flags else []:
            if flag not in rec.flags:
                rec.flags.append(flag)
    return blobs


def _read_stale(
    stale: list[files_mod.Candidate],
    db: IndexCache,
    settings: IndexSettings,
    records: dict[str, FileRecord],
    skipped: list[Skipped],
    upserts: list[FileRow],
    scan_ns: int,
    progress: bool,
    stats: IndexStats,
    store: Callable[[list[ParseRow]], None],
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Read, hash and (for content never parsed) parse the changed files.

    With enough source to parse, its paths go to worker processes, largest first so the
    last batches are short and the workers finish together, while this process reads the
    files without a grammar; parse results go to ``store`` batch by batch as they arrive.
    """
    known = db.parse_keys()
    source = [c for c in stale if files_mod.language_of(c.path) in LANGUAGES]
    source_bytes = sum(c.size for c in source)
    workers = _worker_count(settings)
    if len(source) < POOL_MIN_FILES or source_bytes < POOL_MIN_BYTES:
        workers = 1
    stats.workers = workers if workers > 1 else 0
    by_path = {c.path: c for c in stale}
    bar = Progress(len(stale), enabled=progress, report=on_progress)

    def take(outcomes: list[workers_mod.Outcome]) -> None:
        parses: list[ParseRow] = []
        for o in outcomes:
            c = by_path[o.path]
            racy = c.mtime_ns >= scan_ns - RACY_WINDOW_NS
            if o.digest:
                stats.hashed += 1
            if o.reason:
                skipped.append(Skipped(o.path, o.reason))
                if o.reason in CONTENT_SKIPS:  # remembered, so an unchanged file is not reread
                    upserts.append(FileRow(o.path, c.size, c.mtime_ns, "", "", "", o.reason, racy))
                continue
            row_flags = o.flags
            if o.blob is not None:  # parse flags live with the parse result
                parses.append(ParseRow(o.digest, o.language, o.blob, o.flags))
                stats.parsed += 1
                row_flags = ""
            records[o.path] = FileRecord(
                o.path, o.language, c.size, c.mtime_ns, o.digest, flags=_split(row_flags)
            )
            upserts.append(
                FileRow(o.path, c.size, c.mtime_ns, o.digest, o.language, row_flags, "", racy)
            )
        store(parses)

    max_bytes = settings.max_file_bytes
    try:
        if workers > 1:
            source.sort(key=lambda c: -c.size)
            languages = {files_mod.language_of(c.path) for c in source}
            pool = workers_mod.Pool(workers, max_bytes, known, languages)
            items = [(c.path, c.abspath, c.size) for c in source]
            for batch in workers_mod.batches(items, workers):
                pool.submit(batch)
            in_source = {c.path for c in source}
            rest = [c for c in stale if c.path not in in_source]
        else:
            pool, rest = None, stale
        local = 0  # files done in this process
        for c in rest:
            bar.update(local + (pool.done if pool else 0))
            outcome = workers_mod.process(c.path, c.abspath, max_bytes, known)
            if outcome.blob is not None:  # the same content elsewhere: parsed once
                known.add((outcome.digest, outcome.language))
            take([outcome])
            local += 1
        if pool is not None:
            done_here = local
            for outcomes in pool.results(lambda: bar.update(done_here + pool.done)):
                take(outcomes)
    finally:
        bar.close()


def _split(flags: str) -> list[str]:
    return flags.split(",") if flags else []


class RepoIndex:
    """The indexed repository: file records, skipped files, symbol lookups.

    Symbols stay marshalled until asked for, file by file: ``find_symbol`` and ``enclosing``
    decode one file, ``files``, ``symbols()``, ``definitions`` and ``references_to`` decode
    them all (once). ``paths()``, ``records()``, ``counts()``, ``skipped`` and ``stats`` never
    decode anything.
    """

    def __init__(
        self,
        root: Path,
        records: dict[str, FileRecord],
        skipped: list[Skipped],
        blobs: dict[str, bytes],
        stats: IndexStats,
    ) -> None:
        self.root = root
        self.skipped = skipped
        self.stats = stats
        self._records = records
        self._blobs = blobs  # path -> marshalled symbols not decoded yet
        self._defs: dict[str, list[tuple[str, SymbolTuple]]] | None = None
        self._refs: dict[str, list[Reference]] | None = None

    @property
    def files(self) -> dict[str, FileRecord]:
        """Every indexed file by root-relative POSIX path, sorted, with symbols filled in."""
        if self._blobs:
            with workers_mod.gc_paused():
                for path in list(self._blobs):
                    self._decode(path)
        return self._records

    def paths(self) -> list[str]:
        """The indexed paths without decoding any symbols."""
        return list(self._records)

    def records(self) -> dict[str, FileRecord]:
        """Like ``files`` but without filling in symbols that are not decoded yet."""
        return self._records

    def record(self, path: str) -> FileRecord | None:
        """One file's record with its symbols, decoding only that file."""
        if path in self._blobs:
            self._decode(path)
        return self._records.get(path)

    def counts(self) -> dict[str, tuple[int, int]]:
        """(symbols, references) per file, without building symbol objects not built yet:
        a summary should not pay for objects it never looks at."""
        out = {p: (len(r.symbols), len(r.references)) for p, r in self._records.items()}
        for path in list(self._blobs):
            try:
                out[path] = count_tags(self._blobs[path])
            except (ValueError, EOFError, TypeError):
                rec = self._decode(path)
                out[path] = (len(rec.symbols), len(rec.references))
        return out

    def tags_of(self, path: str) -> tuple[list[SymbolTuple], list[str]]:
        """One file's definitions as tag tuples (``model.Symbol``'s fields without the file)
        and the names it references, one per reference; empty for a file not indexed.

        Builds no ``Symbol`` or ``Reference`` object and keeps the file undecoded: the repo
        map ranks tens of thousands of definitions and renders a few hundred, and building
        objects for all of them costs more than ranking them.
        """
        blob = self._blobs.get(path)
        if blob is not None:
            try:
                stored = load_tags(blob)
                return stored.symbols, stored.ref_names
            except (ValueError, EOFError, TypeError):
                pass  # a damaged entry: decoding parses the file again
        rec = self.record(path)
        if rec is None:
            return [], []
        return [SymbolTuple.of(s) for s in rec.symbols], [r.name for r in rec.references]

    def tag_tuples(self) -> dict[str, tuple[list[SymbolTuple], list[str]]]:
        """:meth:`tags_of` for every file, sorted by path."""
        with workers_mod.gc_paused():
            return {path: self.tags_of(path) for path in self._records}

    def _decode(self, path: str) -> FileRecord:
        from gemmacode.index.tags import parse_tags

        rec = self._records[path]
        blob = self._blobs.pop(path)
        try:
            rec.symbols, rec.references = load_records(blob, path)
        except (ValueError, EOFError, TypeError):  # a damaged entry: parse the file again
            result = parse_tags(self.read_text(path).encode("utf-8"), rec.language)
            rec.symbols, rec.references = symbols_from(result, path)
        return rec

    def read_text(self, path: str) -> str:
        """The file's current text (undecodable bytes replaced), read from the work tree."""
        full = (self.root / path).resolve()
        if not full.is_relative_to(self.root):
            raise IndexBuildError(f"{path} is outside {self.root}", "use a path inside the project")
        try:
            data = full.read_bytes()
        except OSError as err:
            raise IndexBuildError(
                f"cannot read {path}: {err.strerror}", "run gemmacode index to refresh"
            ) from err
        return files_mod.decode(data)[0]

    def symbols(self) -> Iterator[Symbol]:
        for rec in self.files.values():
            yield from rec.symbols

    def definitions(self, name: str) -> list[Symbol]:
        """Every definition called ``name`` (the last part of its scope path).

        The table behind it holds tag tuples and decodes no file: a question names a few
        identifiers, and building every symbol and reference of a large repository to find
        them cost hundreds of MiB (18,000 files: 55 -> 700 MiB)."""
        if self._defs is None:
            defs: dict[str, list[tuple[str, SymbolTuple]]] = {}
            with workers_mod.gc_paused():
                for path, rec in self._records.items():
                    tags = self.tags_of(path)[0] if path in self._blobs else None
                    if tags is None:
                        tags = [SymbolTuple.of(sym) for sym in rec.symbols]
                    for tag in tags:
                        defs.setdefault(tag.name, []).append((path, tag))
            self._defs = defs
        return [tag.symbol(path) for path, tag in self._defs.get(name, ())]

    def references_to(self, name: str) -> list[Reference]:
        if self._refs is None:
            refs: dict[str, list[Reference]] = {}
            for rec in self.files.values():
                for ref in rec.references:
                    refs.setdefault(ref.name, []).append(ref)
            self._refs = refs
        return list(self._refs.get(name, ()))

    def find_symbol(self, path: str, scope: str) -> Symbol | None:
        """The definition at scope path ``scope`` (such as ``Class.method``) in ``path``."""
        rec = self.record(path)
        if rec is None:
            return None
        return next((s for s in rec.symbols if s.scope == scope), None)

    def enclosing(self, path: str, line: int) -> Symbol | None:
        """The innermost definition in ``path`` whose lines contain ``line``."""
        rec = self.record(path)
        if rec is None:
            return None
        best: Symbol | None = None
        for sym in rec.symbols:
            if sym.start_line <= line <= sym.end_line and (
                best is None
                or (sym.end_line - sym.start_line, -sym.start_line)
                < (best.end_line - best.start_line, -best.start_line)
            ):
                best = sym
        return best


__all__ = ["IndexStats", "Progress", "RepoIndex", "open_index"]
