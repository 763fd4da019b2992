"""The repo map: the most important definitions of a repository, fitted to N tokens.

``build_map`` ranks every definition (:mod:`gemmacode.index.mapgraph`: a file graph of shared
identifiers and a personalised PageRank) and renders the best-ranked signatures under their
file paths (:mod:`gemmacode.index.maprender`), never over the budget and filled to at least
90% of it when the repository has enough to say. Same index, focus and question: same map.

Ranking is the slow part on a large repository (seconds of pure Python for thousands of
files), so its result is cached, keyed by a fingerprint of every file's path, content hash
and symbol counts plus the focus and the question: in memory for a long-running caller, and,
when ``cache_dir`` is given, on disk for the command line. A disk entry is written through a
temporary file and ``os.replace``, so a crash or a second process never leaves half of one;
an unreadable or stale entry is ignored and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from gemmacode.index.mapgraph import (
    Graph,
    build_graph,
    question_terms,
    rank_definitions,
    split_identifier,
)
from gemmacode.index.maprender import RepoMap, fit
from gemmacode.index.model import FileRecord
from gemmacode.tokens import Counter

CACHE_VERSION = 1
_MEMORY_GRAPHS = 2
_MEMORY_RANKS = 16
_DISK_ENTRIES = 16  # rankings kept on disk (any fingerprint, focus and question)


class MapSource(Protocol):
    """What the map reads from an index (``RepoIndex`` has it)."""

    @property
    def files(self) -> Mapping[str, FileRecord]: ...


Ranked = list[tuple[str, int]]

_graphs: OrderedDict[str, Graph] = OrderedDict()
_ranks: OrderedDict[tuple[str, str], Ranked] = OrderedDict()


def fingerprint(files: Mapping[str, FileRecord]) -> str:
    """A stable digest of what the ranking reads: paths, content hashes, symbol counts."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"v{CACHE_VERSION}\n".encode())
    for path in sorted(files):
        rec = files[path]
        h.update(f"{path}\0{rec.digest}\0{len(rec.symbols)}\0{len(rec.references)}\n".encode())
    return h.hexdigest()


def _persona(focus: Sequence[str], question: str) -> str:
    return json.dumps([sorted(set(focus)), question])


def _remember(cache: OrderedDict[str, Graph], key: str, value: Graph) -> None:
    cache[key] = value
    while len(cache) > _MEMORY_GRAPHS:
        cache.popitem(last=False)


def _disk_path(cache_dir: Path, fp: str, persona: str) -> Path:
    key = hashlib.blake2b(f"{fp}\0{persona}".encode(), digest_size=16).hexdigest()
    return cache_dir / f"{key}.json"


def _load(cache_dir: Path, fp: str, persona: str, files: Mapping[str, FileRecord]) -> Ranked | None:
    """The stored ranking, or None when absent, unreadable or not for these files."""
    try:
        data = json.loads(_disk_path(cache_dir, fp, persona).read_text("utf-8"))
        if data["fingerprint"] != fp or data["persona"] != persona:
            return None
        paths = [str(p) for p in data["paths"]]
        flat = data["order"]
        ranked: Ranked = [(paths[flat[j]], int(flat[j + 1])) for j in range(0, len(flat), 2)]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    for path in paths:  # a record changed under the same fingerprint must not be misread
        if path not in files:
            return None
    if any(k >= len(files[path].symbols) for path, k in ranked):
        return None
    return ranked


def _store(cache_dir: Path, fp: str, persona: str, ranked: Ranked) -> None:
    path = _disk_path(cache_dir, fp, persona)
    paths = sorted({p for p, _ in ranked})
    where = {p: i for i, p in enumerate(paths)}
    flat = [n for p, k in ranked for n in (where[p], k)]
    doc = {"fingerprint": fp, "persona": persona, "paths": paths, "order": flat}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".repomap-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        entries = sorted(cache_dir.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-_DISK_ENTRIES]:
            old.unlink(missing_ok=True)
    except OSError:
        return  # a cache that cannot be written only costs time


def ranked_definitions(
    files: Mapping[str, FileRecord],
    *,
    focus: Sequence[str] = (),
    question: str = "",
    cache_dir: Path | None = None,
) -> Ranked:
    """Every definition as ``(path, index in its record's symbols)``, best first."""
    fp = fingerprint(files)
    persona = _persona(focus, question)
    ranked = _ranks.get((fp, persona))
    if ranked is None and cache_dir is not None:
        ranked = _load(cache_dir, fp, persona, files)
    if ranked is None:
        graph = _graphs.get(fp)
        if graph is None:
            graph = build_graph(files)
            _remember(_graphs, fp, graph)
        ranked = rank_definitions(graph, files, focus, question)
        if cache_dir is not None:
            _store(cache_dir, fp, persona, ranked)
    _ranks[(fp, persona)] = ranked
    _ranks.move_to_end((fp, persona))
    while len(_ranks) > _MEMORY_RANKS:
        _ranks.popitem(last=False)
    return ranked


def build_map(
    index: MapSource,
    counter: Counter,
    tokens: int,
    *,
    focus: Sequence[str] = (),
    question: str = "",
    cache_dir: Path | None = None,
) -> RepoMap:
    """The repo map of ``index`` in at most ``tokens`` tokens, as ``counter`` counts them.

    ``focus`` are repository-relative paths to lean towards (paths not in the index are
    ignored); ``question`` is free text whose identifiers, split on camelCase and
    snake_case, pull the ranking towards the definitions they name. ``cache_dir``, a folder
    of the map's own, keeps rankings on disk between processes (the latest few).
    """
    if tokens <= 0:
        return RepoMap("", 0, [], [])
    files = index.files
    ranked = ranked_definitions(files, focus=focus, question=question, cache_dir=cache_dir)
    return fit(files, ranked, counter, tokens)


__all__ = [
    "MapSource",
    "RepoMap",
    "build_map",
    "fingerprint",
    "question_terms",
    "ranked_definitions",
    "split_identifier",
]
