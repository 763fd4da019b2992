"""Fitting the repo map: never over N tokens, at least 90% of N when there is enough to say,
the outline's shape, determinism, and the on-disk ranking cache."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gemmacode.index.model import FileRecord
from gemmacode.repomap import build as repomap
from gemmacode.repomap.build import build_map
from gemmacode.tokens.counter import TokenCounter
from tests.repomap.test_repomap_ranking import FakeIndex, record

COUNTER = TokenCounter()


def synthetic_repo(seed: int, n_files: int) -> FakeIndex:
    """Files with classes, methods and functions that reference each other at random."""
    rng = random.Random(seed)
    names: list[str] = []
    layout: dict[str, list[tuple[str, str]]] = {}
    for f in range(n_files):
        defs: list[tuple[str, str]] = []
        for c in range(rng.randint(0, 3)):
            cls = f"Widget{f}x{c}"
            defs.append((cls, "class"))
            names.append(cls)
            for m in range(rng.randint(0, 5)):
                meth = f"handle_event_{f}_{c}_{m}"
                defs.append((f"{cls}.{meth}", "method"))
                names.append(meth)
        for g in range(rng.randint(0, 3)):
            fn = f"compute_value_{f}_{g}"
            defs.append((fn, "function"))
            names.append(fn)
        layout[f"pkg/mod_{f}.py"] = defs
    files = {
        path: record(path, defs, rng.choices(names, k=rng.randint(0, 12)) if names else [])
        for path, defs in layout.items()
    }
    return FakeIndex(files)


BIG = synthetic_repo(7, 150)


def full_size(index: FakeIndex) -> int:
    return build_map(index, COUNTER, 10**9).tokens


@settings(max_examples=60, deadline=None)
@given(tokens=st.integers(0, 4000), factor=st.floats(0.5, 2.0))
def test_never_over_the_budget_and_full_when_there_is_enough(tokens: int, factor: float) -> None:
    counter = TokenCounter(factor)
    m = build_map(BIG, counter, tokens)
    assert m.tokens == counter.count(m.text) <= tokens
    if tokens >= 256:  # below that, one file block is a large share of the budget
        assert m.tokens >= 0.9 * tokens, (m.tokens, tokens)


def test_a_small_repository_is_shown_whole() -> None:
    small = synthetic_repo(3, 6)
    everything = sum(len(r.symbols) for r in small.files.values())
    m = build_map(small, COUNTER, 100_000)
    assert len(m.symbols) == everything
    assert m.tokens == COUNTER.count(m.text) < 100_000
    assert set(m.files) == {p for p, r in small.files.items() if r.symbols}


def test_outline_shape_headers_line_numbers_and_enclosing_scopes() -> None:
    files = {
        "lib/store.py": record(
            "lib/store.py",
            [("Store", "class"), ("Store.load", "method"), ("Store.save", "method")],
            [],
        ),
        "lib/other.py": record("lib/other.py", [("other", "function")], []),
    }
    for i in range(5):
        files[f"use{i}.py"] = record(f"use{i}.py", [], ["save", "save", "other"])
    index = FakeIndex(files)
    m = build_map(index, COUNTER, 20)
    # The best definition is Store.save; its class comes along to give it context.
    assert m.symbols[0].scope == "Store.save"
    assert m.text.splitlines()[:3] == ["lib/store.py:", "1: class Store:", "3:   def save():"]
    assert m.tokens <= 20
    whole = build_map(index, COUNTER, 1000).text
    assert whole == (
        "lib/store.py:\n1: class Store:\n2:   def load():\n3:   def save():\n"
        "lib/other.py:\n1: def other():\n"
    )


def test_the_same_input_gives_the_same_map() -> None:
    first = build_map(BIG, COUNTER, 1500, question="handle event")
    again = build_map(synthetic_repo(7, 150), TokenCounter(), 1500, question="handle event")
    shuffled = FakeIndex(dict(sorted(BIG.files.items(), reverse=True)))
    assert first == again == build_map(shuffled, COUNTER, 1500, question="handle event")


def test_focus_and_question_change_what_is_shown() -> None:
    plain = build_map(BIG, COUNTER, 300)
    asked = build_map(BIG, COUNTER, 300, question="what does compute_value_42_0 return?")
    assert asked.symbols[0].name == "compute_value_42_0"
    assert asked.files[0] == "pkg/mod_42.py" and asked.text != plain.text


def test_zero_or_tiny_budgets_give_an_empty_map() -> None:
    assert build_map(BIG, COUNTER, 0).text == ""
    tiny = build_map(BIG, COUNTER, 3)
    assert tiny.tokens <= 3
    assert build_map(FakeIndex({}), COUNTER, 500).text == ""


def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget what this process remembers, and make ranking again fail loudly."""
    monkeypatch.setattr(repomap, "_ranks", type(repomap._ranks)())
    monkeypatch.setattr(repomap, "_graphs", type(repomap._graphs)())

    def no_ranking(*a: object, **k: object) -> None:
        raise AssertionError("ranked again instead of reading the cache")

    monkeypatch.setattr(repomap, "build_graph", no_ranking)


