"""The findings parser on string fixtures: clean, malformed, cut-off, prose and garbage answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemmacode.review.findings.model import Finding
from gemmacode.review.findings.parse import parse_findings, parse_line_spec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_clean_json_object_is_read_without_repair() -> None:
    text = json.dumps(
        {
            "findings": [
                {
                    "file": "app.py",
                    "line": 12,
                    "end_line": 14,
                    "severity": "high",
                    "category": "security",
                    "message": "SQL built with an f-string",
                    "suggestion": "cur.execute(sql, (name,))",
                }
            ]
        }
    )
    result = parse_findings(text)
    assert result.findings == [
        Finding(
            "app.py",
            12,
            14,
            "high",
            "security",
            "SQL built with an f-string",
            "cur.execute(sql, (name,))",
        )
    ]
    assert not result.repaired
    assert result.errors == []


def test_empty_findings_is_a_valid_answer() -> None:
    for text in ('{"findings": []}', "[]", '```json\n{"findings": []}\n```'):
        result = parse_findings(text)
        assert result.findings == [] and result.errors == [] and not result.repaired, text


def test_bare_list_and_default_file() -> None:
    text = '[{"line": 3, "severity": "low", "category": "style", "message": "long line"}]'
    result = parse_findings(text, default_file="src/x.py")
    assert [(f.file, f.line, f.severity) for f in result.findings] == [("src/x.py", 3, "low")]


def test_fenced_json_with_prose_around_it() -> None:
    text = (
        "Sure! Here is my review of the code.\n\n"
        "```json\n"
        '{"findings": [{"line": 7, "severity": "medium", "category": "bug",'
        ' "message": "off by one in range"}]}\n'
        "```\n\nLet me know if you need anything else."
    )
    result = parse_findings(text, default_file="a.py")
    assert [(f.line, f.message) for f in result.findings] == [(7, "off by one in range")]
    assert not result.repaired


def test_json_inside_prose_without_fences_skips_braces_that_are_not_findings() -> None:
    text = (
        "The dict {2} looks odd. Result: "
        '{"findings": [{"line": 4, "severity": "high", "message": "unchecked None"}]} done'
    )
    result = parse_findings(text)
    assert [(f.line, f.category) for f in result.findings] == [(4, "bug")]


def test_python_literals_single_quotes_unquoted_keys_trailing_commas() -> None:
    text = (
        "```json\n"
        "{'findings': [{line: 'L12', severity: 'HIGH', category: None, 'message': 'x is None',"
        " fixed: True,},], // all done\n}\n```"
    )
    result = parse_findings(text, default_file="m.py")
    assert result.repaired
    assert result.errors == ["the JSON was malformed and was repaired"]
    (f,) = result.findings
    assert (f.file, f.line, f.end_line, f.severity, f.category) == ("m.py", 12, 12, "high", "bug")


def test_missing_commas_and_comments_are_tolerated() -> None:
    text = '{"findings": [ {"line": 1 "message": "a leak" /* note */ "severity": "minor"} ]}'
    (f,) = parse_findings(text).findings
    assert (f.line, f.severity, f.category) == (1, "low", "resource-leak")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("HIGH", "high"),
        ("Major", "high"),
        ("error", "high"),
        ("warning", "medium"),
        ("moderate", "medium"),
        ("minor", "low"),
        ("nit", "low"),
        ("Blocker", "critical"),
        ("CRITICAL!", "critical"),
        ("note", "info"),
    ],
)
def test_severity_words_are_mapped(word: str, expected: str) -> None:
    text = json.dumps([{"line": 2, "severity": word, "message": "m"}])
    assert parse_findings(text).findings[0].severity == expected


def test_unknown_severity_reads_as_medium_and_says_so() -> None:
    result = parse_findings('[{"line": 2, "severity": "purple", "message": "m"}]')
    assert result.findings[0].severity == "medium"
    assert result.errors == ["finding 1: unknown severity 'purple' read as medium"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (12, (12, None)),
        (12.0, (12, None)),
        ("12", (12, None)),
        ("12-15", (12, 15)),
        ("12–15", (12, 15)),
        ("L12", (12, None)),
        ("L12-L15", (12, 15)),
        ("line 7", (7, None)),
        ("lines 3 to 5", (3, 5)),
        ("12:5", (12, None)),
        ([12, 15], (12, 15)),
        ({"start": 4, "end": 9}, (4, 9)),
        (True, None),
        ("no number", None),
        (None, None),
    ],
)
def test_line_specs(spec: object, expected: tuple[int, int | None] | None) -> None:
    assert parse_line_spec(spec) == expected


def test_line_range_string_sets_end_line_and_explicit_end_line_wins() -> None:
    a = parse_findings('[{"line": "12-15", "message": "m"}]').findings[0]
    b = parse_findings('[{"line": "12-15", "end_line": 13, "message": "m"}]').findings[0]
    c = parse_findings('[{"line": 9, "end_line": 2, "message": "m"}]').findings[0]
    assert (a.line, a.end_line) == (12, 15)
    assert (b.line, b.end_line) == (12, 13)
    assert (c.line, c.end_line) == (9, 9)  # an end before the start is not a range


def test_other_field_names_models_use() -> None:
    text = json.dumps(
        {
            "issues": [
                {
                    "path": "s.go",
                    "lineNumber": "40",
                    "level": "warning",
                    "type": "Race condition",
                    "description": "counter updated without the mutex",
                    "fix": "lock mu around it",
                },
                {
                    "location": {"file": "s.go", "line": 7},
                    "priority": "low",
                    "title": "unused import",
                },
            ]
        }
    )
    a, b = parse_findings(text).findings
    assert (a.file, a.line, a.severity, a.category, a.suggestion) == (
        "s.go",
        40,
        "medium",
        "concurrency",
        "lock mu around it",
    )
    assert (b.file, b.line, b.severity, b.message) == ("s.go", 7, "low", "unused import")


def test_a_single_finding_object_without_a_list() -> None:
    result = parse_findings('{"line": 5, "severity": "high", "message": "path traversal"}')
    assert [(f.line, f.category) for f in result.findings] == [(5, "security")]


def test_missing_fields_get_defaults_or_the_finding_is_dropped_with_a_reason() -> None:
    text = json.dumps(
        {
            "findings": [
                {"line": 3, "message": "file handle never closed"},
                {"severity": "high", "message": "somewhere there is a bug"},
                {"line": 8, "severity": "high"},
                {"line": 0, "message": "before the file"},
                "just a string",
            ]
        }
    )
    result = parse_findings(text, default_file="f.py")
    assert result.findings == [
        Finding("f.py", 3, 3, "medium", "resource-leak", "file handle never closed")
    ]
    assert result.errors == [
        "finding 2 dropped: no line number (somewhere there is a bug)",
        "finding 3 dropped: no message",
        "finding 4 dropped: line 0 is not a line of the file",
        "finding 5 dropped: not an object",
    ]


@pytest.mark.parametrize(
    "cut",
    [
        '{"findings": [{"line": 2, "severity": "high", "message": "a"}, {"line": 5, "sev',
        '{"findings": [{"line": 2, "severity": "high", "message": "a"}, {"line": 5, "message": "b',
        '{"findings": [{"line": 2, "severity": "high", "message": "a"}, {"line": 5,',
        '{"findings": [{"line": 2, "severity": "high", "message": "a"}, {',
        '{"findings": [{"line": 2, "severity": "high", "message": "a"},',
        '{"findings": [{"line": 2, "severity": "high", "message": "a"}',
        '```json\n{"findings": [{"line": 2, "severity": "high", "message": "a"}, {"line": 5',
        '[{"line": 2, "severity": "high", "message": "a"}, {"line": 5, "message": "esc \\',
        '[{"line": 2, "severity": "high", "message": "a"}, {"line": 5, "message": "\\u00',
    ],
)
def test_truncated_output_keeps_the_complete_findings_only(cut: str) -> None:
    result = parse_findings(cut, default_file="t.py")
    assert [(f.line, f.message) for f in result.findings] == [(2, "a")]
    assert result.repaired
    assert result.errors == ["the answer was cut off; only its complete findings were kept"]


def test_cut_before_any_finding_completes_reports_it() -> None:
    result = parse_findings('{"findings": [{"line": 3, "severity": "hi')
    assert result.findings == []
    assert result.errors == ["the answer was cut off; only its complete findings were kept"]


def test_real_smollm2_outputs_cut_off_by_max_tokens() -> None:
    """Captured from the real model (see tests/fixtures/capture_smollm2_findings.py)."""
    doc = json.loads((FIXTURES / "smollm2_truncated_findings.json").read_text())
    assert doc["captures"], "the fixture holds real captures"
    for capture in doc["captures"]:
        text = capture["text"]
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)  # really cut off
        result = parse_findings(text, default_file="config.py")
        assert result.repaired
        assert len(result.findings) == capture["complete_findings"]
        assert [f.line for f in result.findings] == list(range(1, len(result.findings) + 1))
        assert all(f.file == "config.py" and f.severity == "critical" for f in result.findings)
        assert all(f.category == "error-handling" for f in result.findings)
        assert all(f.message == "The file is not found." for f in result.findings)


def test_prose_fallback_reads_lines_that_name_a_place() -> None:
    text = """I looked at the code. Some thoughts:

