"""The repo map: the most important definitions of a repository, fitted to N tokens.

``build_map`` ranks every definition (:mod:`gemmacode.repomap.graph`: a file graph of shared
identifiers and a personalised PageRank) and renders the best-ranked signatures under their
file paths (:mod:`gemmacode.repomap.render`), never over the budget and filled to at least
90% of it when the repository has enough to say. Same index, focus and question: same map.

The ranking reads tag tuples (``RepoIndex.tags_of``), not symbol objects, and only the
files of candidate definitions are turned into ``Symbol`` objects for rendering. Rankings are
cached in memory for a long-running caller (the TUI) and, when ``cache_dir`` is given, on disk
together with the finished maps (:mod:`gemmacode.repomap.cache`) for the command line. A
cached map is served without reading a symbol or loading the tokenizer.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, Protocol

from gemmacode.index.model import FileRecord, Symbol
from gemmacode.index.parsed import SymbolTuple
from gemmacode.index.pathkind import attribute_patterns
from gemmacode.repomap import cache as mapcache
from gemmacode.repomap.cache import fingerprint
from gemmacode.repomap.graph import (
    Graph,
    TagTable,
    build_graph,
    question_terms,
    rank_definitions,
    split_identifier,
    unchanged,
)
from gemmacode.repomap.graphdoc import graph_from_doc, graph_to_doc
from gemmacode.repomap.render import RepoMap, fit
from gemmacode.repomap.weights import file_kinds
from gemmacode.tokens.counter import TokenCounter
from gemmacode.tokens.encoding import Counter

_MEMORY_GRAPHS = 2
_MEMORY_RANKS = 16
_MAX_CHANGED = 32  # more changed files than this (a branch switch): build the graph anew


class MapSource(Protocol):
    """What the map reads from an index (``RepoIndex`` has it). An index that also offers
    ``records()`` (the records before their symbols are decoded) lets a cached map skip
    decoding altogether, and one with ``tags_of(path)`` (tag tuples) lets ranking
    skip building symbol objects."""

    @property
    def files(self) -> Mapping[str, FileRecord]: ...


Ranked = list[tuple[str, int]]

_lock = threading.Lock()  # the TUI's workers may build maps from several threads
_graphs: OrderedDict[str, tuple[str, Graph]] = OrderedDict()  # fp -> (identity, graph)
_ranks: OrderedDict[tuple[str, str], Ranked] = OrderedDict()


class _Tags(Mapping[str, tuple[Sequence[SymbolTuple], Sequence[str]]]):
    """An index's tag tuples by path, read file by file when first asked for."""

    def __init__(self, paths: Sequence[str], read: Any) -> None:
        self._paths = paths
        self._known = set(paths)
        self._read = read
        self._got: dict[str, tuple[Sequence[SymbolTuple], Sequence[str]]] = {}

    def __getitem__(self, path: str) -> tuple[Sequence[SymbolTuple], Sequence[str]]:
        got = self._got.get(path)
        if got is None:
            if path not in self._known:
                raise KeyError(path)
            got = self._got[path] = self._read(path)
        return got

    def __contains__(self, path: object) -> bool:
        return path in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


class _Symbols(Mapping[str, list[Symbol]]):
    """``Symbol`` objects by path, built from the tag tuples only for files asked for."""

    def __init__(self, tags: TagTable) -> None:
        self._tags = tags
        self._built: dict[str, list[Symbol]] = {}

    def __getitem__(self, path: str) -> list[Symbol]:
        got = self._built.get(path)
        if got is None:
            syms = self._tags[path][0]
            got = self._built[path] = [t.symbol(path) for t in syms]
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)


def tags_from_records(
    files: Mapping[str, FileRecord],
) -> dict[str, tuple[list[SymbolTuple], list[str]]]:
    """The tag table of decoded records (for sources without ``tags_of``)."""
    return {
        path: (list(map(SymbolTuple.of, rec.symbols)), [r.name for r in rec.references])
        for path, rec in files.items()
    }


def _persona(focus: Sequence[str], question: str) -> str:
    return json.dumps([sorted(set(focus)), question])


