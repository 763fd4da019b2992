"""Run one model over an eval dataset and report how it did, as text or JSON.

The reviews are the engine's (passed in, so tests can count calls): ``review_snippet`` for a
file case, :func:`review_diff_case` (the path ``gemmacode review --diff`` takes, built from
the case's diff in memory) for a diff case. Each case is timed with the injected clock and
its tokens come from the backend's Final records. A case the context cannot hold is reported
as an error and the run goes on; a server that stops answering ends the run (a
:class:`~gemmacode.errors.BackendError`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gemmacode.backends.base import Final
from gemmacode.errors import ContextOverflowError
from gemmacode.eval.dataset import TOLERANCE, Case, CaseScore, Dataset, Totals, score_case
from gemmacode.review.findings.model import Finding

REPORT_VERSION = 1


class _Result(Protocol):
    @property
    def findings(self) -> list[Finding]: ...
    @property
    def finals(self) -> list[Final]: ...
    @property
    def notes(self) -> list[str]: ...


ReviewFn = Callable[..., Awaitable[_Result]]


@dataclass
class CaseRun:
    case: Case
    findings: list[Finding]
    score: CaseScore
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    eval_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class ModelReport:
    model: str
    backend: str
    dataset: Dataset
    tolerance: int
    runs: list[CaseRun] = field(default_factory=list)

    def totals(self, runs: Sequence[CaseRun] | None = None) -> Totals:
        t = Totals()
        for r in self.runs if runs is None else runs:
            t.add(r.score)
            t.errors += bool(r.error)
            t.latencies.append(r.latency_s)
            t.prompt_tokens += r.prompt_tokens
            t.completion_tokens += r.completion_tokens
            t.eval_s += r.eval_s
        return t

    def summary(self, runs: Sequence[CaseRun] | None = None) -> dict[str, Any]:
        t = self.totals(runs)
        return {
            "cases": t.cases,
            "expected": t.expected,
            "reported": t.reported,
            "matched": t.matched,
            "line_exact": t.line_exact,
            "errors": t.errors,
            **t.rates(),
            "latency_total_s": round(sum(t.latencies), 3),
            "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens,
        }

    def to_dict(self) -> dict[str, Any]:
        languages = sorted({r.case.language for r in self.runs})
        by_lang = {
            lang: self.summary([r for r in self.runs if r.case.language == lang])
            for lang in languages
        }
        return {
            "model": self.model,
            "backend": self.backend,
            "summary": self.summary(),
            "by_language": {
                k: {key: v[key] for key in ("cases", "expected", "matched", "recall", "precision")}
                for k, v in by_lang.items()
            },
            "cases": [_case_dict(r) for r in self.runs],
        }


def _case_dict(r: CaseRun) -> dict[str, Any]:
    matched = {i for i, _ in r.score.matches}
    return {
        "id": r.case.id,
        "path": r.case.path,
        "language": r.case.language,
        "kind": "diff" if r.case.diff else "file",
        "expected": r.score.expected,
        "reported": r.score.reported,
        "matched": r.score.matched,
        "line_exact": r.score.line_exact,
        "latency_s": round(r.latency_s, 3),
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "missed": [r.case.expected[j].description for j in r.score.missed],
        "findings": [{**f.to_dict(), "matched": i in matched} for i, f in enumerate(r.findings)],
        "notes": r.notes,
        "error": r.error,
    }


async def review_diff_case(
    session: Any, *, path: str, diff: str, text: str, prose: bool = True
) -> _Result:
    """Review a case's diff as ``gemmacode review --diff`` does: hunks extended to their
    enclosing definitions in ``text`` (the new side of ``path``), findings on the new side."""
    from gemmacode.review.diff import parse_diff
    from gemmacode.review.engine import ReviewOptions, review_plan
    from gemmacode.review.plan import plan_target
    from gemmacode.review.targets import DiffTarget

    target = DiffTarget(
        "range", f"change to {path}", Path("."), parse_diff(diff), _texts={path: text}
    )
    opts = ReviewOptions(prose=prose)
    plan, label = plan_target(target, session, opts)
    return await review_plan(session, plan, label, opts)


async def run_eval(
    session: Any,
    dataset: Dataset,
    review: ReviewFn,
    *,
    review_diff: ReviewFn | None = None,
    backend: str,
    prose: bool = True,
    tolerance: int = TOLERANCE,
    clock: Callable[[], float] = time.perf_counter,
    on_case: Callable[[int, int, Case], None] | None = None,
) -> ModelReport:
    """Review every case and score it: file cases with ``review(session, path=, text=,
    language=, prose=)``, diff cases with ``review_diff(session, path=, diff=, text=, prose=)``
    (default :func:`review_diff_case`)."""
    review_diff = review_diff or review_diff_case
    report = ModelReport(session.model_name, backend, dataset, tolerance)
    for n, case in enumerate(dataset.cases, 1):
        if on_case is not None:
            on_case(n, len(dataset.cases), case)
        start = clock()
        try:
            if case.diff:
                result = await review_diff(
                    session, path=case.path, diff=case.diff, text=case.code, prose=prose
                )
            else:
                result = await review(
                    session, path=case.path, text=case.code, language=case.language, prose=prose
                )
        except ContextOverflowError as err:
            score = score_case([], case.expected, path=case.path, tolerance=tolerance)
            report.runs.append(CaseRun(case, [], score, clock() - start, error=str(err)))
            continue
        latency = clock() - start
        findings = list(result.findings)
        finals = list(result.finals)
        report.runs.append(
            CaseRun(
                case,
                findings,
                score_case(findings, case.expected, path=case.path, tolerance=tolerance),
                latency,
                prompt_tokens=sum(f.prompt_tokens or 0 for f in finals),
                completion_tokens=sum(f.completion_tokens or 0 for f in finals),
                eval_s=sum(f.eval_s for f in finals),
                notes=list(result.notes),
            )
        )
    return report


def report_json(reports: Sequence[ModelReport]) -> str:
    """The stable JSON report: dataset, tolerance, and one entry per model."""
    first = reports[0]
    doc = {
        "schema_version": REPORT_VERSION,
        "dataset": {
            "name": first.dataset.name,
            "origin": first.dataset.origin,
            "cases": len(first.dataset.cases),
        },
        "tolerance": first.tolerance,
        "models": [r.to_dict() for r in reports],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def report_text(reports: Sequence[ModelReport]) -> str:
    """A table per model (one row per case), its summary, and a comparison of the models."""
    out: list[str] = []
    for rep in reports:
        ds = rep.dataset
        out.append(f"eval of {ds.name} ({len(ds.cases)} cases): model {rep.model} ({rep.backend})")
        out.append(
            f"  {'case':<28} {'language':<10} {'exp':>3} {'found':>5} {'match':>5} "
            f"{'line':>4} {'latency':>8} {'tokens in/out':>14}"
        )
        for r in rep.runs:
            s = r.score
            tokens = f"{r.prompt_tokens}/{r.completion_tokens}"
            out.append(
                f"  {r.case.id[:28]:<28} {r.case.language:<10} {s.expected:>3} {s.reported:>5} "
                f"{s.matched:>5} {s.line_exact:>4} {r.latency_s:>6.1f} s {tokens:>14}"
                + (f"  error: {r.error}" if r.error else "")
            )
        m = rep.summary()
        out.append(
            f"  recall {_rate(m['recall'])} ({m['matched']}/{m['expected']})  "
            f"precision {_rate(m['precision'])} ({m['matched']}/{m['reported']})  "
            f"line accuracy {_rate(m['line_accuracy'])} ({m['line_exact']}/{m['matched']})"
        )
        tps = m["tokens_per_second"]
        out.append(
            f"  latency mean {m['latency_mean_s'] or 0:.1f} s, p50 {m['latency_p50_s'] or 0:.1f}"
            f" s, max {m['latency_max_s'] or 0:.1f} s; tokens in {m['prompt_tokens']:,} out "
            f"{m['completion_tokens']:,}; {'n/a' if tps is None else f'{tps:.1f}'} tokens/s"
            + (f"; {m['errors']} cases failed" if m["errors"] else "")
        )
        out.append("")
    if len(reports) > 1:
        out.append(
            f"  {'model':<24} {'recall':>6} {'precision':>9} {'line acc':>8} "
            f"{'latency':>8} {'tokens/s':>8}"
        )
        for rep in reports:
            m = rep.summary()
            tps = "n/a" if m["tokens_per_second"] is None else f"{m['tokens_per_second']:.1f}"
            out.append(
                f"  {rep.model[:24]:<24} {_rate(m['recall']):>6} {_rate(m['precision']):>9} "
                f"{_rate(m['line_accuracy']):>8} {m['latency_mean_s'] or 0:>6.1f} s {tps:>8}"
            )
        out.append("")
    return "\n".join(out)
