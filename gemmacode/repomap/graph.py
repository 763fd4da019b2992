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

The graph is built from tag tuples (no symbol objects: a large repository has tens of
thousands) into flat lists that :mod:`gemmacode.repomap.pagerank` sums with C-level passes; a
name defined in several files is one hub rather than a link from every referencing file to
every defining one. Definitions are kept in their tie order (path, line, scope), so ranking
is one stable sort on the score.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter as TallyCounter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import accumulate, islice, repeat
from operator import add, lt, mul, truediv

from gemmacode.index.parsed import SymbolTuple
from gemmacode.repomap.pagerank import Flow, Grouped, grouped, grouped_sum, make_flow, solve

GENERIC_DEFINERS = 12
MENTION_BOOST = 10.0
UNIFORM_SHARE = 0.25

# Per file: its definitions as tag tuples and the names it references (one per reference).
TagTable = Mapping[str, tuple[Sequence[SymbolTuple], Sequence[str]]]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_NON_ASCII_LINE = re.compile(r"^.*[^\x00-\x7f].*$", re.M)
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


def _made_of(words: set[str]) -> str:
    """A pattern matching a lower-case ASCII name only if it could split into ``words``
    alone: a filter in C before the exact split."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))
    return f"(?:[^a-z0-9\\n]|{alternatives})+"


def _named_by_words(name: str, words: set[str]) -> bool:
    """``name`` splits into two or more words, all of them in ``words``."""
    if len(name) < 4:
        return False
    parts = split_identifier(name)
    return len(parts) > 1 and set(parts) <= words


def mentioned(names: Iterable[str], idents: set[str], words: set[str]) -> set[str]:
    """Names the question names: exactly, case-insensitively, or word for word
    (``query set`` names ``QuerySet`` and ``query_set``)."""
    if not idents:
        return set()
    names = list(names)
    lowered = {i.lower() for i in idents}
    joined = "\n".join(names)
    text = joined.lower()
    lows = text.split("\n")
    if len(lows) != len(names):  # a name with a newline in it: no line is one name
        return {n for n in names if n.lower() in lowered or _named_by_words(n, words)}
    out: set[str] = set()
    # Whole lines of all the names at once, matched in C: a Python loop per name would
    # cost more than the rest of ranking a question.
    starts = [0, *accumulate(map(add, map(len, lows), repeat(1)))]
    exact = "|".join(re.escape(i) for i in sorted(lowered))
    patterns = [(re.compile(f"^(?:{exact})$", re.M), False)]
    if words:
        patterns.append((re.compile(f"^{_made_of(words)}$", re.M), True))
    for pattern, by_words in patterns:
        for m in pattern.finditer(text):
            name = names[bisect_right(starts, m.start()) - 1]
            if not by_words or _named_by_words(name, words):
                out.add(name)
    if not joined.isascii():  # lower() maps some non-ASCII letters to ASCII: check fully
        for m in _NON_ASCII_LINE.finditer(joined):
            name = m.group()
            if name.lower() in lowered or _named_by_words(name, words):
                out.add(name)
    return out


def _specific(name: str, min_length: int = 8) -> bool:
    """Shaped like code rather than a word: snake_case or camelCase, and long enough."""
    if len(name) < min_length:
        return False
    return "_" in name.strip("_") or name.lower() != name != name.upper()


def _name_factor(name: str, definers: int) -> float:
    factor = 1.0
    if name.startswith("_"):
        factor *= 0.1
    if definers > 5:
        factor *= 0.1
    if _specific(name):
        factor *= 10.0
    return factor


@dataclass
class Graph:
    """The part of the ranking that depends only on the index."""

    paths: list[str]  # node order: sorted paths
    definers: dict[str, list[int]]  # name -> files defining it; its position is the name's id
    out_weight: list[float]  # per file: the weight of its links (names not generic)
    flow: Flow  # the links for PageRank
    by_name: Grouped  # per name id: the referencing files and their weights
    flow_share: list[float]  # parallel to by_name: weight over the file's total weight
    sym_file: list[int]  # every definition in tie order (path, line, scope): its file,
    sym_k: list[int]  # its index in that file's definitions,
    sym_name: list[int]  # and its name's id
    file_syms: list[int]  # definitions per file

    @cached_property
    def ids(self) -> dict[str, int]:
        """Name -> name id."""
        return {name: k for k, name in enumerate(self.definers)}


class _Factors(dict[str, float]):
    """Each referenced name's weight factor, worked out when first needed."""

    def __init__(self, definers: dict[str, list[int]]) -> None:
        super().__init__()
        self.definers = definers

    def __missing__(self, name: str) -> float:
        got = self[name] = _name_factor(name, len(self.definers[name]))
        return got


