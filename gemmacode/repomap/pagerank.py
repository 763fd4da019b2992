"""Personalised PageRank by power iteration, in pure Python (no networkx, no numpy).

A graph is a :class:`Flow`: each node sends its rank along its outgoing links in proportion to
their weights, either straight to a node or through a *hub* that gathers from many nodes and
hands on to a few (the repo map routes a name defined in several files through one hub
instead of linking every referencing file to every defining file). Every sum is a
:class:`Grouped` sparse product computed by a few C-level passes (``map``, ``accumulate``)
over flat lists, never a Python loop per node or per link.

Rank that reaches a node with no outgoing links (a dangling node) is handed back along the
personalisation vector, as the teleport is, so the ranks sum to one and do not depend on node
order: whatever rank did not move along a link in an iteration restarts along the
personalisation vector.
"""

from __future__ import annotations

from collections import Counter as TallyCounter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add, itemgetter, mul, sub
from typing import NamedTuple

ALPHA = 0.85  # probability of following a link rather than teleporting
TOLERANCE = 1e-4  # stop when the ranks move less than this in total (L1, ranks summing to 1)
MAX_ITERATIONS = 100


class Grouped(NamedTuple):
    """A sparse product: group ``g`` sums ``weight[j] * x[source[j]]`` for ``j`` from
    ``bounds[g]`` to ``bounds[g + 1]``."""

    source: list[int]
    weight: list[float]
    bounds: list[int]  # one more than there are groups; starts at 0

    @property
    def groups(self) -> int:
        return len(self.bounds) - 1


def grouped(groups: int, items: Iterable[tuple[int, int, float]]) -> Grouped:
    """A :class:`Grouped` from ``(group, source, weight)`` triples (any order; within a
    group they keep the order given, which fixes the summation order)."""
    items = sorted(items, key=itemgetter(0))  # stable
    sizes = TallyCounter(map(itemgetter(0), items))
    bounds = [0, *accumulate(map(sizes.get, range(groups), repeat(0)))]
    return Grouped(list(map(itemgetter(1), items)), list(map(itemgetter(2), items)), bounds)


def grouped_sum(x: list[float], g: Grouped) -> list[float]:
    """The group sums of ``g`` over ``x``: differences of one running total."""
    if not g.source:
        return [0.0] * g.groups
    running = [0.0, *accumulate(map(mul, map(x.__getitem__, g.source), g.weight))]
    at = running.__getitem__
    bounds = g.bounds
    return list(map(sub, map(at, bounds[1:]), map(at, bounds[:-1])))


class Core(NamedTuple):
    """The part of a :class:`Flow` an iteration must redo: the nodes with incoming links
    (``active``, in node order) and the links between them, renumbered: ``hubs`` gathers from
    active nodes only (by position in ``active``), ``links`` feeds active nodes (by position)
    from active nodes (``src < len(active)``) and hubs (``len(active) + hub``).

    Every other node receives nothing, so its rank is its teleport share of what restarts;
    what it sends is the same fixed pattern scaled by that amount, summed once per solve.
    Most files of a repository are such leaves (tests, scripts, docs)."""

    active: list[int]
    hubs: Grouped
    links: Grouped


@dataclass(frozen=True)
class Flow:
    """A weighted directed graph of ``n`` nodes in pull form; build it with :func:`make_flow`.

    ``hubs`` gathers, per hub, ``weight * rank[s] / out_weight[s]`` from its source nodes;
    ``links`` gathers, per node, ``weight * value[src]`` where ``src < n`` is a node (its rank
    divided by its out weight) and ``src >= n`` is hub ``src - n``. ``out_weight[s]`` must be
    the total weight leaving ``s`` (0 for a dangling node).
    """

    n: int
    out_weight: list[float]
    hubs: Grouped
    links: Grouped
    core: Core


def make_flow(n: int, out_weight: list[float], hubs: Grouped, links: Grouped) -> Flow:
    """A :class:`Flow` with its :class:`Core` worked out."""
    bounds = links.bounds
    active = [t for t in range(n) if bounds[t + 1] > bounds[t]]
    m = len(active)
    local = [-1] * n
    for j, t in enumerate(active):
        local[t] = j
    core_hubs = [
        (h, local[src], w)
        for h in range(hubs.groups)
        for src, w in zip(
            hubs.source[hubs.bounds[h] : hubs.bounds[h + 1]],
            hubs.weight[hubs.bounds[h] : hubs.bounds[h + 1]],
            strict=True,
        )
        if local[src] >= 0
    ]
    core_links = []
    for j, t in enumerate(active):
        for src, w in zip(
            links.source[bounds[t] : bounds[t + 1]],
            links.weight[bounds[t] : bounds[t + 1]],
            strict=True,
        ):
            if src >= n:
                core_links.append((j, m + src - n, w))
            elif local[src] >= 0:
                core_links.append((j, local[src], w))
    core = Core(active, grouped(hubs.groups, core_hubs), grouped(m, core_links))
    return Flow(n, out_weight, hubs, links, core)


