"""Properties of the findings parser: total on any text, exact on JSON, prefix-safe on cuts."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gemmacode.review.findings.model import CATEGORIES, SEVERITIES, Finding
from gemmacode.review.findings.parse import parse_findings

_words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(lambda s: s.split() != [])


@st.composite
def findings(draw: st.DrawFn) -> Finding:
    line = draw(st.integers(1, 100_000))
    return Finding(
        file=draw(st.from_regex(r"[a-z]{1,8}(/[a-z_]{1,8}){0,2}\.(py|go|rs|ts)", fullmatch=True)),
        line=line,
        end_line=line + draw(st.integers(0, 50)),
        severity=draw(st.sampled_from(SEVERITIES)),
        category=draw(st.sampled_from(CATEGORIES)),
        message=" ".join(draw(_words).split()),
        suggestion=draw(st.one_of(st.just(""), _words.map(str.strip))),
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = parse_findings(text)
    assert isinstance(result.findings, list)
    assert all(f.line >= 1 and f.end_line >= f.line for f in result.findings)
    assert all(f.severity in SEVERITIES and f.category in CATEGORIES for f in result.findings)


_json_alphabet = st.sampled_from(list("{}[]\",:'0123456789 \nabcdefghilnmorstuyTNF-\\/*"))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_json_alphabet, max_size=300))
def test_json_shaped_noise_never_raises(text: str) -> None:
    for candidate in (text, '{"findings": [' + text, "```json\n" + text):
        result = parse_findings(candidate)
        assert all(f.line >= 1 for f in result.findings)


@settings(max_examples=200, deadline=None)
@given(st.lists(findings(), max_size=6), st.booleans(), st.booleans())
def test_valid_json_round_trips(items: list[Finding], wrapped: bool, indent: bool) -> None:
    payload: object = [f.to_dict() for f in items]
    if wrapped:
        payload = {"findings": payload}
    text = json.dumps(payload, indent=2 if indent else None)
    result = parse_findings(text)
    assert result.findings == items
    assert not result.repaired
    assert result.errors == []


@settings(max_examples=200, deadline=None)
@given(st.lists(findings(), min_size=1, max_size=4), st.data())
def test_any_cut_keeps_a_prefix_of_the_findings(items: list[Finding], data: st.DataObject) -> None:
    text = json.dumps({"findings": [f.to_dict() for f in items]})
    cut = data.draw(st.integers(0, len(text)))
    result = parse_findings(text[:cut])
    n = len(result.findings)
    assert result.findings == items[:n]
    last_close = text.rindex("}", 0, len(text) - 1)  # the end of the last finding
    assert n == len(items) if cut > last_close else n < len(items)


@settings(max_examples=100, deadline=None)
@given(st.lists(findings(), min_size=1, max_size=3), _words)
def test_prose_around_valid_json_changes_nothing(items: list[Finding], prose: str) -> None:
    body = json.dumps({"findings": [f.to_dict() for f in items]})
    for text in (f"{prose}\n```json\n{body}\n```\n{prose}", f"Here you go: {body}"):
        assert parse_findings(text).findings == items
