"""The repo map: the most important definitions of a repository, fitted to N tokens.

``build_map`` ranks every definition (:mod:`gemmacode.index.mapgraph`: a file graph of shared
identifiers and a personalised PageRank) and renders the best-ranked signatures under their
file paths (:mod:`gemmacode.index.maprender`), never over the budget and filled to at least
90% of it when the repository has enough to say. Same index, focus and question: same map.

Ranking is the slow part on a large repository, so rankings are cached in memory for a
long-running caller (the TUI) and, when ``cache_dir`` is given, on disk together with the
finished maps (:mod:`gemmacode.index.mapcache`) for the command line. A cached map is served
without decoding a symbol or loading the tokenizer.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from gemmacode.index import mapcache
from gemmacode.index.mapcache import fingerprint
from gemmacode.index.mapgraph import (
    Graph,
    build_graph,
    question_terms,
    rank_definitions,
    split_identifier,
)
from gemmacode.index.maprender import RepoMap, fit
from gemmacode.index.model import FileRecord, Symbol
from gemmacode.tokens import Counter, TokenCounter

_MEMORY_GRAPHS = 2
_MEMORY_RANKS = 16


class MapSource(Protocol):
    """What the map reads from an index (``RepoIndex`` has it). An index that also offers
    ``records()`` (the records before their symbols are decoded) lets a cached map skip
    decoding altogether."""

    @property
    def files(self) -> Mapping[str, FileRecord]: ...


Ranked = list[tuple[str, int]]

_lock = threading.Lock()  # the TUI's workers may build maps from several threads
_graphs: OrderedDict[str, Graph] = OrderedDict()
_ranks: OrderedDict[tuple[str, str], Ranked] = OrderedDict()


def _persona(focus: Sequence[str], question: str) -> str:
    return json.dumps([sorted(set(focus)), question])


def _light_records(index: MapSource) -> Mapping[str, FileRecord]:
    records = getattr(index, "records", None)
    if callable(records):
        got = records()
        if isinstance(got, Mapping):
            return got
    return index.files


def _load_ranked(cache_dir: Path, key: str, files: Mapping[str, FileRecord]) -> Ranked | None:
    doc = mapcache.load(cache_dir, "rank", key)
    if doc is None:
        return None
    try:
        paths = [str(p) for p in doc["paths"]]
        flat = doc["order"]
        ranked: Ranked = [(paths[flat[j]], int(flat[j + 1])) for j in range(0, len(flat), 2)]
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    if any(p not in files for p in paths):
        return None
    if any(k >= len(files[p].symbols) for p, k in ranked):
        return None
    return ranked


def _store_ranked(cache_dir: Path, key: str, ranked: Ranked) -> None:
    paths = sorted({p for p, _ in ranked})
    where = {p: i for i, p in enumerate(paths)}
    flat = [n for p, k in ranked for n in (where[p], k)]
    mapcache.store(cache_dir, "rank", key, {"paths": paths, "order": flat})


def ranked_definitions(
    files: Mapping[str, FileRecord],
    *,
    focus: Sequence[str] = (),
    question: str = "",
    cache_dir: Path | None = None,
    fp: str | None = None,
) -> Ranked:
    """Every definition as ``(path, index in its record's symbols)``, best first."""
    fp = fp or fingerprint(files)
    key = f"{fp}\0{_persona(focus, question)}"
    with _lock:
        ranked = _ranks.get((fp, key))
        graph = _graphs.get(fp)
    if ranked is None and cache_dir is not None:
        ranked = _load_ranked(cache_dir, key, files)
    if ranked is None:
        # Computed outside the lock: two threads may both rank, never corrupt the caches.
        if graph is None:
            graph = build_graph(files)
            with _lock:
                _graphs[fp] = graph
                while len(_graphs) > _MEMORY_GRAPHS:
                    _graphs.popitem(last=False)
        ranked = rank_definitions(graph, files, focus, question)
        if cache_dir is not None:
            _store_ranked(cache_dir, key, ranked)
    with _lock:
        _ranks[(fp, key)] = ranked
        _ranks.move_to_end((fp, key))
        while len(_ranks) > _MEMORY_RANKS:
            _ranks.popitem(last=False)
    return ranked


def _map_to_doc(m: RepoMap) -> dict[str, Any]:
    syms = [
        [s.name, s.kind, s.scope, s.file, s.start_line, s.end_line, s.signature]
        + [s.start_byte, s.end_byte]
        for s in m.symbols
    ]
    return {"text": m.text, "tokens": m.tokens, "files": m.files, "symbols": syms}


def _map_from_doc(doc: dict[str, Any]) -> RepoMap | None:
    try:
        syms = [Symbol(*row) for row in doc["symbols"]]
        return RepoMap(str(doc["text"]), int(doc["tokens"]), syms, [str(f) for f in doc["files"]])
    except (KeyError, TypeError, ValueError):
        return None


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
    of the map's own, keeps rankings and maps on disk between processes (the latest few);
    finished maps are cached only for a :class:`TokenCounter`, whose counts its
    ``signature`` (encoding, factor, fitted weights) determines.
    """
    if tokens <= 0:
        return RepoMap("", 0, [], [])
    fp = fingerprint(_light_records(index))
    map_key = None
    if cache_dir is not None and type(counter) is TokenCounter:
        map_key = f"{fp}\0{_persona(focus, question)}\0{tokens}\0{counter.signature}"
        doc = mapcache.load(cache_dir, "map", map_key)
        cached = _map_from_doc(doc) if doc is not None else None
        if cached is not None:
            return cached
    files = index.files
    ranked = ranked_definitions(files, focus=focus, question=question, cache_dir=cache_dir, fp=fp)
    result = fit(files, ranked, counter, tokens)
    if map_key is not None and cache_dir is not None:
        mapcache.store(cache_dir, "map", map_key, _map_to_doc(result))
    return result


__all__ = [
    "MapSource",
    "RepoMap",
    "build_map",
    "fingerprint",
    "question_terms",
    "ranked_definitions",
    "split_identifier",
]
