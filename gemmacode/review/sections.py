"""What the model sees of the code: self-contained sections with real line numbers.

A :class:`Section` is a header line plus numbered code: for a diff the NEW side's lines
(``+`` marks an added line, ``-`` a removed one, which has no number), widened to the
innermost definition around each hunk, found in the tags of the new content (the staged blob
for ``--staged``), unless that definition would take over half the budget. Plain code (a
file, a range, a symbol) is one section when it fits, else syntax-aware chunks. No section
is ever over the budget it was cut for (:func:`split_to_fit`). Nothing here calls a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gemmacode.index.model import Chunk, Reference, Symbol
from gemmacode.index.pathkind import review_tier
from gemmacode.index.pathquote import quote_path
from gemmacode.review.diff import FileDiff
from gemmacode.review.targets import DiffTarget
from gemmacode.tokens.encoding import Counter

TagsFn = Callable[[str, str, str], tuple[list[Symbol], list[Reference]]]
ChunkFn = Callable[..., list[Chunk]]
JOIN = "\n\n"
JOIN_TOKENS = 2  # what joining two sections may add to the sum of their counts


@dataclass(frozen=True)
class Section:
    """A self-contained piece of code with a header line, as the model will see it."""

    file: str
    text: str
    tokens: int
    ranges: tuple[tuple[int, int], ...]  # new-side lines shown
    name: str  # how it is listed when only names fit
    low: bool = False  # deleted file or deletion-only hunk: first to go to the name list
    calls: tuple[str, ...] = ()  # identifiers the added lines use
    defines: tuple[str, ...] = ()  # definitions the change touches


def numbered(lines: Sequence[str], first: int, width: int) -> list[str]:
    return [f"{first + i:>{width}}  {line}" for i, line in enumerate(lines)]


def _count_lines(counter: Counter, header: str, body: list[str]) -> int:
    return counter.count(header + "\n" + "\n".join(body))


def split_to_fit(
    counter: Counter, header: str, body: list[str], numbers: list[int | None], budget: int
) -> list[tuple[str, int, list[int]]]:
    """Cut ``body`` (rendered lines) into pieces of at most ``budget`` tokens each.

    Returns (text, tokens, the new-side line numbers shown). A single line that alone is over
    the budget is cut by characters, so every piece fits.
    """
    out: list[tuple[str, int, list[int]]] = []
    head_cost = counter.count(header) + 1
    i = 0
    while i < len(body):
        # Usually all the rest fits: one count. Else the longest run from i that fits, by
        # binary search.
        rest_fits = _count_lines(counter, header, body[i:]) <= budget
        best = len(body) if rest_fits else i
        lo, hi = (len(body) + 1, len(body)) if rest_fits else (i + 1, len(body) - 1)
        while lo <= hi:
            mid = (lo + hi) // 2
            if _count_lines(counter, header, body[i:mid]) <= budget:
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        if best == i:  # one line alone is too big: keep the part that fits
            line = body[i]
            room = max(1, (budget - head_cost) * 3)
            while room > 1 and _count_lines(counter, header, [line[:room]]) > budget:
                room //= 2
            body = [*body[:i], line[:room], line[room:], *body[i + 1 :]]
            numbers = [*numbers[: i + 1], numbers[i], *numbers[i + 1 :]]
            continue
        text = header + "\n" + "\n".join(body[i:best])
        shown = [n for n in numbers[i:best] if n is not None]
        out.append((text, counter.count(text), shown))
        i = best
    return out


def _ranges(lines: Sequence[int]) -> tuple[tuple[int, int], ...]:
    if not lines:
        return ()
    return ((min(lines), max(lines)),)


# ----------------------------------------------------------------------------- diffs


def innermost(symbols: Sequence[Symbol], lo: int, hi: int) -> Symbol | None:
    best: Symbol | None = None
    for s in symbols:
        if s.start_line <= lo and s.end_line >= hi:
            if best is None or s.end_line - s.start_line < best.end_line - best.start_line:
                best = s
    return best


@dataclass
class _Region:
    start: int
    end: int
    low: bool
    scope: str = ""


def _diff_sections(
    fd: FileDiff,
    text: str,
    language: str,
    counter: Counter,
    budget: int,
    tags_fn: TagsFn | None,
) -> list[Section]:
    """Sections for one changed file with content on the new side."""
    lines = text.splitlines()
    width = len(str(max(1, len(lines))))
    symbols: list[Symbol] = []
    references: list[Reference] = []
    if tags_fn is not None and language != "text":
        symbols, references = tags_fn(text, language, fd.path)
    added: set[int] = set()
    removed_at: dict[int, list[str]] = {}
    regions: list[_Region] = []
    touched: list[Symbol] = []
    for h in fd.hunks:
        added.update(h.added_lines())
        for pos, rows in h.removed_before().items():
            removed_at.setdefault(pos, []).extend(rows)
        changed = h.added_lines()
        if not changed:  # a pure deletion sits between two new-side lines
            gaps = list(h.removed_before())
            changed = [min(gaps) - 1, max(gaps)]
        start, end = h.new_range
        sym = innermost(symbols, min(changed), max(changed)) if min(changed) >= 1 else None
        scope = ""
        if sym is not None:
            touched.append(sym)
            sym_text = "\n".join(lines[sym.start_line - 1 : sym.end_line])
            if counter.count(sym_text) <= budget // 2:
                start, end, scope = min(start, sym.start_line), max(end, sym.end_line), sym.scope
        regions.append(_Region(max(1, start), min(max(1, len(lines)), end), h.deletion_only, scope))
    regions.sort(key=lambda r: r.start)
    merged: list[_Region] = []
    for r in regions:
        if merged and r.start <= merged[-1].end + 1:
            last = merged[-1]
            last.end = max(last.end, r.end)
            last.low = last.low and r.low
            last.scope = last.scope if last.scope == r.scope else ""
        else:
            merged.append(_Region(r.start, r.end, r.low, r.scope))
    calls = tuple(dict.fromkeys(ref.name for ref in references if ref.line in added))
    defines = tuple(dict.fromkeys(s.name for s in touched))
    out: list[Section] = []
    for r in merged:
        body: list[str] = []
        nums: list[int | None] = []
        for n in range(r.start, r.end + 1):
            for row in removed_at.get(n, []):
                body.append(f"{'':>{width}} - {row}")
                nums.append(None)
            row = lines[n - 1] if n - 1 < len(lines) else ""
            body.append(f"{n:>{width}} {'+' if n in added else ' '} {row}")
            nums.append(n)
        if r.end == len(lines):  # lines removed at the end of the file
            for row in removed_at.get(r.end + 1, []):
                body.append(f"{'':>{width}} - {row}")
                nums.append(None)
        where = f", in {r.scope}" if r.scope else ""
        header = f"### {fd.describe()}: lines {r.start}-{r.end}{where}"
        cuts = split_to_fit(counter, header, body, nums, budget)
        for piece, tokens, shown in cuts:
            lo, hi = (min(shown), max(shown)) if len(cuts) > 1 and shown else (r.start, r.end)
            name = f"{quote_path(fd.path)} lines {lo}-{hi}" + (" (lines removed)" if r.low else "")
            out.append(Section(fd.path, piece, tokens, _ranges(shown), name, r.low, calls, defines))
    return out


def _deleted_section(fd: FileDiff, counter: Counter, budget: int) -> list[Section]:
    body = [f"- {row[1:]}" for h in fd.hunks for row in h.lines if row.startswith("-")]
    header = f"### {fd.describe()}: removed content"
    name = f"{quote_path(fd.path)} (deleted)"
    return [
        Section(fd.path, text, tokens, (), name, True)
        for text, tokens, _ in split_to_fit(counter, header, body, [None] * len(body), budget)
    ]


def _tier(path: str) -> int:
    from gemmacode.index.languages import language_for

    return review_tier(path, language_for(path) == "text")


_SKIP_WHY = {
    "lockfile": "lock file",
    "minified": "minified",
    "binary": "binary file",
    "generated": "generated file",
}
_SNIFF_CHARS = 1 << 16  # enough to spot generated markers and minified lines


def diff_sections(
    target: DiffTarget, counter: Counter, budget: int, tags_fn: TagsFn | None
) -> tuple[list[Section], list[tuple[str, str]]]:
    """Every section of a diff, most relevant file first, and what cannot be shown at all.

    Files nobody reviews by reading are left out with a note, as the index leaves them out:
    lock files and minified bundles (by name), generated code (a marker such as
    ``@generated`` or ``DO NOT EDIT`` in its first lines) and minified text (by content).
    """
    from gemmacode.index.languages import language_for
    from gemmacode.index.skiprules import content_reason, name_reason

    # What the change means: its source first, then its tests (and examples), then docs and
    # configuration; within each, the largest change first.
    files = sorted(target.files, key=lambda f: (_tier(f.path), -f.size, f.path))
    target.prefetch([f.new_path for f in files if f.new_path and not f.binary])
    sections: list[Section] = []
    left_out: list[tuple[str, str]] = []
    for fd in files:
        if fd.binary:
            left_out.append((fd.describe(), "binary file, not reviewed"))
            continue
        if fd.status == "deleted":
            sections += _deleted_section(fd, counter, budget)
            continue
        if not fd.hunks:
            left_out.append((fd.describe(), "no content change"))
            continue
        skip = name_reason(fd.path)
        if skip is not None:
            left_out.append((fd.describe(), f"{_SKIP_WHY.get(skip, skip)}, not reviewed"))
            continue
        text = target.new_text(fd.path)
        if text is None:
            left_out.append((fd.describe(), "binary or unreadable content, not reviewed"))
            continue
        skip = content_reason(text[:_SNIFF_CHARS].encode("utf-8", "replace"))
        if skip in ("generated", "minified"):
            left_out.append((fd.describe(), f"{_SKIP_WHY[skip]}, not reviewed"))
            continue
        sections += _diff_sections(fd, text, language_for(fd.path), counter, budget, tags_fn)
    return sections, left_out


# ----------------------------------------------------------------------------- files


def code_sections(
    path: str,
    text: str,
    language: str,
    first_line: int,
    counter: Counter,
    budget: int,
    chunker: ChunkFn | None,
    label: str = "",
) -> list[Section]:
    """Sections for plain code (a file, a range, a symbol): whole if it fits, else chunks."""
    lines = text.splitlines()
    last = first_line + max(1, len(lines)) - 1
    width = len(str(last))
    shown_as = quote_path(path)
    header = f"### {label or shown_as} ({language})"
    whole = header + "\n" + "\n".join(numbered(lines, first_line, width))
    cost = counter.count(whole)
    if cost <= budget:
        return [Section(path, whole, cost, ((first_line, last),), path)]
    pieces: list[tuple[int, list[str]]] = []
    if chunker is not None:
        # Line numbers make code dearer; chunk to a budget that leaves room for them.
        ratio = cost / max(1, counter.count(text))
        chunk_budget = max(16, int((budget - counter.count(header) - 2) / ratio))
        for c in chunker(text, path=path, language=language, budget=chunk_budget, counter=counter):
            chunk = c.text[:-1] if c.text.endswith("\n") else c.text
            pieces.append((first_line + c.start_line - 1, chunk.split("\n")))
    else:
        pieces.append((first_line, lines))
    out: list[Section] = []
    for start, body_lines in pieces:
        nums: list[int | None] = list(range(start, start + len(body_lines)))
        body = numbered(body_lines, start, width)
        for piece, tokens, shown in split_to_fit(counter, header, body, nums, budget):
            name = f"{shown_as} lines {min(shown, default=start)}-{max(shown, default=start)}"
            out.append(Section(path, piece, tokens, _ranges(shown), name))
    return out