class CountingIndex(FakeIndex):
    """Counts how often the decoded records are asked for; ``records()`` is free."""

    decoded = 0

    @property  # type: ignore[override]
    def files(self) -> dict[str, FileRecord]:
        CountingIndex.decoded += 1
        return self.__dict__["_files"]

    def __init__(self, files: dict[str, FileRecord]) -> None:
        self.__dict__["_files"] = files

    def records(self) -> dict[str, FileRecord]:
        return self.__dict__["_files"]


def test_ranking_is_kept_on_disk_for_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = synthetic_repo(11, 40)
    first = build_map(index, COUNTER, 400, focus=["pkg/mod_3.py"], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("rank-*.marshal"))) == 1
    assert len(list(tmp_path.glob("map-*.marshal"))) == 1
    fresh_process(monkeypatch)
    # Another budget: the map is new, the ranking comes from disk.
    bigger = build_map(index, COUNTER, 800, focus=["pkg/mod_3.py"], cache_dir=tmp_path)
    assert bigger.tokens > first.tokens
    assert bigger.symbols[: len(first.symbols) // 2] == first.symbols[: len(first.symbols) // 2]
    assert len(list(tmp_path.glob("map-*.marshal"))) == 2


def test_a_cached_map_needs_no_decoding_and_no_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = CountingIndex(synthetic_repo(13, 40).files)
    counter = TokenCounter()
    first = build_map(index, counter, 300, question="handle event", cache_dir=tmp_path)
    assert CountingIndex.decoded == 1
    fresh_process(monkeypatch)
    counter_again = TokenCounter()
    again = build_map(index, counter_again, 300, question="handle event", cache_dir=tmp_path)
    assert again == first
    assert CountingIndex.decoded == 1 and counter_again.misses == counter_again.hits == 0
    # Another counter factor counts differently: not served from the cache.
    other = build_map(index, TokenCounter(1.5), 300, question="handle event", cache_dir=tmp_path)
    assert other.tokens <= 300 and CountingIndex.decoded == 2


def test_a_changed_file_or_a_damaged_cache_is_never_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = synthetic_repo(12, 30)
    before = build_map(index, COUNTER, 400, cache_dir=tmp_path)
    for entry in tmp_path.glob("*.marshal"):
        entry.write_text('{"key": "x", "order": [0, 99999]')  # torn or foreign
    repomap._ranks.clear()
    assert build_map(index, COUNTER, 400, cache_dir=tmp_path) == before
    # Change one file: a new fingerprint, so neither the ranking nor the map is reused.
    path = "pkg/mod_0.py"
    old = index.files[path]
    index.files[path] = FileRecord(
        path, "python", 1, 0, "changed", old.symbols[:1], old.references * 3
    )
    assert repomap.fingerprint(index.files) != repomap.fingerprint(synthetic_repo(12, 30).files)
    after = build_map(index, COUNTER, 400, cache_dir=tmp_path)
    assert after.tokens <= 400
    assert len(list(tmp_path.glob("rank-*.marshal"))) == 2  # ranked anew and stored
    shown = [s for s in after.symbols if s.file == path]
    assert all(s == old.symbols[0] for s in shown)


def test_signatures_are_one_line_and_bounded() -> None:
    from gemmacode.index.model import Symbol
    from gemmacode.repomap.render import signature_line

    multi = Symbol("f", "function", "K.f", "a.py", 7, 9, "def f(\n    a,\n    b,\n):")
    assert signature_line(multi) == "7:   def f( a, b, ):"
    long = Symbol("g", "function", "g", "a.py", 1, 2, "def g(" + "x, " * 100 + "):")
    line = signature_line(long)
    assert line.startswith("1: def g(x, x,") and line.endswith("...") and len(line) <= 163
    nameless = Symbol("h", "function", "h", "a.py", 3, 3, "   ")
    assert signature_line(nameless) == "3: h"


def test_maps_built_from_several_threads_match_one_thread(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    index = synthetic_repo(21, 60)
    questions = ["", "handle event", "compute value", "Widget3x1", "", "handle event"]
    repomap._ranks.clear()
    repomap._graphs.clear()
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda q: build_map(index, TokenCounter(), 500, question=q), questions))
    repomap._ranks.clear()
    repomap._graphs.clear()
    assert got == [build_map(index, COUNTER, 500, question=q) for q in questions]


