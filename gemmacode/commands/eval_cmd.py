"""``gemmacode eval``: measure a model on review cases with planted bugs before trusting it.

Runs the same review as ``gemmacode review`` over each case of a dataset (the shipped
starter set by default) and reports recall, precision, line accuracy, latency, tokens in and
out and tokens per second, per model; ``--model a,b`` compares several models in one run.
Exit codes: 0 done, 1 when ``--min-recall`` is given and a model falls below it, 2 for usage,
dataset or connection errors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gemmacode.commands.common import add_model_flags, add_root_flag, settings_for
from gemmacode.errors import UsageError
from gemmacode.session.core import open_session

if TYPE_CHECKING:
    from gemmacode.eval.dataset import Case, Dataset
    from gemmacode.eval.report import ModelReport

HELP = "measure a model's reviews on cases with planted bugs (recall, precision, speed)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dataset",
        nargs="?",
        type=Path,
        help="a dataset JSON file or a folder with cases.json (default: the shipped starter set)",
    )
    p.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    p.add_argument("--case", action="append", metavar="ID", help="only this case (repeatable)")
    p.add_argument("--language", action="append", help="only cases in this language")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N cases")
    p.add_argument(
        "--tolerance",
        type=int,
        default=None,
        help="lines a finding may sit outside the expected range and still match (default 2)",
    )
    p.add_argument(
        "--no-prose",
        action="store_true",
        help="only the constrained findings pass, as hooks and CI run it",
    )
    p.add_argument("--num-predict", type=int, metavar="N", help="answer tokens per request")
    p.add_argument(
        "--min-recall",
        type=float,
        metavar="R",
        help="exit 1 when a model's recall is below R (0-1): a gate for CI",
    )
    add_root_flag(p)
    add_model_flags(p)
    p.epilog = "--model takes a comma-separated list to compare models in one run."


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


def select_cases(dataset: Dataset, args: argparse.Namespace) -> Dataset:
    """The cases the flags ask for; a filter that leaves nothing is a usage error."""
    from dataclasses import replace

    cases: tuple[Case, ...] = dataset.cases
    if args.case:
        unknown = sorted(set(args.case) - {c.id for c in cases})
        if unknown:
            raise UsageError(
                f"no case {', '.join(unknown)} in {dataset.name}", "see the ids with --json"
            )
        cases = tuple(c for c in cases if c.id in args.case)
    if args.language:
        cases = tuple(c for c in cases if c.language in args.language)
    if args.limit is not None:
        if args.limit < 1:
            raise UsageError("--limit must be at least 1", "give a positive number of cases")
        cases = cases[: args.limit]
    if not cases:
        raise UsageError("the filters leave no case to run", "check --case and --language")
    return replace(dataset, cases=cases)


async def _run(args: argparse.Namespace) -> int:
    from gemmacode.eval.dataset import TOLERANCE, load_dataset
    from gemmacode.eval.report import report_json, report_text, run_eval
    from gemmacode.review.engine import review_snippet

    if args.min_recall is not None and not 0 <= args.min_recall <= 1:
        raise UsageError("--min-recall must be between 0 and 1", "for example --min-recall 0.5")
    tolerance = TOLERANCE if args.tolerance is None else args.tolerance
    if tolerance < 0:
        raise UsageError("--tolerance cannot be negative", "use 0 for exact lines")
    dataset = select_cases(load_dataset(args.dataset), args)
    models = [m.strip() for m in (args.model or "").split(",") if m.strip()] or [None]
    progress = sys.stderr.isatty()

    def on_case(n: int, total: int, case: Case) -> None:
        if progress:
            print(f"gemmacode: case {n} of {total} ({case.id})", file=sys.stderr, flush=True)

    reports: list[ModelReport] = []
    for model in models:
        extra = {"backend.model": model, "sampling.num_predict": args.num_predict}
        root, settings = settings_for(args, {k: v for k, v in extra.items() if v is not None})
        async with open_session(settings, root=root) as core:
            session = await core.model_session()
            reports.append(
                await run_eval(
                    session,
                    dataset,
                    review_snippet,
                    backend=settings.backend.kind,
                    prose=not args.no_prose,
                    tolerance=tolerance,
                    on_case=on_case,
                )
            )
    sys.stdout.write(report_json(reports) if args.json else report_text(reports))
    if args.min_recall is not None:
        recalls = [r.summary()["recall"] or 0.0 for r in reports]
        return 1 if any(r < args.min_recall for r in recalls) else 0
    return 0
