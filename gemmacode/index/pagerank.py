"""Personalised PageRank by power iteration, in pure Python (no networkx, no numpy).

The graph arrives pull-shaped: for each node, the nodes linking to it and the summed weights,
plus each node's total outgoing weight. Rank that reaches a node with no outgoing links (a
dangling node) is handed back along the personalisation vector, as the teleport is, so the
ranks always sum to one and the result does not depend on node order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import mul, sub

ALPHA = 0.85  # probability of following a link rather than teleporting
TOLERANCE = 1e-5  # stop when the ranks move less than this in total (L1)
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
    # Freeze the graph into flat lists once, keeping only nodes that have incoming links:
    # the loop below runs tens of times and most files in a repository link to nothing.
    active = [t for t in range(n) if incoming[t]]
    sources = [list(incoming[t].keys()) for t in active]
    weights = [list(incoming[t].values()) for t in active]
    dangling = [i for i in range(n) if out_weight[i] <= 0]
    inv_out = [1.0 / w if w > 0 else 0.0 for w in out_weight]
    rank = list(p)
    for _ in range(max_iterations):
        lost = alpha * sum(rank[i] for i in dangling) + (1.0 - alpha)
        get = list(map(mul, rank, inv_out)).__getitem__
        new = [lost * x for x in p]
        for t, src, w in zip(active, sources, weights, strict=True):
            new[t] += alpha * sum(map(mul, map(get, src), w))
        delta = sum(map(abs, map(sub, new, rank)))
        rank = new
        if delta < tolerance:
            break
    return rank