class _Routes(dict[str, "int | None"]):
    """Where each referenced name's links go, worked out when first needed: straight to its
    one defining file (the file's index), through a hub (``-1 - hub``: several files) or
    nowhere (None: a generic name). Hubs are numbered in the order names first come up."""

    def __init__(self, definers: dict[str, list[int]]) -> None:
        super().__init__()
        self.definers = definers
        self.hubs: list[str] = []

    def __missing__(self, name: str) -> int | None:
        targets = self.definers[name]
        got: int | None = None
        if len(targets) == 1:
            got = targets[0]
        elif len(targets) <= GENERIC_DEFINERS:
            got = -1 - len(self.hubs)
            self.hubs.append(name)
        self[name] = got
        return got


def _tie_order(syms: Sequence[SymbolTuple]) -> list[int]:
    """Indices of ``syms`` by (start line, scope, index): usually already in order."""
    lines = [s.start_line for s in syms]
    if all(map(lt, lines, islice(lines, 1, None))):
        return list(range(len(syms)))
    return sorted(range(len(syms)), key=lambda k: (syms[k].start_line, syms[k].scope, k))


def build_graph(table: TagTable) -> Graph:
    """The identifier graph of ``table`` (any mapping order: files are taken sorted)."""
    paths = sorted(table)
    n = len(paths)
    definers: dict[str, list[int]] = {}
    sym_file: list[int] = []
    sym_k: list[int] = []
    sym_names: list[str] = []
    file_syms: list[int] = []
    for i, path in enumerate(paths):
        syms = table[path][0]
        file_syms.append(len(syms))
        if not syms:
            continue
        order = _tie_order(syms)
        ordered = syms if order[-1] == len(order) - 1 else [syms[k] for k in order]
        sym_file.extend(repeat(i, len(syms)))
        sym_k.extend(order)
        sym_names.extend([s.name for s in ordered])
        for name in dict.fromkeys([s.name for s in syms]):
            got = definers.get(name)
            if got is None:
                definers[name] = [i]
            else:
                got.append(i)
    ids = {name: k for k, name in enumerate(definers)}
    factor = _Factors(definers)
    route = _Routes(definers)
    out_weight = [0.0] * n
    totals = [0.0] * n
    pairs: list[tuple[int, int, float]] = []  # (name id, file, weight)
    hub_pairs: list[tuple[int, int, float]] = []  # (hub, file, weight)
    links: list[tuple[int, int, float]] = []  # (target file, source, weight)
    sqrt = math.sqrt
    defined = definers.keys()
    for i, path in enumerate(paths):
        used = table[path][1]
        if not used:
            continue
        tally = TallyCounter(used)
        names = sorted(tally.keys() & defined)
        if not names:
            continue
        weights = list(
            map(mul, map(sqrt, map(tally.__getitem__, names)), map(factor.__getitem__, names))
        )
        totals[i] = sum(weights)
        pairs.extend(zip(map(ids.__getitem__, names), repeat(i), weights))
        direct: dict[int, float] = {}
        out = 0.0
        for to, w in zip(map(route.__getitem__, names), weights, strict=True):
            if to is None:
                continue
            out += w
            if to >= 0:
                direct[to] = direct.get(to, 0.0) + w
            else:
                hub_pairs.append((-1 - to, i, w))
        links.extend(zip(direct, repeat(i), direct.values()))
        out_weight[i] = out
    hubs = route.hubs
    for hub, name in enumerate(hubs):
        share = 1.0 / len(definers[name])
        links.extend((t, n + hub, share) for t in definers[name])
    flow = make_flow(n, out_weight, grouped(len(hubs), hub_pairs), grouped(n, links))
    by_name = grouped(len(definers), pairs)
    flow_share = list(map(truediv, by_name.weight, map(totals.__getitem__, by_name.source)))
    sym_name = list(map(ids.__getitem__, sym_names))
    return Graph(
        paths, definers, out_weight, flow, by_name, flow_share,
        sym_file, sym_k, sym_name, file_syms,
    )  # fmt: skip


