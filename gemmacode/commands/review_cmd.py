"""``gemmacode review``: review a file, range, symbol, folder, or the staged/working/range
changes, streaming the review as it arrives, then the findings (human, ``--json`` or
``--sarif``) and an exit code against ``--fail-on``.

``--explain-context`` prints exactly what would be sent (every part, its token count, what
was left out and why, ``num_ctx`` and the budget) without calling a model; with a pinned
``--num-ctx`` it needs no server at all.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemmacode.commands.common import Prewarm, add_model_flags, prewarm, settings_for
from gemmacode.config import Settings
from gemmacode.errors import BackendError, UsageError
from gemmacode.index.pathquote import quote_path

if TYPE_CHECKING:
    from gemmacode.review.engine import ReviewResult, Session
    from gemmacode.review.targets import CodeTarget, DiffTarget, DirTarget

HELP = "review a file, line range, symbol, folder, or staged/working/revision changes"
FOCUS = ("security", "bugs", "performance", "style")
FAIL_ON = ("critical", "high", "medium", "low", "info", "never")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target",
        nargs="?",
        help="PATH, PATH:START-END, PATH::Class.method or a folder (default: --staged)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--staged", action="store_true", help="the staged changes (the index)")
    which.add_argument("--working", action="store_true", help="unstaged working-tree changes")
    which.add_argument("--diff", metavar="RANGE", help="a revision range, e.g. main...HEAD")
    p.add_argument("--focus", action="append", choices=FOCUS, help="what to look at (repeatable)")
    p.add_argument(
        "--extra", action="store_true", help="add the project's review.extra_instructions"
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="findings as JSON on stdout")
    fmt.add_argument("--sarif", action="store_true", help="findings as SARIF 2.1.0 on stdout")
    p.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default=None,
        help="exit 1 when a finding is at least this severe (default: review.fail_on, high)",
    )
    p.add_argument(
        "--explain-context",
        action="store_true",
        help="print exactly what would be sent, without calling the model",
    )
    p.add_argument(
        "--no-prose",
        action="store_true",
        help="skip the streamed review; only the constrained findings pass (hooks, CI)",
    )
    add_model_flags(p)


def run(args: argparse.Namespace) -> int:
    # Start-up allocates a few hundred thousand long-lived objects (imports, the client's
    # pydantic models, the tokenizer's tables) and no garbage cycles worth finding; the
    # collector would walk them again and again (~30 ms before the first request). It is
    # paused until the first request is ready to go, then those objects are frozen out of
    # its reach (see _resume_gc), as the indexer pauses it while parsing.
    global _gc_was_enabled
    # (a caller that froze objects itself keeps its collector settings untouched)
    _gc_was_enabled = gc.isenabled() and gc.get_freeze_count() == 0
    if _gc_was_enabled:
        gc.disable()
    try:
        return asyncio.run(_run(args))
    finally:
        _resume_gc()
        if _gc_was_enabled:
            gc.unfreeze()  # in-process callers (tests) get their collector back as it was


_gc_was_enabled = True


def _resume_gc() -> None:
    """Turn the collector back on (if it was on) for what the review allocates from now on;
    everything alive now is start-up state, moved to the permanent generation so the next
    collection does not have to walk it all at once (``run`` unfreezes it at the end)."""
    if _gc_was_enabled and not gc.isenabled():
        gc.freeze()
        gc.enable()


def _progress(text: str) -> None:
    print(f"gemmacode: {text}", file=sys.stderr, flush=True)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def open_index_quietly(root: Path, settings: Settings) -> Any:
    """The repository index, or None outside a git repository or when it cannot be built
    (reviews then go without related definitions or a repo map)."""
    if not (root / ".git").exists():
        return None
    from gemmacode.errors import GemmacodeError
    from gemmacode.index.indexer import open_index

    try:
        return open_index(root, settings.index, progress=sys.stderr.isatty())
    except GemmacodeError as err:
        _progress(f"continuing without the index: {err}")
        return None


async def make_session(
    settings: Settings, *, offline_ok: bool, warm: Prewarm | None = None
) -> tuple[Session, Any, str]:
    """A prepared model session (and its backend, to close). With ``offline_ok`` (explain
    mode), a pinned num_ctx needs no server, and an unreachable one falls back to planning
    at the smallest context size, with a note saying so. ``warm`` supplies the GPU monitor
    when :func:`~gemmacode.commands.common.prewarm` made it in the background."""
    from gemmacode.review.plan import PlanningSession

    ctx = settings.context
    if offline_ok and ctx.num_ctx:
        return _planning(settings, ctx.num_ctx), None, "num_ctx pinned"
    from gemmacode.backends.factory import make_backend
    from gemmacode.context.model_session import ModelSession

    backend = make_backend(settings)
    monitor = None
    if not ctx.num_ctx:
        if warm is not None:
            monitor = warm.take_monitor(settings)
        else:
            from gemmacode.gpu.monitor import monitor_for

            monitor = monitor_for(settings)
    session = ModelSession(backend, settings, monitor=monitor)
    try:
        await session.prepare()
    except BaseException as err:
        await close_session((backend, monitor, session))
        if not offline_ok or not isinstance(err, BackendError):
            raise
        fallback: PlanningSession = _planning(settings, ctx.min_ctx)
        return fallback, None, f"no model server ({err.message}): assuming num_ctx {ctx.min_ctx}"
    how = "num_ctx pinned" if ctx.num_ctx else "num_ctx from the context policy"
    return session, (backend, monitor, session), how


def _planning(settings: Settings, num_ctx: int) -> Any:
    from gemmacode.review.plan import PlanningSession
    from gemmacode.tokens.calibration import default_store

    model = settings.backend.model
    counter = default_store(settings).counter_for(model)
    reserve = min(settings.sampling.num_predict, num_ctx // 2)
    return PlanningSession(model, num_ctx, reserve, settings.context.token_margin, counter)


async def close_session(handles: Any) -> None:
    """Close what :func:`make_session` opened: the session, its backend and GPU monitor."""
    if handles is None:
        return
    backend, monitor, session = handles
    try:
        await session.aclose()
        await backend.aclose()
    finally:
        if monitor is not None:
            monitor.close()


def _map_text(index: Any, session: Session, settings: Settings, focus: list[str]) -> str:
    if index is None:
        return ""
    from gemmacode.commands.common import map_cache_dir
    from gemmacode.repomap.build import build_map

    tokens = min(settings.map.tokens, session.budget().prompt_tokens // 6)
    if tokens < 64:
        return ""
    cache = map_cache_dir(index.root, settings)
    outline = build_map(index, session.counter, tokens, focus=focus, cache_dir=cache)
    return "Repository outline:\n" + outline.text


def explain_text(doc: dict[str, Any], how: str) -> str:
    """The human form of :func:`gemmacode.review.engine.explain_plan`."""
    out = [
        f"model {doc['model']}: num_ctx {doc['num_ctx']} ({how}), answer reserve "
        f"{doc['num_predict']}, margin {doc['margin_tokens']}, prompt budget "
        f"{doc['prompt_budget']} tokens",
        f"passes: {doc['passes']}",
    ]
    reqs = doc["requests"]
    if not reqs:
        out.append("nothing would be sent")
    for item in doc["left_out"]:
        out.append(f"left out: {item['what']} ({item['why']})")
    for i, req in enumerate(reqs, 1):
        share = 100 * req["total_tokens"] / max(1, doc["prompt_budget"])
        out.append(
            f"request {i} of {len(reqs)}: {req['total_tokens']} tokens ({share:.0f}% of the budget)"
        )
        for part in req["parts"]:
            out.append(f"  {part['name']:<12} {part['tokens']:>7} tokens  ({part['role']})")
        for d in req["dropped"]:
            out.append(f"  dropped {d['part']}: {d['why']}")
        for s in req["shrunk"]:
            out.append(f"  shrunk {s['part']}: {s['before']} -> {s['after']} tokens")
        files = ", ".join(
            f"{quote_path(f)} " + " ".join(f"{a}-{b}" for a, b in rs)
            for f, rs in req["files"].items()
        )
        if files:
            out.append(f"  lines shown: {files}")
    for i, req in enumerate(reqs, 1):
        out.append(f"\n===== request {i} of {len(reqs)}, exactly as sent =====")
        for part in req["parts"]:
            out.append(f"----- {part['name']} ({part['tokens']} tokens, {part['role']}) -----")
            out.append(part["text"].rstrip("\n"))
    return "\n".join(out) + "\n"


def _sources(
    target: CodeTarget | DirTarget | DiffTarget, result: ReviewResult, root: Path
) -> dict[str, str]:
    """The text each finding's lines refer to, for the excerpts."""
    from gemmacode.review.targets import CodeTarget, DiffTarget

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