- [HIGH] line 12: query built by string concatenation allows SQL injection
- **Line 20-22** (minor): variable name `x` is unclear
src/db.py:31: error: cursor is never closed
1. db.py, line 40 - possible None dereference of row
The loop on line 5 looks fine to me.
"""
    result = parse_findings(text, default_file="src/db.py")
    got = [(f.file, f.line, f.end_line, f.severity, f.category) for f in result.findings]
    assert got == [
        ("src/db.py", 12, 12, "high", "security"),
        ("src/db.py", 20, 22, "low", "style"),
        ("src/db.py", 31, 31, "high", "resource-leak"),
        ("db.py", 40, 40, "medium", "bug"),
    ]
    assert result.repaired
    assert result.errors == ["no JSON found; read 4 from prose"]


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   \n\t",
        "I cannot review this code.",
        "{{{{{{{{[[[[[[[",
        "]]]]}}}}",
        '{"answer": 42}',
        "[1, 2, 3]",
        '{"findings": "none"}',
        "\x00\x01\x02 binary \udcff",
        "[" * 5000,
        "{" * 5000 + '"',
        "```json\n```",
        "null",
        '{"findings": [ {"line": "}',
    ],
)
def test_garbage_gives_no_findings_and_a_reason(garbage: str) -> None:
    result = parse_findings(garbage)
    assert result.findings == []
    assert result.errors


def test_nothing_found_in_prose_is_not_an_error() -> None:
    for text in ("No issues found.", "Looks good to me!", "LGTM"):
        result = parse_findings(text)
        assert result.findings == [] and result.errors == [], text


def test_lone_surrogate_escapes_do_not_break_printing() -> None:
    (f,) = parse_findings('[{"line": 1, "message": "bad \\ud83d char"}]').findings
    f.message.encode("utf-8")  # would raise on a lone surrogate
    assert f.message.startswith("bad ") and f.message.endswith(" char")
