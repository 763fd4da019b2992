"""A review as a task: the target resolved, related code found, the plan packed for the
model session's budget, then the review engine's passes, each step an event.

The order is the start-up order the benchmark measures: git first (the diff, then
``git grep`` for related code started in the background), then the model session (the
server's description and ``/api/ps``, answered while the grep runs), then the packing, then
the garbage collector back on (:func:`~gemmacode.session.startup.gc_ready`) and the first
request. :func:`explain_review` runs the same steps and stops before sending.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemmacode.context.model_session import ModelSession
from gemmacode.review import plan as plan_mod
from gemmacode.review.engine import ReviewOptions, ReviewResult, Session, review_plan
from gemmacode.review.plan import PlanningSession
from gemmacode.review.targets import CodeTarget, DiffTarget, DirTarget
from gemmacode.session import early as early_mod
from gemmacode.session.api import ReviewSpec
from gemmacode.session.events import Finished, PlanReady, RequestStarted
from gemmacode.session.startup import gc_ready
from gemmacode.session.task import TaskLog

if TYPE_CHECKING:
    from gemmacode.review.packing import Plan
    from gemmacode.session.core import CoreSession
    from gemmacode.session.early import EarlyDiff

Target = CodeTarget | DirTarget | DiffTarget


@dataclass
class Packed:
    """A review ready to send (or to explain)."""

    target: Target
    plan: Plan
    label: str
    opts: ReviewOptions
    session: Session
    how: str  # how num_ctx was chosen, for --explain-context


def _early(core: CoreSession, spec: ReviewSpec) -> EarlyDiff | None:
    """The diff of ``spec`` when the front end's start-up resolved it already
    (:mod:`gemmacode.session.early`), its related-code search running."""
    warm = core._warm
    early = warm.diff if warm is not None else None
    root = core.workspace.git_root  # a diff of this work tree, whatever folder asked for it
    if early is None or root is None or spec.kind not in ("staged", "working", "diff"):
        return None
    return early if early.matches((spec.kind, spec.target, root, spec.index_file)) else None


def resolve(core: CoreSession, spec: ReviewSpec) -> Target:
    """The spec's target; the staged kind reads ``spec.index_file`` when given."""
    early = _early(core, spec)
    if early is not None:
        return early.target
    ws = core.workspace
    return early_mod.resolve(
        spec.kind,
        spec.target,
        cwd=spec.cwd or ws.root,
        git_root=ws.git_root,
        index_file=spec.index_file,
    )


@contextlib.asynccontextmanager
async def packed(
    core: CoreSession,
    spec: ReviewSpec,
    target: Target,
    *,
    offline_ok: bool,
    note: Callable[[str], None],
) -> AsyncIterator[Packed]:
    """Related code, the model session and the plan for ``target``; the related-code search
    and the index cache are released on exit."""
    settings = core.settings
    focus = list(spec.focus or settings.review.focus)
    opts = ReviewOptions(focus=focus, extra=spec.extra, prose=spec.prose)
    related: Any = None
    cached: Any = None
    tags: Any = None
    index: Any = None
    try:
        early = _early(core, spec) if isinstance(target, DiffTarget) else None
        if early is not None and early.target is target:  # begun at start-up: take it
            early.taken = True
            cached, tags, related = early.cached, early.tags, early.related
        elif isinstance(target, DiffTarget):
            # Related code from git grep + the tags of a few files, read from the index
            # cache when it holds the same content, else parsed: decoding a large index's
            # every symbol would cost more than the whole start-up budget of a --staged
            # review. The search runs in the background while the model session is set up.
            from gemmacode.index.cached_tags import CachedTags
            from gemmacode.review.related import GrepRelated, change_names, memo_tags

            cached = CachedTags(target.root, settings.index)
            tags = memo_tags(cached)
            related = GrepRelated(target.root, tags, env=target.git_env)
            related.start(*change_names(target, tags))
        else:
            index = core.workspace.index()
            if index is None and core.workspace.in_git and core.workspace.index_error:
                note(f"continuing without the index: {core.workspace.index_error}")
        session, how = await core.planning_session(offline_ok=offline_ok)
        if spec.max_prompt_tokens is not None and isinstance(
            session, ModelSession | PlanningSession
        ):
            session.prompt_cap = spec.max_prompt_tokens
        if not isinstance(target, DiffTarget):
            opts.map_text = map_text(core, index, session, [target.path])
        plan, label = plan_mod.plan_target(
            target,
            session,
            opts,
            root=core.workspace.root,
            index=related,
            max_file_bytes=settings.index.max_file_bytes,
            tags_fn=tags,
        )
        gc_ready()
        yield Packed(target, plan, label, opts, session, how)
    finally:
        if related is not None:
            related.close()
        if cached is not None:
            cached.close()
        if core._model is not None:
            core._model.prompt_cap = None


