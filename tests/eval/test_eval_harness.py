"""The eval harness: running cases, timing them, reporting per model, and the command's flags."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from gemmacode.backends.base import ChatRequest, Final
from gemmacode.commands.eval_cmd import select_cases
from gemmacode.config import load_settings
from gemmacode.context.model_session import ModelSession
from gemmacode.errors import ContextOverflowError, UsageError
from gemmacode.eval.dataset import Case, Dataset, Expected, load_dataset
from gemmacode.eval.report import ModelReport, report_json, report_text, run_eval
from gemmacode.review.engine import review_snippet
from gemmacode.review.findings.model import FINDINGS_SCHEMA, Finding
from tests.fakes.backend import FakeBackend

CASES = (
    Case("a", "a.py", "python", "x = 1\n" * 30, (Expected(10, 11, "bug", "planted a"),)),
    Case("b", "b.go", "go", "package b\n" * 30, (Expected(5, 5, "security", "planted b"),)),
    Case("c", "c.rs", "rust", "fn c() {}\n" * 30, (Expected(3, 3, "bug", "planted c"),)),
)
DATASET = Dataset("tiny", "memory", CASES)


@dataclass
class _Result:
    findings: list[Finding]
    finals: list[Final] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Session:
    model_name: str = "stand-in:1b"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_run_eval_scores_times_and_reports_each_case() -> None:
    clock = _Clock()
    calls: list[dict[str, Any]] = []

    async def review(session: Any, **kw: Any) -> _Result:
        calls.append(kw)
        clock.now += {"a.py": 2.0, "b.go": 4.0, "c.rs": 1.0}[kw["path"]]
        if kw["path"] == "c.rs":
            raise ContextOverflowError("prompt of 9000 tokens cannot fit num_ctx 8192")
        findings = {
            "a.py": [
                Finding("a.py", 10, 10, "high", "bug", "hit"),
                Finding("a.py", 29, 29, "low", "style", "noise"),
            ],
            "b.go": [Finding("b.go", 7, 7, "high", "security", "near")],
        }[kw["path"]]
        final = Final(prompt_tokens=500, completion_tokens=50, eval_s=1.0)
        return _Result(findings, [final], ["a note"])

    report = asyncio.run(
        run_eval(_Session(), DATASET, review, backend="fake", prose=False, clock=clock)
    )
    assert [c["path"] for c in calls] == ["a.py", "b.go", "c.rs"]
    assert all(c["prose"] is False and c["text"] for c in calls)
    assert calls[1]["language"] == "go"
    summary = report.summary()
    assert summary["cases"] == 3 and summary["errors"] == 1
    assert (summary["expected"], summary["reported"], summary["matched"]) == (3, 3, 2)
    assert summary["recall"] == round(2 / 3, 4)
    assert summary["precision"] == round(2 / 3, 4)
    assert summary["line_accuracy"] == 0.5  # b's finding is 2 lines off: matched, not exact
    assert summary["latency_total_s"] == 7.0
    assert (summary["prompt_tokens"], summary["completion_tokens"]) == (1000, 100)
    assert summary["tokens_per_second"] == 50.0

    doc = json.loads(report_json([report]))
    assert doc["schema_version"] == 1 and doc["tolerance"] == 2
    assert doc["dataset"] == {"name": "tiny", "origin": "memory", "cases": 3}
    (model,) = doc["models"]
    assert (model["model"], model["backend"]) == ("stand-in:1b", "fake")
    a, b, c = model["cases"]
    assert [x["matched"] for x in a["findings"]] == [True, False]
    assert a["notes"] == ["a note"] and a["missed"] == []
    assert c["error"].startswith("prompt of 9000 tokens") and c["missed"] == ["planted c"]
    assert model["by_language"]["go"] == {
        "cases": 1,
        "expected": 1,
        "matched": 1,
        "recall": 1.0,
        "precision": 1.0,
    }

    text = report_text([report])
    assert text.startswith("eval of tiny (3 cases): model stand-in:1b (fake)\n")
    assert "recall 0.67 (2/3)  precision 0.67 (2/3)  line accuracy 0.50 (1/2)" in text
    assert "1 cases failed" in text and "error: prompt of 9000" in text


def test_several_models_get_a_comparison_table() -> None:
    empty = ModelReport("m1", "ollama", DATASET, 2)
    other = dataclasses.replace(empty, model="m2")
    text = report_text([empty, other])
    assert "model                    recall precision line acc" in text
    assert "  m1 " in text and "  m2 " in text
    assert [m["model"] for m in json.loads(report_json([empty, other]))["models"]] == ["m1", "m2"]


def _args(**kw: Any) -> argparse.Namespace:
    base = {"case": None, "language": None, "limit": None}
    return argparse.Namespace(**{**base, **kw})


def test_case_filters() -> None:
    ds = load_dataset()
    assert [c.id for c in select_cases(ds, _args(case=["go-body-leak"])).cases] == ["go-body-leak"]
    assert {c.language for c in select_cases(ds, _args(language=["rust"])).cases} == {"rust"}
    assert len(select_cases(ds, _args(limit=3)).cases) == 3
    with pytest.raises(UsageError, match="no case nope"):
        select_cases(ds, _args(case=["nope"]))
    with pytest.raises(UsageError, match="leave no case"):
        select_cases(ds, _args(language=["cobol"]))
    with pytest.raises(UsageError, match="--limit"):
        select_cases(ds, _args(limit=0))


def test_the_real_engine_and_session_through_a_scripted_server() -> None:
    """Plumbing with the real review engine and ModelSession; only the model server is fake.

    The fake answers the constrained pass with the planted line of whichever case it is shown
    (two files and one diff), so a perfect model scores recall 1 and the harness must see it.
    """
    ds = load_dataset()
    ids = ("py-sql-injection", "go-body-leak", "diff-go-ignored-error")
    picked = tuple(c for c in ds.cases if c.id in ids)
    assert [bool(c.diff) for c in picked] == [False, False, True]
    dataset = dataclasses.replace(ds, cases=picked)

    def answer(request: ChatRequest) -> str:
        assert request.json_schema == FINDINGS_SCHEMA
        prompt = "\n".join(m.content for m in request.messages)
        case = next(c for c in picked if c.path in prompt)
        e = case.expected[0]
        finding = {
            "file": case.path,
            "line": e.line,
            "severity": "high",
            "category": e.category,
            "message": e.description,
        }
        return json.dumps({"findings": [finding]})

    backend = FakeBackend(answer)
    settings = load_settings(None, {}, {"context.num_ctx": 8192})

    async def go() -> ModelReport:
        session = ModelSession(backend, settings)
        await session.prepare()
        return await run_eval(session, dataset, review_snippet, backend="fake", prose=False)

    report = asyncio.run(go())
    assert len(backend.requests) == 3
    diff_prompt = "\n".join(m.content for m in backend.requests[2].messages)
    assert "f, _ := os.Open(path)" in diff_prompt  # the change itself was shown
    summary = report.summary()
    assert (summary["recall"], summary["precision"], summary["line_accuracy"]) == (1.0, 1.0, 1.0)
    assert report.model == "gemma4:e4b"
    assert summary["prompt_tokens"] > 0
