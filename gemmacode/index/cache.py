"""The index's persistent cache: one SQLite file per repository, outside the work tree.

Two tables. ``files`` remembers, per path, the size and mtime last seen, the content hash and
any skip reason, so an unchanged file costs one ``stat``. ``parses`` keeps tags-query results
by content hash (and language), not by path: after switching branches and back, every file
whose content was ever indexed is found again without parsing.

SQLite in WAL mode makes each refresh one atomic transaction: a crash leaves the previous
state, and the TUI and the pre-commit hook can read and write the same cache at once (a writer
waits for the other up to ``BUSY_TIMEOUT_S``). A file that is not a usable database raises
:class:`CorruptCacheError`; the indexer then deletes and rebuilds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from gemmacode.config import IndexSettings, private_dir, user_cache_dir

SCHEMA = 1
DB_NAME = "index.sqlite"
BUSY_TIMEOUT_S = 30.0
KEEP_UNUSED_PARSES = 5000  # results for content no longer checked out, kept for branch switches


class CorruptCacheError(Exception):
    """The cache file exists but is not a usable index database."""


class FileRow(NamedTuple):
    path: str
    size: int
    mtime_ns: int
    digest: str  # "" for a file skipped before it was hashed
    language: str
    flags: str  # comma-separated, e.g. "non-utf8"
    skip: str  # a skip reason, or ""
    racy: bool  # modified too close to the scan to trust size+mtime next time


class ParseRow(NamedTuple):
    digest: str
    language: str
    blob: bytes  # marshalled tags.ParseResult fields
    flags: str


def default_cache_dir(root: Path, settings: IndexSettings) -> Path:
    """``<base>/<folder name>-<hash of the root path>``: one cache per repository.

    The base is ``index.cache_dir`` when set (relative to the root if not absolute), else the
    platform cache folder's ``index/``.
    """
    if settings.cache_dir:
        base = Path(os.path.expanduser(settings.cache_dir))
        if not base.is_absolute():
            base = root / base
    else:
        base = user_cache_dir() / "index"
    key = hashlib.blake2b(str(root).encode("utf-8", "surrogateescape"), digest_size=8)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in root.name)[:40]
    return base / f"{name or 'root'}-{key.hexdigest()}"


_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL, language TEXT NOT NULL, flags TEXT NOT NULL,
    skip TEXT NOT NULL, racy INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS parses (
    digest TEXT NOT NULL, language TEXT NOT NULL, blob BLOB NOT NULL, flags TEXT NOT NULL,
    PRIMARY KEY (digest, language)
);
CREATE INDEX IF NOT EXISTS files_by_digest ON files (digest, language);
"""


class IndexCache:
    """An open cache database. Use as a context manager; every method may raise
    :class:`CorruptCacheError`."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        self.fingerprint = fingerprint
        try:
            private_dir(directory)
            # The file holds private code: 0600 from the start (SQLite gives its -wal and
            # -shm files the database's permissions), and tightened if an older run left it
            # readable by others.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            if self.path.stat().st_mode & 0o077:
                self.path.chmod(0o600)
        except OSError as err:
            from gemmacode.errors import IndexBuildError

            raise IndexBuildError(
                f"cannot create the index cache folder {directory}: {err.strerror}",
                "set index.cache_dir to a writable folder",
            ) from err
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            with self._guard():
                _retry_locked(self._setup)
        except BaseException:
            self._db.close()
            raise

    def _setup(self) -> None:
        # WAL is a property of the file, set once. Switching to it needs an exclusive lock
        # that SQLite does not wait for (no busy handler), hence the retry around this.
        (mode,) = self._db.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA_SQL)
        self._check_meta()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError:
            raise  # locked, read-only, disk full: not the file's fault, reported as such
        except sqlite3.DatabaseError as err:  # not a database, malformed image
            raise CorruptCacheError(str(err)) from err

    def _check_meta(self) -> None:
        """Forget parse results made by other queries, grammars or Python versions."""
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema", str(SCHEMA)) != str(SCHEMA):
            raise CorruptCacheError(f"cache schema {meta.get('schema')} is not {SCHEMA}")
        wanted = f"{self.fingerprint}:{sys.version_info[:2]}"
        if meta.get("parser") != wanted:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT value FROM meta WHERE key = 'parser'").fetchone()
                if row is None or row[0] != wanted:  # another process may have just done it
                    self._db.execute("DELETE FROM parses")
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('schema', ?), ('parser', ?)",
                        (str(SCHEMA), wanted),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __enter__(self) -> IndexCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def clear(self) -> None:
        """Forget everything (``--rebuild``), in one transaction another process can wait on."""
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM files")
            self._db.execute("DELETE FROM parses")
            self._db.execute("COMMIT")

    def file_rows(self) -> dict[str, FileRow]:
        with self._guard():
            rows = self._db.execute(
                "SELECT path, size, mtime_ns, digest, language, flags, skip, racy FROM files"
            ).fetchall()
        return {r[0]: FileRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7])) for r in rows}

    def parse_keys(self) -> set[tuple[str, str]]:
        with self._guard():
            return set(self._db.execute("SELECT digest, language FROM parses").fetchall())

    def parses(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], ParseRow]:
        """The stored results for ``keys`` (those present), read in one snapshot."""
        wanted = list(set(keys))
        if not wanted:
            return {}
        with self._guard():
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS wanted (digest TEXT, language TEXT)"
                )
                self._db.execute("DELETE FROM wanted")
                self._db.executemany("INSERT INTO wanted VALUES (?, ?)", wanted)
                rows = self._db.execute(
                    "SELECT p.digest, p.language, p.blob, p.flags FROM parses p "
                    "JOIN wanted w ON p.digest = w.digest AND p.language = w.language"
                ).fetchall()
            finally:
                self._db.execute("COMMIT")
        return {(r[0], r[1]): ParseRow(*r) for r in rows}

    def add_parses(self, parses: list[ParseRow]) -> None:
        """Store parse results in their own short transaction."""
        if not parses:
            return
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO parses VALUES (?, ?, ?, ?)", (tuple(p) for p in parses)
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def write(
        self,
        upserts: Iterable[FileRow],
        deletes: Iterable[str],
        parses: Iterable[ParseRow],
    ) -> None:
        """Apply one refresh atomically, then drop the oldest unused parse results."""
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in deletes))
                self._db.executemany(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (tuple(r[:7]) + (int(r[7]),) for r in upserts),
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO parses VALUES (?, ?, ?, ?)", (tuple(p) for p in parses)
                )
                self._prune()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _prune(self) -> None:
        unused = (
            "SELECT p.rowid FROM parses p LEFT JOIN files f "
            "ON f.digest = p.digest AND f.language = p.language WHERE f.path IS NULL"
        )
        (count,) = self._db.execute(f"SELECT count(*) FROM ({unused})").fetchone()
        if count > KEEP_UNUSED_PARSES:
            self._db.execute(
                f"DELETE FROM parses WHERE rowid IN ({unused} ORDER BY p.rowid LIMIT ?)",
                (count - KEEP_UNUSED_PARSES,),
            )


def _retry_locked(action: Callable[[], None], timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Run ``action``, retrying while another process holds a lock SQLite will not wait on."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as err:
            locked = "locked" in str(err) or "busy" in str(err)
            if not locked or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def destroy(directory: Path) -> None:
    """Delete a cache database and its WAL side files (used only on a corrupt cache)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            (directory / (DB_NAME + suffix)).unlink()