def test_a_new_question_reuses_the_graph_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = synthetic_repo(17, 40)
    build_map(index, COUNTER, 400, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("graph-*.marshal"))) == 1
    fresh_process(monkeypatch)  # building the graph again would fail
    asked = build_map(index, COUNTER, 400, question="compute value 5", cache_dir=tmp_path)
    monkeypatch.undo()
    repomap._ranks.clear()
    repomap._graphs.clear()
    assert asked == build_map(index, COUNTER, 400, question="compute value 5")


def test_a_damaged_graph_or_ranking_on_disk_is_rebuilt(tmp_path: Path) -> None:
    import marshal

    index = synthetic_repo(19, 40)
    want = build_map(index, COUNTER, 400, cache_dir=tmp_path)
    for kind in ("graph", "rank"):
        for entry in tmp_path.glob(f"{kind}-*.marshal"):
            doc = marshal.loads(entry.read_bytes())
            # Well formed, pointing nowhere: definition numbers past the end of their file.
            field = "sym_k" if kind == "graph" else "ks"
            doc[field] = [10**6] * len(doc[field])
            entry.write_bytes(marshal.dumps(doc))
    for entry in tmp_path.glob("map-*.marshal"):
        entry.unlink()
    repomap._ranks.clear()
    repomap._graphs.clear()
    assert build_map(index, COUNTER, 400, cache_dir=tmp_path) == want
    repomap._ranks.clear()
    repomap._graphs.clear()
    for entry in tmp_path.glob("map-*.marshal"):
        entry.unlink()
    assert build_map(index, COUNTER, 400, question="widget", cache_dir=tmp_path).tokens <= 400


def test_an_edit_inside_a_body_reuses_the_graph_and_rankings_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    index = synthetic_repo(23, 40)
    before = build_map(index, COUNTER, 400, question="handle event", cache_dir=tmp_path)
    # Same definitions and uses, new content hash and shifted lines (a body grew).
    path = "pkg/mod_5.py"
    old = index.files[path]
    moved = [dataclasses.replace(s, start_line=s.start_line + 3) for s in old.symbols]
    index.files[path] = FileRecord(path, "python", 2, 1, "edited", moved, old.references)
    fresh_process(monkeypatch)  # building the graph or ranking again would fail
    monkeypatch.setattr(repomap, "rank_definitions", repomap.build_graph)
    after = build_map(index, COUNTER, 400, question="handle event", cache_dir=tmp_path)
    monkeypatch.undo()
    assert after.symbols == [
        dataclasses.replace(s, start_line=s.start_line + 3) if s.file == path else s
        for s in before.symbols
    ]
    repomap._ranks.clear()
    repomap._graphs.clear()
    assert after == build_map(index, COUNTER, 400, question="handle event")
    # A new definition changes the graph: it is built again, not reused.
    index.files[path] = FileRecord(
        path, "python", 3, 2, "edited-again", [*moved, dataclasses.replace(moved[-1], name="x")],
        old.references,
    )  # fmt: skip
    built: list[int] = []
    real = repomap.build_graph

    def counting(table: object) -> object:
        built.append(1)
        return real(table)  # type: ignore[arg-type]

    monkeypatch.setattr(repomap, "build_graph", counting)
    repomap._ranks.clear()
    repomap._graphs.clear()
    build_map(index, COUNTER, 400, question="handle event", cache_dir=tmp_path)
    assert built == [1]
