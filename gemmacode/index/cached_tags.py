"""Tags of a few files, taken from the index cache when the same content was indexed.

A ``review --staged`` needs the tags of the changed files and of a dozen related ones, and
parsing them (tree-sitter plus the tags query, ~25 ms for one 100 KB file) was a large part of
the time before its request leaves. The index cache already holds the result for any content
it has seen, keyed by content hash (:mod:`gemmacode.index.cache`), so :class:`CachedTags`
hashes the text it is given and reads that one result instead, without opening or refreshing
the whole index. Content-addressed means always right for exactly these bytes: a file edited
since it was indexed simply hashes to a key that is not there, and is parsed.

The cache is opened read-only, and only when the first lookup happens; a missing cache, one
made by other queries, grammars or Python (its fingerprint differs) or any SQLite error just
means every file is parsed, as :func:`gemmacode.index.tags.extract_tags` does.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from pathlib import Path

from gemmacode.config import IndexSettings
from gemmacode.index import cache as cache_mod
from gemmacode.index.languages import LANGUAGES
from gemmacode.index.model import Reference, Symbol
from gemmacode.index.parsed import load_records
from gemmacode.index.tags import extract_tags, fingerprint


def content_key(data: bytes) -> str:
    """The content hash the index stores parse results under (``workers.digest``; that
    module is not imported here because it loads multiprocessing, ~20 ms)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class CachedTags:
    """A tags function (``(text, language, path) -> (symbols, references)``, like
    :func:`~gemmacode.index.tags.extract_tags`) that reads the index cache of ``root`` first.

    ``hits`` and ``misses`` count lookups answered from the cache and parses. Call
    :meth:`close` when done (a context manager too).
    """

    def __init__(
        self, root: Path, settings: IndexSettings, *, cache_dir: Path | None = None
    ) -> None:
        self.path = (cache_dir or cache_mod.default_cache_dir(root, settings)) / cache_mod.DB_NAME
        self.hits = 0
        self.misses = 0
        self._db: sqlite3.Connection | None = None
        self._opened = False

    def _open(self) -> sqlite3.Connection | None:
        if self._opened:
            return self._db
        self._opened = True
        if not self.path.is_file():
            return None
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(self.path.as_uri() + "?mode=ro", uri=True, timeout=1.0)
            row = db.execute("SELECT value FROM meta WHERE key = 'parser'").fetchone()
            if row is None or row[0] != f"{fingerprint()}:{sys.version_info[:2]}":
                db.close()  # results of other queries or grammars: not ours to use
                return None
        except sqlite3.Error:
            if db is not None:
                db.close()
            return None
        self._db = db
        return db

    def _lookup(
        self, data: bytes, language: str, path: str
    ) -> tuple[list[Symbol], list[Reference]] | None:
        db = self._open()
        if db is None:
            return None
        try:
            row = db.execute(
                "SELECT blob, flags FROM parses WHERE digest = ? AND language = ?",
                (content_key(data), language),
            ).fetchone()
        except sqlite3.Error:
            return None
        # A non-UTF-8 file was parsed after transcoding: not these bytes.
        if row is None or "non-utf8" in str(row[1]).split(","):
            return None
        try:
            return load_records(row[0], path)
        except (ValueError, EOFError, TypeError):
            return None

    def __call__(self, text: str, language: str, path: str) -> tuple[list[Symbol], list[Reference]]:
        if language in LANGUAGES:
            found = self._lookup(text.encode("utf-8", "replace"), language, path)
            if found is not None:
                self.hits += 1
                return found
            self.misses += 1
        return extract_tags(text, language, path)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> CachedTags:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
