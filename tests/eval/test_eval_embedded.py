"""End to end with a real model: SmolLM2-135M-Instruct in-process, schema-constrained findings.

A 135M model cannot review code, so the scores are near zero and are not asserted; what is
asserted is the plumbing: the constrained pass really carries the findings schema, the real
answer goes through the parser, and the report is well formed and names the model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest

from gemmacode.backends.base import ChatRequest, Delta, Event, Final
from gemmacode.backends.factory import make_backend
from gemmacode.cli import main
from gemmacode.config import load_settings
from gemmacode.context.model_session import ModelSession
from gemmacode.eval.dataset import load_dataset
from gemmacode.eval.report import ModelReport, run_eval
from gemmacode.review.engine import review_snippet
from gemmacode.review.findings.model import CATEGORIES, FINDINGS_SCHEMA, SEVERITIES
from gemmacode.review.findings.parse import parse_findings

pytestmark = pytest.mark.slow
PATH = "src/main/java/com/acme/auth/Permissions.java"


class Recording:
    """The real backend, with every request and its full answer kept for the assertions."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen: list[tuple[ChatRequest, str, Final | None]] = []

    async def chat(self, request: ChatRequest) -> AsyncIterator[Event]:
        text: list[str] = []
        final = None
        async for event in self.inner.chat(request):
            if isinstance(event, Delta):
                text.append(event.text)
            else:
                final = event
            yield event
        self.seen.append((request, "".join(text), final))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_constrained_findings_from_the_real_model_reach_the_report() -> None:
    ds = load_dataset()
    dataset = dataclasses.replace(
        ds, cases=tuple(c for c in ds.cases if c.id == "java-string-identity")
    )
    settings = load_settings(
        None,
        {},
        {
            "backend.kind": "embedded",
            "backend.model": "smollm2",
            "sampling.num_predict": 96,
            "context.num_ctx": 4096,
        },
    )
    backend = Recording(make_backend(settings))

    async def go() -> ModelReport:
        session = ModelSession(backend, settings)
        try:
            await session.prepare()
            return await run_eval(session, dataset, review_snippet, backend="embedded", prose=False)
        finally:
            await backend.aclose()

    report = asyncio.run(go())
    assert backend.seen, "the model was called"
    request, answer, final = backend.seen[-1]
    assert request.json_schema == FINDINGS_SCHEMA
    assert final is not None and final.completion_tokens
    assert answer.lstrip().startswith("{"), answer[:80]  # the grammar forces JSON
    parsed = parse_findings(answer, default_file=PATH)
    if final.done_reason == "stop":
        jsonschema.validate(json.loads(answer), FINDINGS_SCHEMA)
        assert not parsed.repaired
    else:  # cut off by num_predict: the parser keeps what is complete
        assert final.done_reason == "length"
        assert parsed.errors[0] == "the answer was cut off; only its complete findings were kept"
    (run,) = report.runs
    assert run.prompt_tokens > 0 and run.completion_tokens > 0 and run.latency_s > 0
    n_lines = len(run.case.code.splitlines())
    for f in run.findings:  # anchored: inside the reviewed file, valid vocabulary
        assert f.file == PATH and 1 <= f.line <= f.end_line <= n_lines
        assert f.severity in SEVERITIES and f.category in CATEGORIES
    assert report.model == "smollm2"


def test_eval_command_reports_and_names_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", "--backend", "embedded", "--model", "smollm2", "--no-prose"]
    cases = ["--case", "py-identity-comparison", "--case", "go-body-leak"]
    assert main([*base, *cases, "--num-predict", "48", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dataset"]["name"] == "gemmacode-starter" and doc["dataset"]["cases"] == 2
    (model,) = doc["models"]
    assert (model["model"], model["backend"]) == ("smollm2", "embedded")
    summary = model["summary"]
    assert summary["cases"] == 2 and summary["expected"] == 2 and summary["errors"] == 0
    for key in ("recall", "precision", "line_accuracy", "tokens_per_second"):
        assert key in summary
    assert 0.0 <= summary["recall"] <= 1.0
    assert summary["prompt_tokens"] > 0 and summary["completion_tokens"] > 0
    assert summary["tokens_per_second"] > 0
    assert [c["id"] for c in model["cases"]] == ["py-identity-comparison", "go-body-leak"]
    for case in model["cases"]:
        assert case["latency_s"] > 0 and case["prompt_tokens"] > 0
        assert case["reported"] == len(case["findings"])
