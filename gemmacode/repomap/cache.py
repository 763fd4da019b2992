"""On-disk cache for the repo map: graphs, rankings and finished maps, keyed by what they
depend on.

Building the identifier graph and ranking thousands of files is pure Python and loading the
tokenizer is most of a tenth of a second, while a warm index of an unchanged repository asks
the same question every time. So the map keeps, in a folder of its own, the identifier graph
for each fingerprint, the ranking for each (fingerprint, focus, question) and the finished
map for each (fingerprint, focus, question, budget, counter). The fingerprint covers every
file's path and content hash, the version of the tags extraction and of the map's own code,
so any edit, added or removed file, grammar/query upgrade or new gemmacode misses the cache.

Entries are marshalled plain data (a ranking is tens of thousands of numbers: JSON took a
tenth of a second to write it), written to a temporary file and moved into place with
``os.replace``: a crash or a second process never leaves half an entry, and a damaged entry
reads as a miss. Only the newest :data:`KEEP` entries of each kind are kept (of the
identifier graphs, megabytes each, the newest two).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from gemmacode.config import private_dir
from gemmacode.index.model import FileRecord

VERSION = 3
KEEP = 16
KEEP_KIND = {"graph": 2}  # a graph is megabytes; rankings and maps are small
SUFFIX = ".marshal"


@cache
def _tags_version() -> str:
    """The index's tags fingerprint: changes with queries, grammars and the tags format."""
    try:
        from gemmacode.index.tags import fingerprint as tags_fingerprint
    except ImportError:
        return ""
    return str(tags_fingerprint())


@cache
def _code_version() -> str:
    """Size and mtime of the modules that rank and render: an upgraded or edited gemmacode
    never serves a map made by the old code."""
    from gemmacode.index import pathkind
    from gemmacode.repomap import build, graph, graphdoc, pagerank, render, weights

    parts = []
    for module in (graphdoc, graph, render, pagerank, build, weights, pathkind):
        try:
            st = os.stat(str(module.__file__))
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append("?")
    return ",".join(parts)


def code_version() -> str:
    """What besides the files a cached entry depends on: this cache's format, the tags
    extraction and the map's code."""
    return f"v{VERSION}\0{_tags_version()}\0{_code_version()}"


def fingerprint(records: Mapping[str, FileRecord]) -> str:
    """A stable digest of the files the map is made from: paths, content hashes, the tags
    extraction version and the map code's version (no symbol needs decoding for it)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{code_version()}\n".encode())
    for path in sorted(records):
        h.update(f"{path}\0{records[path].digest}\n".encode())
    return h.hexdigest()


def _entry(cache_dir: Path, kind: str, key: str) -> Path:
    digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    return cache_dir / f"{kind}-{digest}{SUFFIX}"


def load(cache_dir: Path, kind: str, key: str) -> dict[str, Any] | None:
    """The entry stored under ``key``, or None when absent, unreadable or for another key."""
    try:
        doc = marshal.loads(_entry(cache_dir, kind, key).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key:
        return None
    return doc


def newest(cache_dir: Path, kind: str) -> dict[str, Any] | None:
    """The most recently written entry of ``kind`` whatever its key, or None."""
    entries: list[tuple[int, Path]] = []
    for entry in cache_dir.glob(f"{kind}-*{SUFFIX}"):
        try:
            entries.append((entry.stat().st_mtime_ns, entry))
        except OSError:
            continue
    if not entries:
        return None
    try:
        doc = marshal.loads(max(entries)[1].read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return doc if isinstance(doc, dict) else None


def store(cache_dir: Path, kind: str, key: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` under ``key`` atomically; failures only cost the next run some time."""
    path = _entry(cache_dir, kind, key)
    try:
        private_dir(cache_dir)  # 0700; mkstemp makes the file 0600
        fd, tmp = tempfile.mkstemp(prefix=f".{kind}-", dir=cache_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(marshal.dumps({**doc, "key": key}))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(cache_dir, kind)
    except OSError:
        return


def _prune(cache_dir: Path, kind: str) -> None:
    aged: list[tuple[int, Path]] = []
    for entry in cache_dir.glob(f"{kind}-*{SUFFIX}"):
        try:
            aged.append((entry.stat().st_mtime_ns, entry))
        except OSError:
            continue  # removed by another process meanwhile
    aged.sort()
    for _, old in aged[: -KEEP_KIND.get(kind, KEEP)]:
        old.unlink(missing_ok=True)