def light_records(index: MapSource) -> Mapping[str, FileRecord]:
    """The index's records by path without decoding symbols (``RepoIndex.records``), or its
    ``files`` for an index that has no such method."""
    records = getattr(index, "records", None)
    if callable(records):
        got = records()
        if isinstance(got, Mapping):
            return got
    return index.files


def _sources(index: MapSource) -> tuple[TagTable, Mapping[str, Sequence[Symbol]]]:
    """The tag table to rank and the symbols to render, both read lazily when the index
    can (``RepoIndex``), else from its decoded records."""
    tags_of = getattr(index, "tags_of", None)
    if callable(tags_of):
        table = _Tags(sorted(light_records(index)), tags_of)
        return table, _Symbols(table)
    files = index.files
    return tags_from_records(files), {p: rec.symbols for p, rec in files.items()}


def _load_ranked(cache_dir: Path, key: str, table: TagTable) -> Ranked | None:
    doc = mapcache.load(cache_dir, "rank", key)
    if doc is None:
        return None
    try:
        paths = doc["paths"]
        ranked: Ranked = list(zip(map(paths.__getitem__, doc["files"]), doc["ks"], strict=True))
        if any(p not in table for p in paths):
            return None
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return ranked  # a definition index out of range shows when rendering: see build_map


def _store_ranked(cache_dir: Path, key: str, paths: list[str], ranked: Ranked) -> None:
    where = {p: i for i, p in enumerate(paths)}
    files = list(map(where.__getitem__, map(itemgetter(0), ranked)))
    ks = list(map(itemgetter(1), ranked))
    mapcache.store(cache_dir, "rank", key, {"paths": paths, "files": files, "ks": ks})


def _scope_reader(graph: Graph, table: TagTable) -> Callable[[int, int], str]:
    def scope_of(i: int, k: int) -> str:
        return table[graph.paths[i]][0][k].scope

    return scope_of


def _graph_doc(graph: Graph, ident: str, records: Mapping[str, FileRecord]) -> dict[str, Any]:
    doc = graph_to_doc(graph)
    doc.update(ident=ident, code=mapcache.code_version())
    doc["digests"] = [records[p].digest for p in graph.paths]
    return doc


def _reusable(
    cache_dir: Path, records: Mapping[str, FileRecord], table: TagTable
) -> tuple[str, Graph] | None:
    """The newest graph on disk with its identity, when it is exactly the graph of these
    files: the same paths, and every file whose content changed since puts the same
    definitions and uses into it (:func:`mapgraph.unchanged`: an edit inside a body)."""
    doc = mapcache.newest(cache_dir, "graph")
    if doc is None or doc.get("code") != mapcache.code_version():
        return None
    graph = graph_from_doc(doc)
    digests = doc.get("digests")
    if graph is None or not isinstance(digests, list) or len(digests) != len(graph.paths):
        return None
    if graph.paths != sorted(records):
        return None
    now = [records[p].digest for p in graph.paths]
    changed = [i for i, (a, b) in enumerate(zip(now, digests, strict=True)) if a != b]
    if len(changed) > _MAX_CHANGED:
        return None
    for i in changed:
        syms, used = table[graph.paths[i]]
        if not unchanged(graph, i, syms, used):
            return None
    return str(doc.get("ident")), graph