def unchanged(graph: Graph, i: int, syms: Sequence[SymbolTuple], used: Sequence[str]) -> bool:
    """Whether file ``i`` with these tags puts exactly what it put into ``graph``: the same
    definitions in the same order and tie order, the same uses of names defined anywhere.

    An edit inside a function body changes the file's content hash (so every cache keyed by
    it misses) but not this; the graph of the new content is then the old graph, bit for
    bit, since the other files are unchanged too.
    """
    if len(syms) != graph.file_syms[i]:
        return False
    lo, hi = bisect_left(graph.sym_file, i), bisect_right(graph.sym_file, i)
    order = _tie_order(syms) if syms else []
    if hi - lo != len(syms) or order != graph.sym_k[lo:hi]:
        return False
    ids = graph.ids
    if [ids.get(syms[k].name, -1) for k in order] != graph.sym_name[lo:hi]:
        return False
    tally = TallyCounter(used)
    definers = graph.definers
    now = {
        ids[name]: math.sqrt(tally[name]) * _name_factor(name, len(definers[name]))
        for name in tally.keys() & definers.keys()
    }
    before: dict[int, float] = {}
    source, weight, bounds = graph.by_name
    j = -1
    while True:
        try:
            j = source.index(i, j + 1)
        except ValueError:
            break
        before[bisect_right(bounds, j) - 1] = weight[j]
    return now == before


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
        made_of = re.compile(_made_of(words))
        for i, path in enumerate(graph.paths):
            stem = path.rsplit("/", 1)[-1].split(".", 1)[0]
            low = stem.lower()
            if stem.isascii() and made_of.fullmatch(low) is None:
                continue
            parts = set(split_identifier(stem))
            if parts and parts <= words:
                weights[i] = weights.get(i, 0.0) + 0.5
    return weights


def _teleport(
    n: int, weights: dict[int, float], files: Sequence[float] | None = None
) -> list[float]:
    """Where the random walk restarts: mostly the personalised files, but every file a
    little (:data:`UNIFORM_SHARE`), so a focus file that references nothing does not leave
    the rest of the repository unranked. Without personalisation, every file in proportion
    to its weight (``files``: the project's own code more than vendored code)."""
    if not n:
        return []
    base = [1.0 / n] * n
    if files is not None and sum(files) > 0:
        total_w = sum(files)
        base = [w / total_w for w in files]
    total = sum(weights.values())
    if not total:
        return base
    out = [UNIFORM_SHARE * b for b in base]
    for i, w in weights.items():
        out[i] += (1.0 - UNIFORM_SHARE) * w / total
    return out