def emit_findings(args: argparse.Namespace, result: ReviewResult, sources: dict[str, str]) -> None:
    from gemmacode import __version__
    from gemmacode.review.findings.render import render_human, render_json

    if args.json:
        _write(render_json(result))
    elif args.sarif:
        from gemmacode.review.findings.sarif import to_sarif

        doc = to_sarif(result.findings, tool_version=__version__, model=result.model)
        _write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        import os

        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        _write("\n" + render_human(result.findings, sources=sources, color=color))
        for note in result.notes:
            _progress(note)


async def _run(args: argparse.Namespace) -> int:
    root, settings = settings_for(args)
    warm = prewarm(settings, client=not (args.explain_context and settings.context.num_ctx))
    try:
        return await _review(args, root, settings, warm)
    finally:
        warm.close()


async def _review(args: argparse.Namespace, root: Path, settings: Settings, warm: Prewarm) -> int:
    from gemmacode.review.engine import ReviewOptions, ReviewResult, review_plan
    from gemmacode.review.findings.render import exit_code_for
    from gemmacode.review.plan import explain_plan, plan_target
    from gemmacode.review.targets import DiffTarget, resolve_target

    cwd = Path.cwd()
    fail_on = args.fail_on or settings.review.fail_on
    focus = list(args.focus or settings.review.focus)
    extra = ""
    if args.extra:
        extra = settings.review.extra_instructions
        if not extra.strip():
            raise UsageError(
                "--extra was given but review.extra_instructions is empty",
                "set extra_instructions under [review] in .gemmacode.toml",
            )
    staged = args.staged or (args.target is None and not args.working and args.diff is None)
    # find_root already asked git for the work tree above cwd (unless --root was given)
    git_root = root if getattr(args, "root", None) is None and (root / ".git").exists() else None
    target = resolve_target(
        args.target,
        cwd=cwd,
        staged=staged,
        working=args.working,
        diff=args.diff,
        git_root=git_root,
    )
    if isinstance(target, DiffTarget) and not target.files:
        _progress(f"nothing to review: no {target.label}")
        if args.json or args.sarif:
            emit_findings(args, ReviewResult([], "", [], settings.backend.model, []), {})
        return 0
    related: Any = None
    cached: Any = None
    index: Any = None
    tags: Any = None

    def release() -> None:
        if related is not None:
            related.close()
        if cached is not None:
            cached.close()

    if isinstance(target, DiffTarget):
        # Related code from git grep + the tags of a few files, read from the index cache
        # when it holds the same content, else parsed: decoding a large index's every
        # symbol would cost more than the whole start-up budget of a --staged review.
        # The search runs in the background while the model session is set up.
        from gemmacode.index.cached_tags import CachedTags
        from gemmacode.review.related import GrepRelated, change_names, memo_tags

        cached = CachedTags(target.root, settings.index)
        tags = memo_tags(cached)
        related = GrepRelated(target.root, tags)
        try:
            related.start(*change_names(target, tags))
        except BaseException:
            release()
            raise
    else:
        index = open_index_quietly(root, settings)
    opts = ReviewOptions(
        focus=focus,
        extra=extra,
        prose=not args.no_prose,
        on_text=None if (args.json or args.sarif) else _write,
        on_progress=_progress,
    )
    try:
        session, handles, how = await make_session(
            settings, offline_ok=args.explain_context, warm=warm
        )
    except BaseException:
        release()
        raise
    try:
        if not isinstance(target, DiffTarget):
            paths = [target.path]
            opts.map_text = _map_text(index, session, settings, paths)
        plan, label = plan_target(
            target,
            session,
            opts,
            root=root,
            index=related,
            max_file_bytes=settings.index.max_file_bytes,
            tags_fn=tags,
        )
        _resume_gc()
        if args.explain_context:
            doc = explain_plan(session, plan, label, opts)
            doc["num_ctx_source"] = how
            _write(json.dumps(doc, indent=2) + "\n" if args.json else explain_text(doc, how))
            return 0
        result = await review_plan(session, plan, label, opts)
    finally:
        release()
        await close_session(handles)
    emit_findings(args, result, _sources(target, result, root))
    return exit_code_for(result.findings, fail_on)
