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
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemmacode.commands.common import add_model_flags, settings_for
from gemmacode.config import Settings
from gemmacode.errors import UsageError
from gemmacode.session.startup import Prewarm, prewarm

if TYPE_CHECKING:
    from gemmacode.review.engine import ReviewResult
    from gemmacode.session.api import ReviewSpec, TargetKind

# Only the start-up module is imported before run(): it starts the tokenizer's helper process
# and the background loads first thing, and everything else (the core session, the review
# engine) is imported after that, while the helper builds its tables on another core.

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
    root, settings = settings_for(args)
    if args.extra and not settings.review.extra_instructions.strip():
        raise UsageError(
            "--extra was given but review.extra_instructions is empty",
            "set extra_instructions under [review] in .gemmacode.toml",
        )
    pinned_plan = args.explain_context and settings.context.num_ctx
    warm = prewarm(settings, client=not pinned_plan, pause_gc=True)
    try:
        spec = spec_for(args, settings)
        if spec.kind != "path" and _from_git(args, root):
            # the diff read and its related-code search started before the core loads
            warm.begin_diff(spec.kind, spec.target, root=root, settings=settings)
        return asyncio.run(_review(args, root, settings, warm, spec))
    finally:
        warm.close()


def _from_git(args: argparse.Namespace, root: Path) -> bool:
    """Whether ``root`` is the git work tree around the current folder (find_root asked git
    already, unless --root was given)."""
    return getattr(args, "root", None) is None and (root / ".git").exists()


def spec_for(args: argparse.Namespace, settings: Settings) -> ReviewSpec:
    """The review the flags ask for (a target together with a mode is refused here with
    the same line the target resolver gives)."""
    from gemmacode.session.api import ReviewSpec

    modes = [
        m
        for m, on in (("--staged", args.staged), ("--working", args.working), ("--diff", args.diff))
        if on
    ]
    if modes and args.target:
        given = " and ".join([*modes, str(args.target)])
        raise UsageError(
            f"review takes one target, got {given}",
            "give a path or one of --staged, --working, --diff",
        )
    kind: TargetKind = "staged"
    target = ""
    if args.working:
        kind = "working"
    elif args.diff is not None:
        kind, target = "diff", args.diff
    elif args.target is not None and not args.staged:
        kind, target = "path", args.target
    return ReviewSpec(
        kind,
        target,
        cwd=Path.cwd(),
        focus=tuple(args.focus or ()),
        extra=settings.review.extra_instructions if args.extra else "",
        prose=not args.no_prose,
    )


def explain_text(doc: dict[str, Any], how: str) -> str:
    """The human form of :func:`gemmacode.review.engine.explain_plan`."""
    from gemmacode.index.pathquote import quote_path

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
        kinds: dict[str, list[str]] = {}
        for item in req.get("order", []):
            kinds.setdefault(item["kind"], []).append(quote_path(item["file"]))
        if kinds:
            out.append(
                "  order: " + "; then ".join(f"{k} {', '.join(v)}" for k, v in kinds.items())
            )
    for i, req in enumerate(reqs, 1):
        out.append(f"\n===== request {i} of {len(reqs)}, exactly as sent =====")
        for part in req["parts"]:
            out.append(f"----- {part['name']} ({part['tokens']} tokens, {part['role']}) -----")
            out.append(part["text"].rstrip("\n"))
    return "\n".join(out) + "\n"


def emit_findings(args: argparse.Namespace, result: ReviewResult, sources: dict[str, str]) -> None:
    from gemmacode import __version__
    from gemmacode.commands.render import progress, write
    from gemmacode.review.findings.render import render_human, render_json

    if args.json:
        write(render_json(result))
    elif args.sarif:
        from gemmacode.review.findings.sarif import to_sarif

        doc = to_sarif(result.findings, tool_version=__version__, model=result.model)
        write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        write("\n" + render_human(result.findings, sources=sources, color=color))
        for note in result.notes:
            progress(note)


async def _review(
    args: argparse.Namespace, root: Path, settings: Settings, warm: Prewarm, spec: ReviewSpec
) -> int:
    from gemmacode.commands.render import progress, render_task, write
    from gemmacode.review.engine import ReviewResult
    from gemmacode.review.findings.render import exit_code_for
    from gemmacode.session.core import open_session

    fail_on = args.fail_on or settings.review.fail_on
    nothing = ReviewResult([], "", [], settings.backend.model, [])
    async with open_session(
        settings, root=root, warm=warm, git_root=_from_git(args, root), progress_bar=True
    ) as core:
        if args.explain_context:
            found = await core.explain_review(spec, note=progress)
            if found.doc is None:
                if args.json or args.sarif:
                    emit_findings(args, nothing, {})
                return 0
            doc, how = found.doc, found.how
            write(json.dumps(doc, indent=2) + "\n" if args.json else explain_text(doc, how))
            return 0
        first_pass = "review" if spec.prose else "findings"
        prose = not (args.json or args.sarif)
        shown = await render_task(core.review(spec), prose=prose, first_pass=first_pass)
    done = shown.finished
    if not shown.planned:  # nothing to review
        if args.json or args.sarif:
            emit_findings(args, nothing, {})
        return 0
    result = ReviewResult(
        list(done.findings), done.prose, list(done.finals), done.model, list(done.notes)
    )
    emit_findings(args, result, done.sources)
    return exit_code_for(result.findings, fail_on)