def _rank(
    table: TagTable,
    records: Mapping[str, FileRecord],
    fp: str,
    focus: Sequence[str],
    question: str,
    cache_dir: Path | None,
    *,
    use_disk: bool = True,
    attributes: str = "",
) -> Ranked:
    """The ranking for (files, focus, question): from memory, from disk, or ranked over the
    graph (from memory, from disk, the previous one when only bodies changed, or built).

    Rankings are stored under the fingerprint and found under the graph's identity too (the
    fingerprint it was built for), so an edit that leaves the graph as it was also finds
    the rankings made before it.
    """
    persona = _persona(focus, question)
    key = f"{fp}\0{persona}"
    with _lock:
        ranked = _ranks.get((fp, key))
        known = _graphs.get(fp)
    disk = cache_dir if use_disk else None
    if ranked is None and disk is not None:
        ranked = _load_ranked(disk, key, table)
    if ranked is not None:
        _remember(fp, key, ranked, None)
        return ranked
    # Computed outside the lock: two threads may both rank, never corrupt the caches.
    ident, graph = known if known is not None else (fp, None)
    if graph is None and disk is not None:
        doc = mapcache.load(disk, "graph", fp)
        graph = graph_from_doc(doc) if doc is not None else None
        if graph is not None:
            ident = str(doc.get("ident", fp)) if doc is not None else fp
        else:
            found = _reusable(disk, records, table)
            if found is not None:
                ident, graph = found  # not stored again: it stays the newest
                ranked = _load_ranked(disk, f"{ident}\0{persona}", table)
    if ranked is None and graph is not None:
        try:
            ranked = _ranked_over(graph, table, focus, question, attributes)
        except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError):
            graph = None  # a damaged graph on disk: build it again
    if graph is None:
        ident, graph = fp, build_graph(table)
        if cache_dir is not None:
            mapcache.store(cache_dir, "graph", fp, _graph_doc(graph, ident, records))
    if ranked is None:
        ranked = _ranked_over(graph, table, focus, question, attributes)
    if cache_dir is not None:
        _store_ranked(cache_dir, key, graph.paths, ranked)
    _remember(fp, key, ranked, (ident, graph))
    return ranked


def _ranked_over(
    graph: Graph, table: TagTable, focus: Sequence[str], question: str, attributes: str
) -> Ranked:
    kinds = file_kinds(graph.paths, attribute_patterns(attributes))
    files, ks = rank_definitions(graph, focus, question, _scope_reader(graph, table), kinds)
    return list(zip(map(graph.paths.__getitem__, files), ks, strict=True))


def _remember(fp: str, key: str, ranked: Ranked, graph: tuple[str, Graph] | None) -> None:
    with _lock:
        _ranks[(fp, key)] = ranked
        _ranks.move_to_end((fp, key))
        while len(_ranks) > _MEMORY_RANKS:
            _ranks.popitem(last=False)
        if graph is not None:
            _graphs[fp] = graph
            _graphs.move_to_end(fp)
            while len(_graphs) > _MEMORY_GRAPHS:
                _graphs.popitem(last=False)


def ranked_definitions(
    files: Mapping[str, FileRecord],
    *,
    focus: Sequence[str] = (),
    question: str = "",
    cache_dir: Path | None = None,
    fp: str | None = None,
) -> Ranked:
    """Every definition as ``(path, index in its record's symbols)``, best first."""
    table = tags_from_records(files)
    return _rank(table, files, fp or fingerprint(files), focus, question, cache_dir)


def _attributes(index: MapSource, records: Mapping[str, FileRecord]) -> str:
    """The root ``.gitattributes`` (its ``linguist-vendored`` and ``linguist-generated``
    paths weigh little in the map); its content hash is part of the fingerprint, so a
    change to it ranks afresh."""
    read = getattr(index, "read_text", None)
    if ".gitattributes" not in records or not callable(read):
        return ""
    try:
        return str(read(".gitattributes"))
    except (OSError, KeyError, ValueError):
        return ""


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
    fp = fingerprint(light_records(index))
    map_key = None
    if cache_dir is not None and type(counter) is TokenCounter:
        map_key = f"{fp}\0{_persona(focus, question)}\0{tokens}\0{counter.signature}"
        doc = mapcache.load(cache_dir, "map", map_key)
        cached = _map_from_doc(doc) if doc is not None else None
        if cached is not None:
            return cached
    records = light_records(index)
    table, symbols = _sources(index)
    attributes = _attributes(index, records)
    ranked = _rank(table, records, fp, focus, question, cache_dir, attributes=attributes)
    try:
        result = fit(symbols, ranked, counter, tokens)
    except (IndexError, KeyError, TypeError):  # a damaged ranking or graph on disk: rank again
        with _lock:
            _ranks.clear()
            _graphs.pop(fp, None)
        ranked = _rank(
            table, records, fp, focus, question, cache_dir, use_disk=False, attributes=attributes
        )
        result = fit(symbols, ranked, counter, tokens)
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
    "tags_from_records",
]
