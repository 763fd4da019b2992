"""Context packing: turn a target into requests ("units") whose code fits a token budget.

The code comes as sections (:mod:`gemmacode.review.sections`: real line numbers, hunks
widened to their enclosing definitions). For a diff (after Qodo pr-agent's compression
strategy, FIELD_NOTES "Review of large diffs") files are ordered by relevance, source files
first, largest change first. When everything fits one request it is one request; when it
does not, deleted files and deletion-only hunks are listed by name only and the rest is
packed first-fit into as few requests as possible (map-reduce). What room a request has left
is filled with the definitions the change calls and the ones that call it (from the index,
or :class:`gemmacode.review.related.GrepRelated`). Each :class:`Unit` carries the line
ranges it shows, so findings can be anchored to them. Nothing here calls a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gemmacode.index.model import Reference, Symbol
from gemmacode.index.pathkind import review_tier
from gemmacode.index.pathquote import quote_path
from gemmacode.review.sections import (
    JOIN,
    JOIN_TOKENS,
    ChunkFn,
    Section,
    TagsFn,
    code_sections,
    diff_sections,
    numbered,
)
from gemmacode.review.targets import CodeTarget, DiffTarget
from gemmacode.tokens.encoding import Counter

__all__ = [
    "Plan",
    "RelatedIndex",
    "Unit",
    "add_related",
    "bin_sections",
    "pack_code",
    "pack_diff",
    "pack_files",
]
NAMES_SHARE = 0.1  # the name-only listing may use at most this share of the code budget
MAX_DEFINITIONS = 3  # a name defined in more places than this is too ambiguous to add


class RelatedIndex(Protocol):
    """The part of RepoIndex packing needs to add related definitions."""

    def read_text(self, path: str) -> str: ...

    def definitions(self, name: str) -> list[Symbol]: ...

    def references_to(self, name: str) -> list[Reference]: ...

    def enclosing(self, path: str, line: int) -> Symbol | None: ...


@dataclass
class Unit:
    """One request's worth of code (plus optional related code and a name-only listing)."""

    kind: str  # file or diff
    code: str
    code_tokens: int
    ranges: dict[str, list[tuple[int, int]]]
    default_file: str
    sections: list[Section] = field(default_factory=list)
    related: str = ""
    related_tokens: int = 0
    names: str = ""


@dataclass
class Plan:
    units: list[Unit]
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (what, why)


# ----------------------------------------------------------------------------- batching


def _unit(kind: str, sections: list[Section], counter: Counter) -> Unit:
    ranges: dict[str, list[tuple[int, int]]] = {}
    for s in sections:
        ranges.setdefault(s.file, []).extend(s.ranges)
    code = JOIN.join(s.text for s in sections)
    default = sections[0].file if sections else ""
    return Unit(kind, code, counter.count(code), ranges, default, list(sections))


def _names_text(names: list[str], counter: Counter, budget: int) -> str:
    head = "Also changed, not shown (space is short): "
    shown: list[str] = []
    for i, name in enumerate(names):
        rest = len(names) - i - 1
        tail = f"; and {rest} more" if rest else ""
        if counter.count(head + "; ".join([*shown, name]) + tail) > budget:
            return head + "; ".join(shown) + f"; and {len(names) - i} more"
        shown.append(name)
    return head + "; ".join(shown)


def bin_sections(
    kind: str,
    sections: list[Section],
    counter: Counter,
    budget: int,
    max_units: int | None = None,
) -> Plan:
    """Pack sections into as few units as possible, in order, first fit.

    When everything fits one unit it is one unit. Otherwise low-priority sections (deleted
    files, deletion-only hunks) are listed by name only in the first unit, and the rest go
    first-fit into units of at most ``budget`` tokens; past ``max_units`` they are left out.
    """
    plan = Plan([])
    if not sections:
        return plan
    total = sum(s.tokens + JOIN_TOKENS for s in sections)
    if total <= budget:
        plan.units.append(_unit(kind, sections, counter))
        return plan
    low = [s for s in sections if s.low]
    keep = [s for s in sections if not s.low]
    names = list(dict.fromkeys(s.name for s in low))
    names_text = _names_text(names, counter, int(budget * NAMES_SHARE)) if names else ""
    plan.left_out += [(n, "listed by name only: space is short") for n in names]
    bins: list[list[Section]] = []
    rooms: list[int] = []
    if names_text:  # the first request keeps room for the name list
        bins.append([])
        rooms.append(budget - counter.count(names_text) - JOIN_TOKENS)
    for s in keep:
        cost = s.tokens + JOIN_TOKENS
        for i, room in enumerate(rooms):
            if cost <= room:
                bins[i].append(s)
                rooms[i] -= cost
                break
        else:
            if max_units is not None and len(bins) >= max_units:
                plan.left_out.append((s.name, "over budget: no request left for it"))
                continue
            bins.append([s])
            rooms.append(budget - cost)
    if names_text and not bins[0]:  # nothing fitted beside it: list it where room is left
        del bins[0], rooms[0]
        best = max(range(len(rooms)), key=lambda i: rooms[i], default=-1)
        room = min(int(budget * NAMES_SHARE), rooms[best] - JOIN_TOKENS) if best >= 0 else 0
        names_text = _names_text(names, counter, room) if room >= 24 else ""
        if best >= 0:
            bins.insert(0, bins.pop(best))
    order = {id(s): i for i, s in enumerate(sections)}
    for b in bins:
        b.sort(key=lambda s: order[id(s)])
        plan.units.append(_unit(kind, b, counter))
    if plan.units and names_text:
        plan.units[0].names = names_text
    return plan