def _boost(graph: Graph, named: set[str]) -> tuple[Flow, list[tuple[int, int, float]]]:
    """The flow with a name the question names weighing :data:`MENTION_BOOST` times more,
    and the extra ``(target, source, weight)`` links that takes."""
    ids = graph.ids
    out_weight = list(graph.out_weight)
    extra = MENTION_BOOST - 1.0
    links: list[tuple[int, int, float]] = []
    by_name = graph.by_name
    for name in sorted(named):
        targets = graph.definers[name]
        if len(targets) > GENERIC_DEFINERS:
            continue
        nid = ids[name]
        for j in range(by_name.bounds[nid], by_name.bounds[nid + 1]):
            i, w = by_name.source[j], extra * by_name.weight[j]
            out_weight[i] += w
            links.extend((t, i, w / len(targets)) for t in targets)
    return replace(graph.flow, out_weight=out_weight), links


def rank_definitions(
    graph: Graph,
    focus: Sequence[str],
    question: str,
    scope_of: Callable[[int, int], str],
    file_kinds: Sequence[str] | None = None,
) -> tuple[list[int], list[int]]:
    """Every definition, best first, as two parallel lists: its file (index in
    ``graph.paths``) and its index in that file's definitions. Ties are broken by path,
    line and scope so the order is the same on every run.
    ``scope_of(file, index)`` is a definition's scope path, asked only for the few a dotted
    name in the question (``QuerySet.filter``) may be. ``file_kinds`` (per file, see
    :mod:`gemmacode.repomap.weights`) weigh each file's definitions and restarts and put
    code that is not the project's own last; with focus files, the definitions of the names
    they use come first (:func:`gemmacode.repomap.weights.focus_order`)."""
    from gemmacode.repomap.weights import KIND_WEIGHT, focus_order, scaled, tiered

    file_weights = [KIND_WEIGHT[k] for k in file_kinds] if file_kinds is not None else None

    idents, words = question_terms(question)
    named = mentioned(graph.definers, idents, words)
    # ``QuerySet.filter`` names one definition by its scope path: it comes before all others.
    dotted = {m.strip(".") for m in _DOTTED.findall(question)}
    flow, extra = _boost(graph, named) if named else (graph.flow, [])
    n = len(graph.paths)
    teleport = _teleport(n, _personalisation(graph, focus, named, words), file_weights)
    rank = solve(flow, teleport, extra=extra)
    flows = grouped_sum(rank, Grouped(graph.by_name.source, graph.flow_share, graph.by_name.bounds))
    share = list(map(truediv, flows, map(len, graph.definers.values())))
    floor = [r * 1e-3 / m if m else 0.0 for r, m in zip(rank, graph.file_syms, strict=True)]
    scores = list(
        map(add, map(share.__getitem__, graph.sym_name), map(floor.__getitem__, graph.sym_file))
    )
    scores = scaled(scores, graph, file_weights)
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    order = tiered(order, graph, file_kinds)
    if focus:
        weights = file_weights if file_weights is not None else [1.0] * n
        near = focus_order(graph, focus, scores, weights)
        if near:
            taken = set(near)
            order = near + [j for j in order if j not in taken]
    # Definitions the question names come first (unless the name is generic): those it
    # spells out as code (``build_map``, ``QuerySet``) before those it names in words.
    first: list[tuple[int, float, int]] = []
    if named or dotted:
        ids = graph.ids
        tier = {
            ids[m]: 0 if m in idents and _specific(m, 1) else 1
            for m in named
            if len(graph.definers[m]) <= GENERIC_DEFINERS
        }
        # A scope path ends with the definition's name (which may itself hold dots).
        suffixes = {".".join(p[k:]) for p in (d.split(".") for d in dotted) for k in range(len(p))}
        scoped = {ids[s] for s in suffixes if s in ids}
        for j, nid in enumerate(graph.sym_name):
            if nid in scoped and scope_of(graph.sym_file[j], graph.sym_k[j]) in dotted:
                first.append((-1, -scores[j], j))
            elif nid in tier:
                first.append((tier[nid], -scores[j], j))
        first.sort()
        lifted = {j for _, _, j in first}
        order = [j for _, _, j in first] + [j for j in order if j not in lifted]
    return list(map(graph.sym_file.__getitem__, order)), list(map(graph.sym_k.__getitem__, order))
