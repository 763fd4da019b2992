"""The review engine: packed code in, anchored findings out, through one model session.

Every request is a list of parts in a stable order (system, repo map, related code, the code,
the instruction), fitted by the session with ``budget.fit`` so nothing is sent over
``num_ctx``; requests of one review share that prefix, so the server's prompt cache helps.

Reliability with small models comes from two passes per request: a streamed prose review the
user reads, then a constrained extraction pass (``json_schema=FINDINGS_SCHEMA``: Ollama's
``format``, a llama.cpp grammar on the embedded and OpenAI-compatible backends) whose answer
goes through the tolerant parser with repair as a safety net. ``prose=False`` (``--no-prose``,
for hooks and CI) does only the constrained pass. Findings are then anchored to the lines the
request really showed; the rest are dropped or re-anchored with a note. Work larger than one
request is reviewed unit by unit (``chunk i of n``) and merged by a final pass, or by the
deterministic de-duplication when the merge pass would not fit.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gemmacode.backends.base import Delta, Event, Final
from gemmacode.context.budget import MESSAGE_OVERHEAD, Budget, Fitted, Part
from gemmacode.errors import ContextOverflowError
from gemmacode.review import prompts
from gemmacode.review.findings.model import FINDINGS_SCHEMA, Finding
from gemmacode.review.packing import Plan, Unit, bin_sections
from gemmacode.review.sections import code_sections
from gemmacode.tokens.encoding import Counter

# Reserve for the longest instruction label ("..., part 999 of 999") when sizing code.
_LABEL_SLACK = 24


class Session(Protocol):
    """What the engine needs from :class:`gemmacode.context.model_session.ModelSession`."""

    @property
    def counter(self) -> Counter: ...

    @property
    def model_name(self) -> str: ...

    @property
    def num_ctx(self) -> int: ...

    def budget(self, num_predict: int | None = None) -> Budget: ...

    def explain(self, parts: list[Part], num_predict: int | None = None) -> Fitted: ...

    def stream(
        self,
        parts: list[Part],
        *,
        json_schema: dict[str, Any] | None = None,
        num_predict: int | None = None,
    ) -> AsyncIterator[Event]: ...


@dataclass
class ReviewResult:
    findings: list[Finding]
    prose: str
    finals: list[Final]
    model: str
    notes: list[str]


@dataclass
class ReviewOptions:
    """How to review: focus areas, project instructions, passes, and where output goes."""

    focus: Sequence[str] = ()
    extra: str = ""  # the project's review.extra_instructions, only when --extra is given
    prose: bool = True
    on_text: Callable[[str], None] | None = None  # streamed prose, as it arrives
    on_progress: Callable[[str], None] | None = None  # "chunk i of n"
    # (unit i, of n units, pass: "review", "findings" or "merge"), before each model request
    on_request: Callable[[int, int, str], None] | None = None
    on_findings: Callable[[list[Finding]], None] | None = None  # each unit's, then the merge's
    map_text: str = ""  # repo map for the shared prefix, "" for none
    env: Mapping[str, str] | None = None  # where prompt overrides are looked up


@dataclass
class Request:
    """One planned request: its parts and the unit it reviews."""

    unit: Unit
    label: str
    parts: list[Part] = field(default_factory=list)


def system_part(opts: ReviewOptions) -> Part:
    return Part("system", prompts.render("system", opts.env), role="system", priority=100)


def instruction(kind: str, label: str, opts: ReviewOptions) -> Part:
    name = "review_diff" if kind == "diff" else "review_file"
    text = prompts.render(
        name,
        opts.env,
        target=label,
        focus=prompts.focus_text(opts.focus),
        extra=prompts.extra_text(opts.extra),
    )
    return Part("instruction", text, priority=100)


def extract_instruction(label: str, unit: Unit, opts: ReviewOptions, *, after_prose: bool) -> Part:
    if after_prose:
        lead = "List every problem from the review above."
    else:
        lead = (
            f"Review the code above ({label}) and list its real problems: bugs, security "
            "holes, crashes, wrong error handling, resource leaks, races, slow code."
            + prompts.focus_text(opts.focus)
            + prompts.extra_text(opts.extra)
        )
    text = prompts.render("extract", opts.env, lead=lead, example_file=unit.default_file or "a.py")
    return Part("extract", text, priority=100)


def code_budget(session: Session, kind: str, label: str, opts: ReviewOptions) -> int:
    """Tokens left for code (and related code) in one request after the fixed parts."""
    counter = session.counter
    budget = session.budget()
    last = (
        instruction(kind, label, opts)
        if opts.prose
        else extract_instruction(label, Unit(kind, "", 0, {}, ""), opts, after_prose=False)
    )
    fixed = [system_part(opts), last]
    if opts.map_text:
        fixed.append(Part("map", opts.map_text))
    used = sum(counter.count(p.text) + MESSAGE_OVERHEAD for p in fixed)
    # code, related code and the name list are parts too
    free = budget.prompt_tokens - used - 3 * MESSAGE_OVERHEAD - counter.count(" " * _LABEL_SLACK)
    if free < 64:
        raise ContextOverflowError(
            f"num_ctx {budget.num_ctx} leaves only {max(free, 0)} tokens for code after the "
            f"prompt and the answer reserve ({budget.num_predict})",
            "raise --num-ctx or lower sampling.num_predict",
        )
    return free


def unit_parts(unit: Unit, label: str, opts: ReviewOptions, *, extraction: str = "") -> list[Part]:
    """The parts of one request, in the stable order that lets the prompt cache help."""
    parts = [system_part(opts)]
    if opts.map_text:
        parts.append(Part("map", opts.map_text, required=False, priority=1))
    if unit.related:
        parts.append(Part("related", unit.related, required=False, priority=2))
    if unit.names:
        parts.append(Part("names", unit.names, required=False, priority=3))
    parts.append(
        Part("code", unit.code, shrinkable=True, priority=5, min_tokens=min(64, unit.code_tokens))
    )
    if extraction:  # the extraction pass after a prose pass
        parts.append(
            Part(
                "review",
                "Your review:\n" + extraction,
                shrinkable=True,
                priority=6,
                min_tokens=32,
            )
        )
        parts.append(extract_instruction(label, unit, opts, after_prose=True))
    elif opts.prose:
        parts.append(instruction(unit.kind, label, opts))
    else:
        parts.append(extract_instruction(label, unit, opts, after_prose=False))
    return parts


def plan_requests(plan: Plan, label: str, opts: ReviewOptions) -> list[Request]:
    n = len(plan.units)
    out: list[Request] = []
    for i, unit in enumerate(plan.units, 1):
        part_label = label if n == 1 else f"{label}, part {i} of {n}"
        out.append(Request(unit, part_label, unit_parts(unit, part_label, opts)))
    return out


async def _collect(
    session: Session,
    parts: list[Part],
    *,
    json_schema: dict[str, Any] | None,
    on_text: Callable[[str], None] | None,
) -> tuple[str, Final | None]:
    pieces: list[str] = []
    final: Final | None = None
    async for event in session.stream(parts, json_schema=json_schema):
        if isinstance(event, Delta):
            pieces.append(event.text)
            if on_text is not None:
                on_text(event.text)
        elif isinstance(event, Final):
            final = event
    return "".join(pieces), final


def _final_notes(final: Final | None, what: str) -> list[str]:
    if final is None:
        return [f"{what}: the stream ended without metrics"]
    notes = []
    if final.truncated:
        notes.append(f"{what}: the server cut the prompt (fewer prompt tokens than sent)")
    if final.done_reason == "length":
        notes.append(f"{what}: the answer hit the num_predict limit and may be cut short")
    return notes


def _anchor(
    findings: list[Finding], ranges: Mapping[str, Sequence[tuple[int, int]]], notes: list[str]
) -> list[Finding]:
    from gemmacode.review.findings.anchor import anchor

    kept, dropped = anchor(findings, ranges)
    for f, why in dropped:
        notes.append(f"dropped a finding at {f.file}:{f.line} ({why}): {f.message[:80]}")
    return kept


async def review_request(
    session: Session, request: Request, opts: ReviewOptions, *, index: int = 1, total: int = 1
) -> tuple[list[Finding], str, list[Final], list[str]]:
    """Run one request (prose then extraction, or extraction alone); anchored findings.
    ``index`` of ``total`` numbers the unit for ``opts.on_request``."""
    unit, finals, notes, prose = request.unit, [], [], ""
    parts = request.parts
    if opts.prose:
        if opts.on_request is not None:
            opts.on_request(index, total, "review")
        prose, final = await _collect(session, parts, json_schema=None, on_text=opts.on_text)
        if opts.on_text is not None and prose and not prose.endswith("\n"):
            opts.on_text("\n")
        finals += [final] if final else []
        notes += _final_notes(final, request.label)
        if _NOTHING_FOUND.fullmatch(prose.strip()):  # nothing to extract: save a request
            return [], prose, finals, notes
        parts = unit_parts(unit, request.label, opts, extraction=prose)
    if opts.on_request is not None:
        opts.on_request(index, total, "findings")
    raw, final = await _collect(session, parts, json_schema=FINDINGS_SCHEMA, on_text=None)
    finals += [final] if final else []
    notes += _final_notes(final, f"{request.label} (findings)")
    # Imported once the answer is in, not before the request leaves (start-up budget).
    from gemmacode.review.findings.parse import parse_findings

    parsed = parse_findings(raw, default_file=unit.default_file)
    if parsed.repaired:
        notes.append(f"{request.label}: repaired malformed findings JSON")
    notes += [f"{request.label}: {err}" for err in parsed.errors]
    found = _drop_copied_examples(list(parsed.findings), parts, notes)
    return _anchor(found, unit.ranges, notes), prose, finals, notes


# The answer the review prompts ask for when there is nothing to report, alone.
_NOTHING_FOUND = re.compile(r"(?i)\W*(no (real )?(problems|issues) found|no problems)\W*")
_EXAMPLE_MESSAGE = re.compile(r'"message":\s*"([^"]+)"')


def _drop_copied_examples(
    findings: list[Finding],
    parts: Sequence[Part],
    notes: list[str],
    allowed: Sequence[Finding] = (),
) -> list[Finding]:
    """Small models copy the format example verbatim; such a finding is not a finding
    (unless it was already among ``allowed``, the merge pass's input)."""
    examples = {
        m.strip().lower()
        for p in parts
        if p.name in ("extract", "merge")
        for m in _EXAMPLE_MESSAGE.findall(p.text)
    } - {f.message.strip().lower() for f in allowed}
    kept = [f for f in findings if f.message.strip().lower() not in examples]
    if len(kept) < len(findings):
        notes.append(f"dropped {len(findings) - len(kept)} finding(s) copied from the example")
    return kept


def _dedupe(findings: list[Finding]) -> list[Finding]:
    from gemmacode.review.findings.anchor import dedupe

    return list(dedupe(findings))


async def merge_findings(
    session: Session,
    findings: list[Finding],
    ranges: Mapping[str, Sequence[tuple[int, int]]],
    label: str,
    opts: ReviewOptions,
    notes: list[str],
    finals: list[Final],
    *,
    total: int = 1,
) -> list[Finding]:
    """The reduce step: a merge pass when it fits, else (or on failure) deterministic dedupe.
    ``total`` is the number of units merged (for ``opts.on_request``)."""
    from gemmacode.review.findings.parse import parse_findings

    if len(findings) < 2:
        return findings
    payload = json.dumps({"findings": [f.to_dict() for f in findings]}, ensure_ascii=False)
    text = prompts.render("merge", opts.env, target=label, findings=payload)
    parts = [system_part(opts), Part("merge", text)]
    try:
        session.explain(parts)
    except ContextOverflowError:
        notes.append("merged findings without a model pass: the merge prompt does not fit")
        return _dedupe(findings)
    if opts.on_request is not None:
        opts.on_request(total, total, "merge")
    raw, final = await _collect(session, parts, json_schema=FINDINGS_SCHEMA, on_text=None)
    finals += [final] if final else []
    notes += _final_notes(final, "merge pass")
    parsed = parse_findings(raw)
    found = _drop_copied_examples(list(parsed.findings), parts, notes, allowed=findings)
    merged = _anchor(found, ranges, notes)
    if not merged:
        notes.append("the merge pass returned no usable findings: merged deterministically")
        return _dedupe(findings)
    return _dedupe(merged)


async def review_plan(
    session: Session, plan: Plan, label: str, opts: ReviewOptions
) -> ReviewResult:
    """Review every unit of ``plan`` in order (map), then merge the findings (reduce)."""
    requests = plan_requests(plan, label, opts)
    result = ReviewResult([], "", [], session.model_name, [])
    result.notes += [f"not reviewed: {what} ({why})" for what, why in plan.left_out]
    prose: list[str] = []
    ranges: dict[str, list[tuple[int, int]]] = {}
    for i, request in enumerate(requests, 1):
        if len(requests) > 1 and opts.on_progress is not None:
            opts.on_progress(f"chunk {i} of {len(requests)}")
        found, text, finals, notes = await review_request(
            session, request, opts, index=i, total=len(requests)
        )
        if opts.on_findings is not None:
            opts.on_findings(found)
        result.findings += found
        result.finals += finals
        result.notes += notes
        if text:
            prose.append(text)
        for path, rs in request.unit.ranges.items():
            ranges.setdefault(path, []).extend(rs)
    if len(requests) > 1:
        result.findings = await merge_findings(
            session,
            result.findings,
            ranges,
            label,
            opts,
            result.notes,
            result.finals,
            total=len(requests),
        )
        if opts.on_findings is not None:
            opts.on_findings(result.findings)
    result.prose = "\n\n".join(prose)
    return result


async def review_snippet(
    session: Session,
    *,
    path: str,
    text: str,
    language: str,
    focus: Sequence[str] = (),
    first_line: int = 1,
    on_text: Callable[[str], None] | None = None,
    prose: bool = True,
) -> ReviewResult:
    """Review one piece of code whose first line is ``first_line`` of ``path``.

    Used by the eval harness and the TUI; chunked and merged when it is larger than one
    request. ``prose=False`` runs only the constrained findings pass.
    """
    from gemmacode.index.chunker import chunk_text

    opts = ReviewOptions(focus=focus, prose=prose, on_text=on_text)
    budget = code_budget(session, "file", path, opts)
    sections = code_sections(path, text, language, first_line, session.counter, budget, chunk_text)
    plan = bin_sections("file", sections, session.counter, budget)
    return await review_plan(session, plan, path, opts)