def map_text(core: CoreSession, index: Any, session: Session, focus: list[str]) -> str:
    """The repo map for a file or folder review's shared prefix ("" without an index)."""
    if index is None:
        return ""
    from gemmacode.repomap.build import build_map

    tokens = min(core.settings.map.tokens, session.budget().prompt_tokens // 6)
    if tokens < 64:
        return ""
    cache = core.workspace.map_cache_dir
    outline = build_map(index, session.counter, tokens, focus=focus, cache_dir=cache)
    return "Repository outline:\n" + outline.text


def sources(target: Target, result: ReviewResult, root: Path) -> dict[str, str]:
    """The text each finding's lines refer to, for the excerpts."""
    if isinstance(target, CodeTarget):
        return {target.path: target.text}
    out: dict[str, str] = {}
    for path in {f.file for f in result.findings}:
        text: str | None
        if isinstance(target, DiffTarget):
            text = target.new_text(path)
        else:
            try:
                text = (root / path).read_text("utf-8", "replace")
            except OSError:
                text = None
        if text is not None:
            out[path] = text
    return out


async def review_job(core: CoreSession, spec: ReviewSpec, log: TaskLog) -> Finished:
    """The task behind :meth:`CoreSession.review`."""
    target = resolve(core, spec)
    if isinstance(target, DiffTarget) and not target.files:
        log.note(f"nothing to review: no {target.label}", "info")
        return log.finished("done")
    async with packed(
        core, spec, target, offline_ok=False, note=lambda t: log.note(t, "info")
    ) as work:
        opts = work.opts
        opts.on_text = log.delta
        opts.on_findings = log.found
        opts.on_request = lambda i, n, what: log.emit(RequestStarted(i, n, what))
        left_out = tuple(f"not reviewed: {what} ({why})" for what, why in work.plan.left_out)
        log.emit(PlanReady(work.label, len(work.plan.units), work.session.num_ctx, left_out))
        result = await review_plan(work.session, work.plan, work.label, opts)
    for text in result.notes:
        log.note(text)
    log.finals = list(result.finals)
    log.findings = list(result.findings)
    log.sources = sources(target, result, core.workspace.root)
    return log.finished("done", prose=result.prose)


@dataclass
class Explanation:
    """What a review or question would send (``doc``: the JSON of ``--explain-context``),
    and how ``num_ctx`` was chosen; ``doc`` is None when there is nothing to review."""

    doc: dict[str, Any] | None
    how: str


async def explain_review(
    core: CoreSession, spec: ReviewSpec, note: Callable[[str], None]
) -> Explanation:
    """Exactly what :meth:`CoreSession.review` would send, without sending it; a pinned
    size or an unreachable server needs no model server (see ``planning_session``)."""
    target = resolve(core, spec)
    if isinstance(target, DiffTarget) and not target.files:
        note(f"nothing to review: no {target.label}")
        return Explanation(None, "")
    async with packed(core, spec, target, offline_ok=True, note=note) as work:
        doc = plan_mod.explain_plan(work.session, work.plan, work.label, work.opts)
        doc["num_ctx_source"] = work.how
        return Explanation(doc, work.how)