def add_related(unit: Unit, index: RelatedIndex, counter: Counter, room: int) -> None:
    """Fill up to ``room`` tokens with definitions the change calls, then its callers."""
    shown = {(s.file, r) for s in unit.sections for r in s.ranges}
    seen: set[tuple[str, int]] = set()

    def already(sym: Symbol) -> bool:
        key = (sym.file, sym.start_line)
        if key in seen:
            return True
        return any(
            f == sym.file and a <= sym.end_line and sym.start_line <= b for f, (a, b) in shown
        )

    candidates: list[tuple[Symbol, str]] = []
    for name in dict.fromkeys(n for s in unit.sections for n in s.calls):
        defs = index.definitions(name)
        if 0 < len(defs) <= MAX_DEFINITIONS:
            candidates += [(d, "called by the change") for d in defs]
    for name in dict.fromkeys(n for s in unit.sections for n in s.defines):
        for ref in index.references_to(name)[:8]:
            caller = index.enclosing(ref.file, ref.line)
            if caller is not None and caller.name != name:
                candidates.append((caller, f"calls {name}"))
    parts: list[str] = []
    used = counter.count("Related code (unchanged, for reference):") + 1
    for sym, why in candidates:
        if already(sym) or room - used < 16:
            continue
        seen.add((sym.file, sym.start_line))
        try:
            lines = index.read_text(sym.file).splitlines()[sym.start_line - 1 : sym.end_line]
        except (OSError, KeyError):
            continue
        header = (
            f"### {quote_path(sym.file)} lines {sym.start_line}-{sym.end_line}: {sym.scope} ({why})"
        )
        width = len(str(sym.end_line))
        text = header + "\n" + "\n".join(numbered(lines, sym.start_line, width))
        cost = counter.count(text) + JOIN_TOKENS
        if used + cost > room:
            text = f"{header}\n{sym.signature}"
            cost = counter.count(text) + JOIN_TOKENS
            if used + cost > room:
                continue
        parts.append(text)
        used += cost
    if parts:
        unit.related = "Related code (unchanged, for reference):\n" + JOIN.join(parts)
        unit.related_tokens = counter.count(unit.related)


def pack_diff(
    target: DiffTarget,
    *,
    counter: Counter,
    budget: int,
    tags_fn: TagsFn | None = None,
    index: RelatedIndex | None = None,
    max_units: int | None = None,
) -> Plan:
    """Plan the requests for a diff; ``budget`` is the code budget of one request."""
    sections, left_out = diff_sections(target, counter, budget, tags_fn)
    plan = bin_sections("diff", sections, counter, budget, max_units)
    plan.left_out = left_out + plan.left_out
    if index is not None:
        prime = getattr(index, "prime", None)
        if prime is not None:  # one lookup for every name (GrepRelated)
            from gemmacode.index.languages import language_for

            sections = [s for u in plan.units for s in u.sections]
            names = [n for s in sections for n in s.defines] + [
                n for s in sections for n in s.calls
            ]
            prime(names, {language_for(s.file) for s in sections})
        for unit in plan.units:
            room = budget - unit.code_tokens - counter.count(unit.names) - 2 * JOIN_TOKENS
            add_related(unit, index, counter, room)
    return plan


def pack_code(
    target: CodeTarget, *, counter: Counter, budget: int, chunker: ChunkFn | None
) -> Plan:
    """Plan the requests for a file, a line range or a symbol."""
    text = target.snippet()
    sections = code_sections(
        target.path,
        text,
        target.language,
        target.start_line,
        counter,
        budget,
        chunker,
        target.label,
    )
    return bin_sections("file", sections, counter, budget)


def pack_files(
    files: Sequence[tuple[str, str, str]],
    *,
    counter: Counter,
    budget: int,
    chunker: ChunkFn | None,
) -> Plan:
    """Plan the requests for several whole files, given as (path, text, language): source
    first, then tests and examples, then docs and configuration, each in the order given."""
    sections: list[Section] = []
    ordered = sorted(files, key=lambda f: review_tier(f[0], f[2] == "text"))  # stable
    for path, text, language in ordered:
        sections += code_sections(path, text, language, 1, counter, budget, chunker)
    return bin_sections("file", sections, counter, budget)
