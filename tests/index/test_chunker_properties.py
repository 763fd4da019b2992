"""Properties every chunking must keep, on generated and real files.

The chunks of a file concatenate to the file byte for byte, none is empty, and each counts at
most the budget (a single character that alone counts more is the one allowed exception).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemmacode.index.chunker import chunk_text
from gemmacode.index.languages import language_for
from gemmacode.index.model import Chunk
from gemmacode.tokens.counter import TokenCounter

ROOT = Path(__file__).resolve().parents[2]
COUNTER = TokenCounter()


def check(text: str, language: str, budget: int, counter: TokenCounter = COUNTER) -> list[Chunk]:
    chunks = chunk_text(text, path="f", language=language, budget=budget, counter=counter)
    assert "".join(c.text for c in chunks) == text
    data = text.encode("utf-8", "surrogatepass")
    pos = 0
    for c in chunks:
        assert c.text, "no chunk is empty"
        assert c.start_byte == pos and c.end_byte > c.start_byte
        assert data[c.start_byte : c.end_byte] == c.text.encode("utf-8", "surrogatepass")
        assert c.start_line == data.count(b"\n", 0, c.start_byte) + 1
        assert c.end_line == data.count(b"\n", 0, c.end_byte - 1) + 1
        assert c.tokens == counter.count(c.text)
        assert c.tokens <= budget or len(c.text) == 1, (c.tokens, budget, c.text)
        pos = c.end_byte
    assert pos == len(data)
    return chunks


# Code-shaped text: identifiers, keywords, brackets, indentation, CRLF, tabs, non-ASCII.
_atoms = st.sampled_from(
    [
        "def f(x):\n",
        "    return x\n",
        "class A:\n",
        "    def m(self):\n",
        "        pass\n",
        "if x:\r\n",
        "\tpass\r\n",
        "# comment é\n",
        '"""doc\n',
        "x = [1, 2,\n",
        "   3]\n",
        "\n",
        "} {",
        "{\n",
        "}\n",
        "fn main() {\n",
        "ünïcödé ☃ 日本語 ",
        "\ufffd",
        "🙂🙂🙂",
        "a" * 40,
        "    ",
    ]
)
code_text = st.lists(_atoms, max_size=60).map("".join)
any_text = st.text(max_size=400)
LANGS = ["python", "javascript", "rust", "go", "text", "ruby", "c"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=code_text, language=st.sampled_from(LANGS), budget=st.integers(8, 120))
def test_code_like_text_rebuilds_exactly_within_budget(
    text: str, language: str, budget: int
) -> None:
    check(text, language, budget)


@settings(max_examples=120, deadline=None)
@given(text=any_text, language=st.sampled_from(LANGS), budget=st.integers(1, 40))
def test_arbitrary_unicode_rebuilds_exactly(text: str, language: str, budget: int) -> None:
    check(text, language, budget)


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab日本🙂é \t"), min_size=50, max_size=600),
    budget=st.integers(2, 30),
)
def test_one_long_line_is_split_by_tokens_at_character_boundaries(text: str, budget: int) -> None:
    chunks = check(text, "python", budget)
    if COUNTER.count(text) > budget:
        assert len(chunks) > 1


@settings(max_examples=30, deadline=None)
@given(text=code_text, budget=st.integers(8, 80), factor=st.floats(0.6, 1.9))
def test_calibrated_counter_budget_is_respected(text: str, budget: int, factor: float) -> None:
    check(text, "python", budget, TokenCounter(factor))


def test_empty_file_has_no_chunks() -> None:
    assert check("", "python", 100) == []
    assert check("", "text", 100) == []


def test_no_trailing_newline_crlf_and_replaced_bytes() -> None:
    raw = b"def f():\r\n    return '\xff\xfe'\r\n\r\nclass A:\r\n    x = 1"
    text = raw.decode("utf-8", "replace")
    for budget in (4, 8, 16, 1000):
        check(text, "python", budget)


def test_lone_surrogates_survive() -> None:
    text = "x = '\udcff'\n" * 30
    check(text, "python", 12)


REAL = [
    "gemmacode/index/chunker.py",
    "gemmacode/tokens/calibration.py",
    "gemmacode/config.py",
    "README.md",
    "pyproject.toml",
    "tests/conftest.py",
]


@settings(max_examples=25, deadline=None)
@given(path=st.sampled_from(REAL), budget=st.integers(16, 600))
def test_real_files_of_this_repository(path: str, budget: int) -> None:
    text = (ROOT / path).read_bytes().decode("utf-8", "replace")
    chunks = check(text, language_for(path), budget)
    assert chunks


def test_generated_sources_in_every_language() -> None:
    samples = {
        "javascript": "class A {\n  m(x) {\n    return x + 1;\n  }\n}\n"
        "function f(a) {\n  return a;\n}\n",
        "typescript": "interface I { a: number }\nexport class A {\n"
        "  m(x: number): number {\n    return x;\n  }\n}\n",
        "tsx": "export function C(p: P) {\n  return <div>{p.x}</div>;\n}\n",
        "go": "package p\n\nfunc (s *S) M(x int) int {\n\treturn x\n}\n",
        "rust": "impl S {\n    fn m(&self) -> i32 {\n        1\n    }\n}\n",
        "java": "class A {\n  int m(int x) {\n    return x;\n  }\n}\n",
        "c": "int f(int x) {\n  return x;\n}\n",
        "cpp": "namespace n {\nclass A {\n public:\n  int m() { return 1; }\n};\n}\n",
        "csharp": "namespace N {\n  class A {\n    int M(int x) { return x; }\n  }\n}\n",
        "ruby": "module M\n  class A\n    def m(x)\n      x\n    end\n  end\nend\n",
        "php": "<?php\nclass A {\n  function m($x) {\n    return $x;\n  }\n}\n",
        "bash": "f() {\n  echo hi\n}\n",
    }
    for language, text in samples.items():
        for budget in (3, 6, 12, 400):
            check(text * 5, language, budget)


def test_every_source_file_of_this_repository() -> None:
    paths = sorted(p for p in (ROOT / "gemmacode").rglob("*") if p.suffix in (".py", ".scm"))
    assert len(paths) > 20
    for path in paths:
        text = path.read_bytes().decode("utf-8", "replace")
        check(text, language_for(path.name), 96)
