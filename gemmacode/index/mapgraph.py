"""Ranking definitions for the repo map: a file graph of shared identifiers and PageRank.

Files are nodes. A file that references a name defined in other files links to each of them,
weighted by the square root of how often it uses the name, ten times more for a specific name
(long snake_case or camelCase), ten times less for a private one (``_x``) or one defined in
more than five files. A name defined in more than :data:`GENERIC_DEFINERS` files (``get``,
``__init__``) links no files: it says nothing about which one matters. A personalised
PageRank ranks the files, leaning towards focus files and towards files defining identifiers
the question names; each definition then gets the rank that flows into its name, shared among
the files defining it, plus a small share of its own file's rank so that definitions nobody
references still come in a stable order.
"""

from __future__ import annotations

import math
import re
from collections import Counter as TallyCounter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gemmacode.index.model import FileRecord
from gemmacode.index.pagerank import pagerank

GENERIC_DEFINERS = 12
MENTION_BOOST = 10.0
UNIFORM_SHARE = 0.25

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def split_identifier(name: str) -> list[str]:
    """Lower-case words of a snake_case, camelCase or PascalCase identifier."""
    return [w.lower() for w in _WORD.findall(name)]


# Words of a question that name no code even when a definition happens to share them.
_STOP = frozenset(
    "a an and are as at be by can do does for from has have how i if in is it its me my no "
    "not of on or our should so that the their then there these this to was we what when "
    "where which who why will with would you your".split()
)


def question_terms(question: str) -> tuple[set[str], set[str]]:
    """Identifiers named in ``question`` and the lower-case words they split into; common
    English words (``the``, ``where``) are left out."""
    idents = {i for i in _IDENT.findall(question) if i.lower() not in _STOP}
    words = {w for ident in idents for w in split_identifier(ident)}
    return idents, words


def mentioned(names: Iterable[str], idents: set[str], words: set[str]) -> set[str]:
    """Names the question names: exactly, case-insensitively, or word for word
    (``query set`` names ``QuerySet`` and ``query_set``)."""
    if not idents:
        return set()
    lowered = {i.lower() for i in idents}
    out = set()
    for name in names:
        low = name.lower()
        if name in idents or low in lowered:
            out.add(name)
        elif len(name) >= 4 and any(w in low for w in words):
            parts = split_identifier(name)
            if len(parts) > 1 and set(parts) <= words:
                out.add(name)
    return out


def _specific(name: str, min_length: int = 8) -> bool:
    """Shaped like code rather than a word: snake_case or camelCase, and long enough."""
    if len(name) < min_length:
        return False
    return "_" in name.strip("_") or name.lower() != name != name.upper()


@dataclass
class Graph:
    """The part of the ranking that depends only on the index."""

    paths: list[str]  # node order: sorted paths
    definers: dict[str, list[int]]  # name -> files defining it
    refs: list[list[tuple[str, float]]]  # per file: (name, weight) for names defined somewhere
    edges: list[dict[int, float]]  # per target file: source file -> summed weight
    out_weight: list[float]


def build_graph(files: Mapping[str, FileRecord]) -> Graph:
    paths = sorted(files)
    definers: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        for name in sorted({s.name for s in files[path].symbols}):
            definers.setdefault(name, []).append(i)
    refs: list[list[tuple[str, float]]] = []
    edges: list[dict[int, float]] = [{} for _ in paths]
    out_weight = [0.0] * len(paths)
    for i, path in enumerate(paths):
        tally = TallyCounter(r.name for r in files[path].references)
        mine: list[tuple[str, float]] = []
        for name in sorted(tally.keys() & definers.keys()):
            targets = definers[name]
            w = math.sqrt(tally[name])
            if name.startswith("_"):
                w *= 0.1
            if len(targets) > 5:
                w *= 0.1
            if _specific(name):
                w *= 10.0
            mine.append((name, w))
            if len(targets) <= GENERIC_DEFINERS:
                share = w / len(targets)
                for t in targets:
                    edges[t][i] = edges[t].get(i, 0.0) + share
                out_weight[i] += w
        refs.append(mine)
    return Graph(paths, definers, refs, edges, out_weight)


