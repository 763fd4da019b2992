"""Ranking for the repo map: PageRank itself, the identifier graph, focus and question."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gemmacode.index.model import FileRecord, Reference, Symbol
from gemmacode.repomap.build import ranked_definitions, tags_from_records
from gemmacode.repomap.graph import (
    _specific,
    build_graph,
    mentioned,
    question_terms,
    split_identifier,
)
from gemmacode.repomap.pagerank import pagerank, solve


@dataclass
class FakeIndex:
    """Stands in for RepoIndex: the map reads only ``files``."""

    files: dict[str, FileRecord]


def record(path: str, defs: list[tuple[str, str]], refs: list[str]) -> FileRecord:
    """A file defining ``(scope, kind)`` pairs, one per line, and referencing ``refs``."""
    symbols = [
        Symbol(
            name=scope.rsplit(".", 1)[-1],
            kind=kind,
            scope=scope,
            file=path,
            start_line=i + 1,
            end_line=i + 1,
            signature=f"def {scope.rsplit('.', 1)[-1]}():"
            if kind != "class"
            else f"class {scope}:",
        )
        for i, (scope, kind) in enumerate(defs)
    ]
    references = [Reference(name, path, 100 + i) for i, name in enumerate(refs)]
    return FileRecord(
        path, "python", 1, 0, f"digest-{path}-{len(defs)}-{len(refs)}", symbols, references
    )


def dense_pagerank(
    n: int, edges: dict[tuple[int, int], float], personal: list[float], alpha: float = 0.85
) -> list[float]:
    """The textbook definition, written independently: x = a*(P^T x + d p) + (1-a) p."""
    out = [sum(w for (s, _), w in edges.items() if s == i) for i in range(n)]
    x = [1.0 / n] * n
    for _ in range(2000):
        dangling = sum(x[i] for i in range(n) if out[i] == 0)
        y = [(1 - alpha) * personal[t] + alpha * dangling * personal[t] for t in range(n)]
        for (s, t), w in edges.items():
            y[t] += alpha * x[s] * w / out[s]
        x = y
    return x


def to_incoming(
    n: int, edges: dict[tuple[int, int], float]
) -> tuple[list[dict[int, float]], list[float]]:
    incoming: list[dict[int, float]] = [{} for _ in range(n)]
    out = [0.0] * n
    for (s, t), w in edges.items():
        incoming[t][s] = w
        out[s] += w
    return incoming, out


@pytest.mark.parametrize("seed", range(6))
def test_pagerank_matches_the_textbook_definition(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 12)
    edges = {
        (rng.randrange(n), rng.randrange(n)): rng.uniform(0.1, 5.0)
        for _ in range(rng.randint(0, 30))
    }
    weights = {i: rng.uniform(0, 3) for i in rng.sample(range(n), rng.randint(0, n))}
    total = sum(weights.values())
    personal = [weights.get(i, 0.0) / total for i in range(n)] if total else [1.0 / n] * n
    incoming, out = to_incoming(n, edges)
    got = pagerank(incoming, out, weights, tolerance=1e-12, max_iterations=1000)
    want = dense_pagerank(n, edges, personal)
    assert sum(got) == pytest.approx(1.0)
    assert got == pytest.approx(want, abs=1e-8)


def test_pagerank_of_a_cycle_is_uniform_and_personalisation_moves_it() -> None:
    incoming, out = to_incoming(3, {(0, 1): 1.0, (1, 2): 1.0, (2, 0): 1.0})
    assert pagerank(incoming, out) == pytest.approx([1 / 3] * 3)
    leaning = pagerank(incoming, out, {0: 1.0})
    assert leaning[0] > leaning[1] > leaning[2]
    assert pagerank([], []) == []


def test_identifier_words() -> None:
    assert split_identifier("QuerySet") == ["query", "set"]
    assert split_identifier("get_HTTPResponse_2x") == ["get", "http", "response", "2", "x"]
    idents, words = question_terms("Why does parseConfig call load_user_file?")
    assert {"parseConfig", "load_user_file"} <= idents
    assert {"parse", "config", "load", "user", "file"} <= words
    names = ["QuerySet", "query_set", "Query", "UserFile", "set", "Other"]
    got = mentioned(names, *question_terms("the query set"))
    assert got == {"QuerySet", "query_set", "Query", "set"}
    assert mentioned(["the", "how", "Engine"], *question_terms("how is the engine")) == {"Engine"}
    assert mentioned(names, *question_terms("userfile and query")) == {"UserFile", "Query"}
    assert mentioned(names, set(), set()) == set()


def star_repo() -> FakeIndex:
    """core.py defines Engine, used by many files; util.py defines helper, used by one."""
    files = {
        "core.py": record("core.py", [("Engine", "class"), ("Engine.run", "method")], []),
        "util.py": record("util.py", [("helper", "function")], []),
        "lonely.py": record("lonely.py", [("unused_thing", "function")], []),
    }
    for i in range(6):
        path = f"app{i}.py"
        files[path] = record(path, [(f"App{i}", "class")], ["Engine", "run", "Engine"])
    files["app0.py"] = record("app0.py", [("App0", "class")], ["Engine", "helper"])
    return FakeIndex(files)


def top(index: FakeIndex, **kw: object) -> list[str]:
    ranked = ranked_definitions(index.files, **kw)  # type: ignore[arg-type]
    return [index.files[p].symbols[k].scope for p, k in ranked]


def test_definitions_referenced_from_many_files_rank_first() -> None:
    order = top(star_repo())
    assert order[0] == "Engine"
    assert order.index("helper") < order.index("unused_thing")
    assert sorted(order) == sorted(s.scope for r in star_repo().files.values() for s in r.symbols)


def test_focus_and_question_pull_the_ranking() -> None:
    index = star_repo()
    plain = top(index)
    assert plain[:3] == ["Engine", "Engine.run", "helper"]
    # Focused on app0.py: the definitions it uses come first, helper (used by app0.py
    # alone, so more telling) before Engine (used everywhere), then their neighbours.
    assert top(index, focus=["app0.py"])[:3] == ["helper", "Engine", "Engine.run"]
    # A focus file that references nothing still leaves the rest ranked as before.
    assert top(index, focus=["lonely.py"])[:3] == plain[:3]
    assert top(index, focus=["no/such/file.py"]) == plain
    assert top(index, question="where is unused thing called")[0] == "unused_thing"
    assert top(index, question="UnusedThing")[0] == "unused_thing"
    # A scope path names one definition: it beats a name the question also spells out.
    dotted = top(index, question="does unused_thing call Engine.run?")
    assert dotted[0] == "Engine.run" and set(dotted[1:3]) == {"Engine", "unused_thing"}


def test_generic_names_do_not_link_files() -> None:
    files = {f"m{i}.py": record(f"m{i}.py", [("get", "function")], []) for i in range(20)}
    files["user.py"] = record("user.py", [("User", "class")], ["get"] * 5)
    graph = build_graph(tags_from_records(files))
    assert not graph.flow.links.source and not graph.flow.hubs.source
    assert graph.out_weight == [0.0] * len(files)
    # user.py still references get (five times, a name defined in more than five files).
    nid = list(graph.definers).index("get")
    lo, hi = graph.by_name.bounds[nid], graph.by_name.bounds[nid + 1]
    assert graph.by_name.source[lo:hi] == [graph.paths.index("user.py")]
    assert graph.by_name.weight[lo:hi] == [pytest.approx(0.1 * 5**0.5)]


def test_ranking_is_deterministic_and_independent_of_insertion_order() -> None:
    index = star_repo()
    reversed_index = FakeIndex(dict(reversed(list(index.files.items()))))
    assert top(index) == top(reversed_index)
    assert top(index, question="engine") == top(reversed_index, question="engine")


def test_pagerank_of_a_graph_without_edges_is_the_teleport_vector() -> None:
    """Small repositories often share no identifiers between files: no edges at all."""
    incoming, out = to_incoming(3, {})
    assert pagerank(incoming, out) == pytest.approx([1 / 3] * 3)
    assert pagerank(incoming, out, {2: 1.0}) == pytest.approx([0.0, 0.0, 1.0])


def explicit_file_graph(index: FakeIndex) -> tuple[int, dict[tuple[int, int], float]]:
    """The documented graph written out plainly: file -> defining file, per shared name,
    weight sqrt(uses) x factors, split evenly among up to 12 definers."""
    paths = sorted(index.files)
    definers: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        for name in {s.name for s in index.files[p].symbols}:
            definers.setdefault(name, []).append(i)
    edges: dict[tuple[int, int], float] = {}
    for i, p in enumerate(paths):
        uses: dict[str, int] = {}
        for r in index.files[p].references:
            uses[r.name] = uses.get(r.name, 0) + 1
        for name, count in uses.items():
            targets = definers.get(name, [])
            if not targets or len(targets) > 12:
                continue
            w = count**0.5 * (0.1 if name.startswith("_") else 1.0)
            w *= (0.1 if len(targets) > 5 else 1.0) * (10.0 if _specific(name) else 1.0)
            for t in targets:
                edges[(i, t)] = edges.get((i, t), 0.0) + w / len(targets)
    return len(paths), edges


@pytest.mark.parametrize("seed", range(4))
def test_hub_and_core_ranking_equals_pagerank_on_the_explicit_file_graph(seed: int) -> None:
    """Names with several definers go through hubs and leaves are summed once per solve:
    the ranks must still be PageRank of the plain file graph."""
    from tests.repomap.test_repomap_fit import synthetic_repo

    index = synthetic_repo(seed, 60)
    rng = random.Random(seed)
    # Some names defined in several files (hubs), one in many (generic), private ones.
    for k, path in enumerate(sorted(index.files)):
        rec = index.files[path]
        extra = [("shared_helper", "function")] if k % 7 == 0 else []
        extra += [("run", "function")] if k % 3 == 0 else []
        refs = [r.name for r in rec.references]
        refs += rng.choices(["shared_helper", "run", "_private"], k=rng.randint(0, 4))
        defs = [(s.scope, s.kind) for s in rec.symbols] + extra
        if k % 11 == 0:
            defs.append(("_private", "function"))
        index.files[path] = record(path, defs, refs)
    n, edges = explicit_file_graph(index)
    graph = build_graph(tags_from_records(index.files))
    assert graph.flow.hubs.groups > 0 and len(graph.flow.core.active) < n
    weights = {i: rng.uniform(0.5, 2.0) for i in rng.sample(range(n), 5)}
    total = sum(weights.values())
    teleport = [0.25 / n + (0.75 * weights.get(i, 0.0) / total) for i in range(n)]
    got = solve(graph.flow, teleport, tolerance=1e-13, max_iterations=2000)
    want = dense_pagerank(n, edges, teleport)
    assert sum(got) == pytest.approx(1.0)
    assert got == pytest.approx(want, abs=1e-9)


def mentioned_one_by_one(names: list[str], idents: set[str], words: set[str]) -> set[str]:
    """The definition of :func:`mentioned`, one name at a time."""
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


_NAME_CHARS = "abcdeQSXYZ_09é\u212a"  # \u212a: KELVIN SIGN, lower-cases to ASCII "k"


@given(
    names=st.lists(st.text(_NAME_CHARS, min_size=1, max_size=12), max_size=40),
    question=st.text(_NAME_CHARS + " .", max_size=30),
)
@settings(max_examples=300, deadline=None)
def test_mentioned_matches_all_names_at_once_as_one_by_one(names: list[str], question: str) -> None:
    idents, words = question_terms(question)
    for extra in (["query_set", "QuerySet", "Query", "set"], []):
        got = mentioned(names + extra, idents, words)
        assert got == mentioned_one_by_one(names + extra, idents, words)


def kinds_repo() -> FakeIndex:
    """Own code, a vendored library and a one-letter type variable, all used alike."""
    users = ["Engine", "vendored_helper", "T", "Engine", "vendored_helper", "T"]
    files = {
        "src/engine.py": record("src/engine.py", [("Engine", "class")], []),
        "src/types.py": record("src/types.py", [("T", "constant")], []),
        "vendor/lib/helpers.py": record(
            "vendor/lib/helpers.py", [("vendored_helper", "function")], []
        ),
        "tests/fixtures/data.py": record("tests/fixtures/data.py", [("make_data", "function")], []),
    }
    for i in range(4):
        path = f"src/app{i}.py"
        files[path] = record(path, [(f"App{i}", "class")], [*users, "make_data"])
    files["src/lonely.py"] = record("src/lonely.py", [("lonely_thing", "function")], [])
    return FakeIndex(files)


def test_own_code_leads_and_one_letter_names_weigh_little() -> None:
    order = top(kinds_repo())
    assert order[0] == "Engine"
    # Vendored code and fixtures come after every definition of the project's own code,
    # even one nobody uses; T comes after Engine although used as much.
    own = [order.index(s) for s in ("Engine", "T", "App0", "lonely_thing")]
    assert max(own) < order.index("make_data") < order.index("vendored_helper")
    assert order.index("T") > order.index("Engine")


def test_focused_code_gets_what_it_uses_first_even_a_type_variable() -> None:
    index = kinds_repo()
    index.files["src/app0.py"] = record("src/app0.py", [("App0", "class")], ["T", "T", "Engine"])
    order = top(index, focus=["src/app0.py"])
    assert order[:2] == ["T", "Engine"]  # used most by the focused code, one letter or not
