"""Human and JSON output of findings, and the exit code against --fail-on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from gemmacode.backends.base import Final
from gemmacode.errors import UsageError
from gemmacode.review.findings.model import SEVERITIES, Finding
from gemmacode.review.findings.render import exit_code_for, render_human, render_json

SOURCE = "\n".join(f"line{n} = {n}" for n in range(1, 31)) + "\n"

SQL = Finding(
    "app/db.py", 12, 12, "high", "security", "SQL from user input", "cur.execute(q, (n,))\n# safe"
)
LEAK = Finding("app/db.py", 4, 5, "medium", "resource-leak", "cursor never closed")
NIT = Finding("app/api.py", 3, 3, "info", "style", "long name")


def test_human_output_groups_by_file_sorts_by_line_and_shows_code() -> None:
    text = render_human([SQL, NIT, LEAK], sources={"app/db.py": SOURCE}, color=False)
    assert text == (
        "app/api.py\n"
        "  3         INFO     style: long name\n"
        "\n"
        "app/db.py\n"
        "  4-5       MEDIUM   resource-leak: cursor never closed\n"
        "            3 | line3 = 3\n"
        "          > 4 | line4 = 4\n"
        "          > 5 | line5 = 5\n"
        "            6 | line6 = 6\n"
        "  12        HIGH     security: SQL from user input\n"
        "            11 | line11 = 11\n"
        "          > 12 | line12 = 12\n"
        "            13 | line13 = 13\n"
        "            fix: cur.execute(q, (n,))\n"
        "                 # safe\n"
        "\n"
        "3 findings: 1 high, 1 medium, 1 info\n"
    )
    assert "\x1b[" not in text


def test_colour_only_when_asked_and_severity_coloured() -> None:
    coloured = render_human([SQL], sources={"app/db.py": SOURCE}, color=True)
    assert "\x1b[1;31mHIGH\x1b[0m" in coloured
    assert "\x1b[1mapp/db.py\x1b[0m" in coloured
    plain = render_human([SQL], sources={"app/db.py": SOURCE}, color=False)
    assert "\x1b" not in plain


def test_long_ranges_are_cut_and_lines_past_the_end_have_no_excerpt() -> None:
    long = Finding("a.py", 2, 20, "low", "style", "big block")
    text = render_human([long], sources={"a.py": SOURCE}, color=False)
    flagged = [line for line in text.splitlines() if line.strip().startswith(">")]
    assert len(flagged) == 5 and "..." in text
    beyond = Finding("a.py", 99, 99, "low", "bug", "ghost")
    assert "|" not in render_human([beyond], sources={"a.py": SOURCE}, color=False)


def test_no_findings() -> None:
    assert render_human([], sources={}, color=True) == "No findings.\n"


@dataclass
class _Result:
    findings: list[Finding]
    model: str = "smollm2"
    notes: list[str] = field(default_factory=list)
    finals: list[Final] = field(default_factory=list)
    prose: str = ""


def test_json_shape_is_stable_and_documented() -> None:
    finals = [
        Final(prompt_tokens=100, completion_tokens=40, eval_s=2.0, total_s=3.0),
        Final(prompt_tokens=50, completion_tokens=20, eval_s=1.0, total_s=1.5, truncated=True),
    ]
    doc = json.loads(render_json(_Result([SQL, LEAK], notes=["1 dropped"], finals=finals)))
    assert list(doc) == ["schema_version", "model", "findings", "stats", "notes"]
    assert doc["schema_version"] == 1 and doc["model"] == "smollm2"
    assert [f["line"] for f in doc["findings"]] == [4, 12]
    assert doc["findings"][1] == SQL.to_dict()
    assert doc["stats"] == {
        "findings": 2,
        "by_severity": {"critical": 0, "high": 1, "medium": 1, "low": 0, "info": 0},
        "requests": 2,
        "prompt_tokens": 150,
        "completion_tokens": 60,
        "seconds": 4.5,
        "tokens_per_second": 20.0,
        "truncated": True,
    }
    assert doc["notes"] == ["1 dropped"]


def test_json_without_metrics_says_null() -> None:
    doc = json.loads(render_json(_Result([], finals=[Final()])))
    assert doc["stats"]["prompt_tokens"] is None
    assert doc["stats"]["tokens_per_second"] is None


@pytest.mark.parametrize(
    ("severities", "fail_on", "code"),
    [
        ([], "high", 0),
        (["medium", "low"], "high", 0),
        (["medium", "high"], "high", 1),
        (["critical"], "high", 1),
        (["medium"], "medium", 1),
        (["info"], "low", 0),
        (["info"], "info", 1),
        (["critical"], "critical", 1),
        (["high"], "critical", 0),
        (["critical"], "never", 0),
    ],
)
def test_exit_code_against_fail_on(severities: list[str], fail_on: str, code: int) -> None:
    findings = [Finding("a.py", 1, 1, s, "bug", "m") for s in severities]
    assert exit_code_for(findings, fail_on) == code


def test_exit_code_default_is_high_and_bad_threshold_is_a_usage_error() -> None:
    assert exit_code_for([Finding("a", 1, 1, "high", "bug", "m")]) == 1
    assert exit_code_for([Finding("a", 1, 1, "medium", "bug", "m")]) == 0
    with pytest.raises(UsageError) as err:
        exit_code_for([], "severe")
    assert err.value.exit_code == 2
    assert str(err.value) == (
        f"unknown --fail-on value 'severe'; use one of: {', '.join(SEVERITIES)}, never"
    )
