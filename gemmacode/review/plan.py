"""Planning a review without sending it: targets packed into requests, and what they hold.

:func:`plan_target` packs a resolved target for a session's budget; :func:`explain_plan`
reports each request's parts, token counts, drops and cuts (``--explain-context``);
:class:`PlanningSession` plans and explains without a model server, for a pinned
``num_ctx`` or when none answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from gemmacode.backends.base import Event
from gemmacode.context.budget import Budget, Fitted, Part, fit
from gemmacode.index.pathkind import TIER_NAMES, review_tier
from gemmacode.index.pathquote import quote_path
from gemmacode.review.engine import Request, ReviewOptions, Session, code_budget, plan_requests
from gemmacode.review.packing import Plan, RelatedIndex, pack_code, pack_diff, pack_files
from gemmacode.review.sections import TagsFn
from gemmacode.review.targets import CodeTarget, DiffTarget, DirTarget
from gemmacode.tokens.counter import TokenCounter
from gemmacode.tokens.encoding import Counter


def explain_plan(session: Session, plan: Plan, label: str, opts: ReviewOptions) -> dict[str, Any]:
    """Exactly what a review would send, without calling a model (for --explain-context)."""
    requests = plan_requests(plan, label, opts)
    passes = "prose then findings per request" if opts.prose else "findings only per request"
    if len(requests) > 1:
        passes += ", then a merge pass"
    return explain_requests(session, requests, passes, plan.left_out)


def explain_requests(
    session: Session,
    requests: Sequence[Request],
    passes: str,
    left_out: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Budget, parts, token counts, drops and cuts of each request, as a JSON-able dict."""
    budget = session.budget()
    out: dict[str, Any] = {
        "model": session.model_name,
        "num_ctx": budget.num_ctx,
        "num_predict": budget.num_predict,
        "margin_tokens": budget.margin_tokens,
        "prompt_budget": budget.prompt_tokens,
        "passes": passes,
        "left_out": [{"what": w, "why": y} for w, y in left_out],
        "requests": [],
    }
    for request in requests:
        fitted = session.explain(request.parts)
        out["requests"].append(
            {
                "label": request.label,
                "total_tokens": fitted.total,
                "parts": [
                    {
                        "name": p.name,
                        "role": p.role,
                        "tokens": fitted.tokens[p.name],
                        "text": p.text,
                    }
                    for p in fitted.parts
                ],
                "dropped": [{"part": n, "why": w} for n, w in fitted.dropped],
                "shrunk": [{"part": n, "before": b, "after": a} for n, b, a in fitted.shrunk],
                "files": {f: [list(r) for r in rs] for f, rs in request.unit.ranges.items()},
                "order": _order(request.unit.ranges),
            }
        )
    return out


def _order(ranges: dict[str, Any]) -> list[dict[str, str]]:
    """The files of a request in the order the model reads them, each with its kind
    (source, tests and examples, docs and configuration)."""
    from gemmacode.index.languages import language_for

    return [
        {"file": f, "kind": TIER_NAMES[review_tier(f, language_for(f) == "text")]} for f in ranges
    ]


class PlanningSession:
    """A session that can plan and explain but not send: for ``--explain-context`` when no
    server is needed (a pinned ``num_ctx``) or none answers."""

    def __init__(
        self,
        model_name: str,
        num_ctx: int,
        num_predict: int,
        margin: float,
        counter: TokenCounter | None = None,
    ) -> None:
        self._model = model_name
        self._num_ctx = num_ctx
        self._num_predict = num_predict
        self._margin = margin
        self._counter = counter if counter is not None else TokenCounter()
        self.prompt_cap: int | None = None  # as ModelSession.prompt_cap

    @property
    def counter(self) -> Counter:
        return self._counter

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def num_ctx(self) -> int:
        return self._num_ctx

    def budget(self, num_predict: int | None = None) -> Budget:
        return Budget(
            self._num_ctx, num_predict or self._num_predict, self._margin, cap=self.prompt_cap
        )

    def explain(self, parts: list[Part], num_predict: int | None = None) -> Fitted:
        return fit(parts, self.budget(num_predict), self._counter)

    def stream(
        self,
        parts: list[Part],
        *,
        json_schema: dict[str, Any] | None = None,
        num_predict: int | None = None,
    ) -> AsyncIterator[Event]:
        raise RuntimeError("a PlanningSession never sends requests")


def _read_source(path: str, root: Path, max_bytes: int) -> str | None:
    try:
        data = (root / path).read_bytes()
    except OSError:
        return None
    if len(data) > max_bytes or b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


def plan_target(
    target: CodeTarget | DirTarget | DiffTarget,
    session: Session,
    opts: ReviewOptions,
    *,
    root: Path | None = None,
    index: RelatedIndex | None = None,
    max_file_bytes: int = 1024 * 1024,
    tags_fn: TagsFn | None = None,
) -> tuple[Plan, str]:
    """Pack a resolved target into requests for ``session``; returns the plan and its label."""
    counter = session.counter
    if isinstance(target, DiffTarget):
        if tags_fn is None:
            from gemmacode.index.tags import extract_tags as tags_fn
        n = len(target.files)
        label = f"{target.label} ({n} file{'s' if n != 1 else ''})"
        budget = code_budget(session, "diff", label, opts)
        plan = pack_diff(target, counter=counter, budget=budget, tags_fn=tags_fn, index=index)
        return plan, label
    from gemmacode.index.chunker import chunk_text  # diffs never need it

    if isinstance(target, CodeTarget):
        budget = code_budget(session, "file", target.label, opts)
        return pack_code(target, counter=counter, budget=budget, chunker=chunk_text), target.label
    from gemmacode.index.languages import language_for

    label = f"{quote_path(target.path + '/')} ({len(target.files)} files)"
    budget = code_budget(session, "file", label, opts)
    files: list[tuple[str, str, str]] = []
    skipped: list[tuple[str, str]] = []
    for path in target.files:
        text = _read_source(path, root or Path.cwd(), max_file_bytes)
        if text is None:
            skipped.append((quote_path(path), "binary, unreadable or too large"))
        elif text.strip():
            files.append((path, text, language_for(path)))
    plan = pack_files(files, counter=counter, budget=budget, chunker=chunk_text)
    plan.left_out = skipped + plan.left_out
    return plan, label