def solve(
    graph: Flow,
    personal: Sequence[float],
    *,
    extra: Sequence[tuple[int, int, float]] = (),
    alpha: float = ALPHA,
    tolerance: float = TOLERANCE,
    max_iterations: int = MAX_ITERATIONS,
) -> list[float]:
    """Stationary ranks of ``graph`` teleporting along ``personal`` (non-negative, not all
    zero, ``graph.n`` long). ``extra`` adds ``(target, source, weight)`` links between nodes
    whose targets already have incoming links (their weights must be part of
    ``graph.out_weight``).

    Iterates over the :class:`Core` only: each step moves ``alpha`` of the active nodes'
    rank along the links plus what the leaves send, and whatever did not move (the
    teleport, dangling nodes) restarts along ``personal``; leaves hold ``lost * p``.
    """
    n = graph.n
    if n == 0:
        return []
    inv_out = [1.0 / w if w > 0 else 0.0 for w in graph.out_weight]
    total = sum(personal)
    p = [v / total for v in personal]
    core = graph.core
    active = core.active
    m = len(active)
    local = dict(zip(active, range(m), strict=True))
    # What the leaves send per unit of restarting rank (they hold lost * p): summed once.
    leaf = list(map(mul, p, inv_out))
    for t in active:
        leaf[t] = 0.0
    hubs = graph.hubs.groups > 0
    sent = grouped_sum(leaf + grouped_sum(leaf, graph.hubs) if hubs else leaf, graph.links)
    inner: list[tuple[int, int, float]] = []
    for t, src, w in extra:
        if src in local:
            inner.append((local[t], local[src], w))
        else:
            sent[t] += w * leaf[src]
    extra_core = grouped(m, inner) if inner else None
    base = [sent[t] for t in active]
    p_core = [p[t] for t in active]
    inv_core = [inv_out[t] for t in active]
    p_leaves = max(0.0, 1.0 - sum(p_core))
    rank = list(p_core)
    lost = 1.0  # rank = p to start with: every leaf holds lost * p
    core_hubs = core.hubs.groups > 0
    for _ in range(max_iterations):
        s = list(map(mul, rank, inv_core))
        inflow = grouped_sum(s + grouped_sum(s, core.hubs) if core_hubs else s, core.links)
        if extra_core is not None:
            inflow = list(map(add, inflow, grouped_sum(s, extra_core)))
        moved = list(map(mul, map(add, inflow, map(mul, base, repeat(lost))), repeat(alpha)))
        new_lost = 1.0 - sum(moved)
        new = list(map(add, moved, map(mul, p_core, repeat(new_lost))))
        delta = sum(map(abs, map(sub, new, rank))) + abs(new_lost - lost) * p_leaves
        rank, lost = new, new_lost
        if delta < tolerance:
            break
    out = [lost * v for v in p]
    for j, t in enumerate(active):
        out[t] = rank[j]
    return out


def pagerank(
    incoming: Sequence[Mapping[int, float]],
    out_weight: Sequence[float],
    personal: Mapping[int, float] | None = None,
    *,
    alpha: float = ALPHA,
    tolerance: float = TOLERANCE,
    max_iterations: int = MAX_ITERATIONS,
) -> list[float]:
    """Stationary ranks of a weighted directed graph with ``len(incoming)`` nodes.

    ``incoming[t]`` maps each source ``s`` linking to ``t`` to the weight of that link;
    ``out_weight[s]`` must be the sum of ``s``'s outgoing weights (0 for a dangling node).
    ``personal`` weights the teleport (missing nodes get 0); empty or None means uniform.
    """
    n = len(incoming)
    links = grouped(n, [(t, s, w) for t, into in enumerate(incoming) for s, w in into.items()])
    return solve(
        make_flow(n, list(out_weight), Grouped([], [], [0]), links),
        teleport_vector(n, personal or {}),
        alpha=alpha,
        tolerance=tolerance,
        max_iterations=max_iterations,
    )


def teleport_vector(n: int, weights: Mapping[int, float]) -> list[float]:
    """``weights`` as a probability vector over ``n`` nodes (uniform when none is positive)."""
    total = sum(v for v in weights.values() if v > 0)
    if total <= 0:
        return [1.0 / n] * n if n else []
    p = [0.0] * n
    for node, v in weights.items():
        if v > 0:
            p[node] = v / total
    return p
