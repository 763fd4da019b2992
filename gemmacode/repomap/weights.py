"""What makes a definition worth a line of the map beyond PageRank: whose code it is, how
specific its name is, and, for a focused map, whether the focused code uses it.

Measured by ``bench/bench_map_recall.py`` (real changes of real projects, beside aider's map):

- *Whose code*: a file's kind (:mod:`gemmacode.index.pathkind`) scales its definitions and
  its share of the random walk's restarts. Vendored trees, committed ``node_modules``,
  generated files and paths ``.gitattributes`` marks ``linguist-vendored`` or
  ``linguist-generated`` weigh least, then fixtures, sandboxes and examples: they stay in
  the map's graph (their uses still say what matters) but come after the project's own code
  (:func:`tiered`). Tests weigh as much as the code: on Django, weighing them at 0.3 cut the
  unfocused map's recall of what the next release used from 0.079 to 0.048, since changes
  use test helpers as much as code.
- *Specific names*: a one-letter name (``T``, ``K``: type variables) says nothing about
  the code around it, unless the focused code uses it (then it is among what comes first).
  Neutral on the bench's projects (their maps never led with one), kept for repositories
  whose maps did.
- *Focus*: the definitions of the names the focused files use come first, best first by how
  much the focused code uses the name, how few files define it (one definition is surely the
  one meant) and how few files use it at all (``join``, used everywhere, says less than
  ``resolve_lookup``); their neighbours follow in PageRank's order.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING

from gemmacode.index.pathkind import EXAMPLE, SOURCE, TEST, TEXT, VENDORED, kinds

if TYPE_CHECKING:
    from gemmacode.repomap.graph import Graph

KIND_WEIGHT = {SOURCE: 1.0, TEST: 1.0, EXAMPLE: 0.1, VENDORED: 0.01, TEXT: 0.3}
# Code that is not the project's own comes after all of it, however much it is used (a
# vendored library every file imports would otherwise lead): tier 0 is the project's code
# and its tests, 1 examples, fixtures and sandboxes, 2 vendored and generated code.
KIND_TIER = {SOURCE: 0, TEST: 0, TEXT: 0, EXAMPLE: 1, VENDORED: 2}
SHORT_NAME_WEIGHT = 0.05
MAX_DEFINERS = 12  # graph.GENERIC_DEFINERS: a name defined in more files is not lifted


def file_kinds(paths: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """Each file's kind; ``patterns`` are ``.gitattributes``' vendored and generated
    patterns."""
    from gemmacode.index.languages import language_for

    return kinds(paths, [language_for(p) == "text" for p in paths], patterns)


def name_weight(name: str) -> float:
    """A one-letter name (a type variable, a loop index kept at module level) weighs little."""
    return SHORT_NAME_WEIGHT if len(name.strip("_")) <= 1 else 1.0


def focus_order(
    graph: Graph, focus: Sequence[str], scores: Sequence[float], weights: Sequence[float]
) -> list[int]:
    """Definitions (indices into ``graph.sym_*``) of the names the ``focus`` files use,
    defined outside them, best first; empty without focus files in the graph."""
    where = {p: i for i, p in enumerate(graph.paths)}
    focused = {where[p] for p in focus if p in where}
    if not focused:
        return []
    source, weight, bounds = graph.by_name
    use: dict[int, float] = {}
    hits = [j for j, s in enumerate(source) if s in focused]
    if not hits:
        return []
    for j in hits:
        nid = bisect_right(bounds, j) - 1
        use[nid] = use.get(nid, 0.0) + weight[j]
    definers = list(graph.definers.values())
    priority: dict[int, float] = {}
    for nid, w in use.items():
        files = [f for f in definers[nid] if f not in focused]
        if not files or len(definers[nid]) > MAX_DEFINERS:
            continue
        users = bounds[nid + 1] - bounds[nid]
        priority[nid] = w / len(files) / math.log2(2 + users)
    chosen = [
        (priority[nid] * weights[f], scores[j], j)
        for j, (nid, f) in enumerate(zip(graph.sym_name, graph.sym_file, strict=True))
        if nid in priority and f not in focused
    ]
    chosen.sort(key=lambda t: (-t[0], -t[1], t[2]))
    return [j for _, _, j in chosen]


def scaled(scores: Sequence[float], graph: Graph, weights: Sequence[float] | None) -> list[float]:
    """``scores`` with each definition scaled by its file's weight and its name's."""
    names = list(graph.definers)
    per_name = list(map(name_weight, names))
    fw = weights if weights is not None else list(repeat(1.0, len(graph.paths)))
    return [
        s * fw[f] * per_name[n]
        for s, f, n in zip(scores, graph.sym_file, graph.sym_name, strict=True)
    ]


def tiered(order: list[int], graph: Graph, kinds_: Sequence[str] | None) -> list[int]:
    """``order`` (definition indices) with the project's own code first, then examples and
    fixtures, then vendored code, each keeping its order."""
    if kinds_ is None:
        return order
    tier = [KIND_TIER[k] for k in kinds_]
    sym_file = graph.sym_file
    return sorted(order, key=lambda j: tier[sym_file[j]])
