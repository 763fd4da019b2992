"""Personalised PageRank by power iteration, in pure Python (no networkx, no numpy).

The graph arrives pull-shaped: for each node, the nodes linking to it and the summed weights,
plus each node's total outgoing weight. Rank that reaches a node with no outgoing links (a
dangling node) is handed back along the personalisation vector, as the teleport is, so the
ranks always sum to one and the result does not depend on node order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import accumulate
from operator import mul, sub

ALPHA = 0.85  # probability of following a link rather than teleporting
TOLERANCE = 1e-4  # stop when the ranks move less than this in total (L1)
MAX_ITERATIONS = 100


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
    if n == 0:
        return []
    total = sum(v for v in (personal or {}).values() if v > 0)
    if total > 0:
        assert personal is not None
        p = [0.0] * n
        for node, v in personal.items():
            if v > 0:
                p[node] = v / total
    else:
        p = [1.0 / n] * n
    # Freeze the graph once into flat edge lists grouped by target (only targets that have
    # incoming links): each iteration is then a few C-level passes over the edges, and a
    # target's sum is a difference of running totals, not a Python loop per node.
    active = [t for t in range(n) if incoming[t]]
    edge_src: list[int] = []
    edge_w: list[float] = []
    ends: list[int] = []
    for t in active:
        edge_src.extend(incoming[t].keys())
        edge_w.extend(incoming[t].values())
        ends.append(len(edge_src))
    starts = [0, *ends[:-1]] if ends else []
    dangling = [i for i in range(n) if out_weight[i] <= 0]
    inv_out = [1.0 / w if w > 0 else 0.0 for w in out_weight]
    rank = list(p)
    for _ in range(max_iterations):
        lost = alpha * sum(rank[i] for i in dangling) + (1.0 - alpha)
        get = list(map(mul, rank, inv_out)).__getitem__
        running = [0.0, *accumulate(map(mul, map(get, edge_src), edge_w))]
        new = [lost * x for x in p]
        for t, lo, hi in zip(active, starts, ends, strict=True):
            new[t] += alpha * (running[hi] - running[lo])
        delta = sum(map(abs, map(sub, new, rank)))
        rank = new
        if delta < tolerance:
            break
    return rank