def _personalisation(
    graph: Graph, focus: Sequence[str], named: set[str], words: set[str]
) -> dict[int, float]:
    where = {p: i for i, p in enumerate(graph.paths)}
    weights: dict[int, float] = {}
    for path in sorted(set(focus)):
        if path in where:
            weights[where[path]] = weights.get(where[path], 0.0) + 1.0
    for name in sorted(named):
        for i in graph.definers[name]:
            weights[i] = weights.get(i, 0.0) + 1.0 / len(graph.definers[name])
    if words:
        for i, path in enumerate(graph.paths):
            stem = path.rsplit("/", 1)[-1].split(".", 1)[0]
            parts = set(split_identifier(stem))
            if parts and parts <= words:
                weights[i] = weights.get(i, 0.0) + 0.5
    return weights


def _teleport(n: int, weights: dict[int, float]) -> dict[int, float]:
    """Where the random walk restarts: mostly the personalised files, but every file a
    little (:data:`UNIFORM_SHARE`), so a focus file that references nothing does not leave
    the rest of the repository unranked."""
    total = sum(weights.values())
    if not total or not n:
        return {}
    base = UNIFORM_SHARE / n
    out = dict.fromkeys(range(n), base)
    for i, w in weights.items():
        out[i] += (1.0 - UNIFORM_SHARE) * w / total
    return out


def rank_definitions(
    graph: Graph, files: Mapping[str, FileRecord], focus: Sequence[str], question: str
) -> list[tuple[str, int]]:
    """Every definition as ``(path, index in the record's symbols)``, best first,
    ties broken by path, line and scope so the order is the same on every run."""
    idents, words = question_terms(question)
    named = mentioned(graph.definers, idents, words)
    # ``QuerySet.filter`` names one definition by its scope path: it comes before all others.
    dotted = {m.strip(".") for m in _DOTTED.findall(question)}
    edges: Sequence[Mapping[int, float]] = graph.edges
    out_weight = graph.out_weight
    if named:  # a name the question names weighs MENTION_BOOST times more
        boosted = [dict(e) for e in graph.edges]
        out_weight = list(out_weight)
        extra = MENTION_BOOST - 1.0
        for i, mine in enumerate(graph.refs):
            for name, w in mine:
                targets = graph.definers[name]
                if name in named and len(targets) <= GENERIC_DEFINERS:
                    for t in targets:
                        boosted[t][i] = boosted[t].get(i, 0.0) + extra * w / len(targets)
                    out_weight[i] += extra * w
        edges = boosted
    rank = pagerank(
        edges, out_weight, _teleport(len(graph.paths), _personalisation(graph, focus, named, words))
    )
    flow: dict[str, float] = {}
    for i, mine in enumerate(graph.refs):
        total = sum(w for _, w in mine)
        if not total or not rank[i]:
            continue
        for name, w in mine:
            flow[name] = flow.get(name, 0.0) + rank[i] * w / total
    # Definitions the question names come first (unless the name is generic): those it
    # spells out as code (``build_map``, ``QuerySet``) before those it names in words.
    tier = {
        n: 0 if n in idents and _specific(n, 1) else 1
        for n in named
        if len(graph.definers[n]) <= GENERIC_DEFINERS
    }
    scored: list[tuple[int, float, str, int, str, int]] = []
    for i, path in enumerate(graph.paths):
        syms = files[path].symbols
        if not syms:
            continue
        floor = rank[i] * 1e-3 / len(syms)
        for k, s in enumerate(syms):
            share = flow.get(s.name, 0.0) / len(graph.definers[s.name])
            rank_tier = tier.get(s.name, 2)
            if dotted and s.scope in dotted:
                rank_tier = -1
            scored.append((rank_tier, -(share + floor), path, s.start_line, s.scope, k))
    scored.sort()
    return [(path, k) for _, _, path, _, _, k in scored]
