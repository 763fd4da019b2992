"""What makes the chunks syntax-aware: whole definitions, splits along children, scopes."""

from __future__ import annotations

from gemmacode.index.chunker import chunk_text, definition_name
from gemmacode.index.languages import get_parser
from gemmacode.tokens.counter import TokenCounter

COUNTER = TokenCounter()


def method(name: str, lines: int) -> str:
    body = "".join(f"        value_{i} = compute_{i}(self, {i})\n" for i in range(lines))
    return f"    def {name}(self):\n{body}        return value_0\n"


SOURCE = (
    "import os\n\n\n"
    "class Store:\n"
    '    """Keeps things."""\n\n' + method("load", 6) + "\n" + method("save", 6) + "\n"
    "\n\ndef helper(x):\n    return x\n"
)


def chunks(text: str, budget: int, language: str = "python") -> list[tuple[str, str]]:
    got = chunk_text(text, path="m.py", language=language, budget=budget, counter=COUNTER)
    return [(c.scope, c.text) for c in got]


def test_a_file_that_fits_is_one_chunk() -> None:
    assert chunks(SOURCE, 10_000) == [("", SOURCE)]


def test_a_class_too_big_is_split_into_its_methods_and_methods_stay_whole() -> None:
    load = method("load", 6)
    save = method("save", 6)
    budget = max(COUNTER.count(load), COUNTER.count(save)) + 10
    assert COUNTER.count(SOURCE) > budget
    got = chunks(SOURCE, budget)
    texts = [t for _, t in got]
    assert any(load in t for t in texts)
    assert any(save in t for t in texts)
    scopes = [s for s, _ in got]
    assert "Store.load" in scopes or "Store" in scopes
    # Every chunk starts at a line start: cuts fall between statements, not inside lines.
    pos = 0
    for _, t in got:
        assert pos == 0 or SOURCE[pos - 1] == "\n"
        pos += len(t)


def test_a_long_function_is_cut_at_statement_boundaries_with_its_scope() -> None:
    src = "class K:\n" + method("big", 80)
    budget = 120
    got = chunk_text(src, path="k.py", language="python", budget=budget, counter=COUNTER)
    assert len(got) > 3
    lines = src.splitlines(keepends=True)
    for c in got[1:]:
        assert c.text.startswith("        value_") or c.text.startswith("        return")
        assert c.scope == "K.big"
        assert lines[c.start_line - 1] == c.text.splitlines(keepends=True)[0]
    assert all(c.tokens <= budget for c in got)
    # The header does not stand alone: it shares its chunk with the first statements.
    assert got[0].text.startswith("class K:\n    def big(self):\n        value_0 =")
    assert got[0].tokens > budget // 2


def test_small_neighbours_are_merged_up_to_the_budget() -> None:
    src = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(40))
    got = chunk_text(src, path="s.py", language="python", budget=100, counter=COUNTER)
    one = COUNTER.count("def f1(x):\n    return x + 1\n\n")
    assert len(got) < 40
    # Greedy merging: no two neighbours would have fitted together.
    for a, b in zip(got, got[1:], strict=False):
        assert COUNTER.count(a.text + b.text) > 100 or a.tokens + one > 100


def test_scopes_in_other_languages() -> None:
    rust = (
        "impl Store {\n"
        + "".join(
            f"    fn m{i}(&self) -> i32 {{\n        let a = {i};\n        a + 1\n    }}\n"
            for i in range(8)
        )
        + "}\n"
    )
    got = chunk_text(rust, path="s.rs", language="rust", budget=40, counter=COUNTER)
    # The first chunk holds the impl header, so its scope is the impl; a closing brace alone
    # does not widen the last method's scope.
    assert [c.scope for c in got] == ["Store"] + [f"Store.m{i}" for i in range(1, 8)]
    assert got[0].text.startswith("impl Store {\n    fn m0")
    assert got[-1].text.endswith("}\n}\n")


def test_definition_names_across_grammars() -> None:
    cases = {
        "c": (b"static int *g(void) { return 0; }\n", "g"),
        "cpp": (b"int A::m2() { return 1; }\n", "m2"),
        "go": (b"package p\ntype S struct { a int }\n", "S"),
        "rust": (b"impl S { fn m(&self) {} }\n", "S"),
        "python": (b"@dec\nclass A:\n    pass\n", "A"),
    }
    for language, (src, name) in cases.items():
        root = get_parser(language).parse(src).root_node
        defs = [c for c in root.named_children if c.type != "package_clause"]
        assert definition_name(defs[0]) == name, language


def test_text_files_split_at_paragraphs() -> None:
    paras = [f"Paragraph {i} " + "word " * 30 + "\n" for i in range(6)]
    text = "\n".join(paras)
    got = chunk_text(text, path="r.md", language="text", budget=45, counter=COUNTER)
    assert "".join(c.text for c in got) == text
    for c in got:
        assert c.text.startswith("Paragraph") or c.text.startswith("\n")
        assert c.language == "text" and c.scope == ""
