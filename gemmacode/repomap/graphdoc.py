"""The repo map's identifier graph as plain data, for the on-disk map cache.

Marshalled lists of small numbers are already compact and quick to read (packing them into
``array`` bytes measured slower: the numbers are built back one by one either way). Reading
checks the shapes, so a damaged entry is a miss rather than a wrong ranking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from operator import lt
from typing import Any

from gemmacode.repomap.graph import Graph
from gemmacode.repomap.pagerank import Core, Flow, Grouped


def _grouped(packed: Any) -> Grouped:
    g = Grouped(*packed)
    if len(g.source) != len(g.weight) or not g.bounds or g.bounds[-1] != len(g.source):
        raise ValueError("group sizes")
    return g


def graph_to_doc(graph: Graph) -> dict[str, Any]:
    """``graph`` as plain, marshallable data."""
    doc = {f.name: getattr(graph, f.name) for f in fields(graph)}
    flow, core = graph.flow, graph.flow.core
    doc["flow"] = (flow.n, flow.out_weight, tuple(flow.hubs), tuple(flow.links))
    doc["core"] = (core.active, tuple(core.hubs), tuple(core.links))
    doc["by_name"] = tuple(graph.by_name)
    return doc


def graph_from_doc(doc: Mapping[str, Any]) -> Graph | None:
    """The graph :func:`graph_to_doc` wrote, or None when ``doc`` does not hold one."""
    try:
        n, out_weight, hubs, links = doc["flow"]
        values = {f.name: doc[f.name] for f in fields(Graph)}
        active, core_hubs, core_links = doc["core"]
        core = Core(list(active), _grouped(core_hubs), _grouped(core_links))
        values["flow"] = Flow(n, out_weight, _grouped(hubs), _grouped(links), core)
        values["by_name"] = _grouped(doc["by_name"])
        graph = Graph(**values)
        names = len(graph.definers)
        sizes = {len(graph.sym_file), len(graph.sym_k), len(graph.sym_name)}
        if len(sizes) != 1 or not (
            n == len(graph.paths) == len(graph.file_syms) == len(out_weight)
        ):
            return None
        if len(graph.flow_share) != len(graph.by_name.source) or graph.by_name.groups != names:
            return None
        if graph.sym_file and (
            max(graph.sym_file) >= n
            or max(graph.sym_name) >= names
            or not all(map(lt, graph.sym_k, map(graph.file_syms.__getitem__, graph.sym_file)))
        ):
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return graph
