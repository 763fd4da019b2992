"""Line checks: a finding must point inside the code that was reviewed.

Models miscount lines, cite the file by its base name, or describe code they were never
shown. :func:`anchor` keeps findings inside the reviewed ranges (new side of a diff),
re-anchors the ones whose intent is unambiguous, and drops the rest with a reason, so no
finding is ever shown against a line the model did not see. :func:`dedupe` merges the
findings of overlapping map-reduce chunks.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from pathlib import PurePosixPath

from gemmacode.index.pathquote import quote_path
from gemmacode.review.findings.model import Finding, severity_rank

Ranges = Mapping[str, Sequence[tuple[int, int]]]

SLACK = 3  # lines a finding may sit outside a range and still be moved onto its edge


def anchor(
    findings: Sequence[Finding], ranges: Ranges, *, slack: int = SLACK
) -> tuple[list[Finding], list[tuple[Finding, str]]]:
    """(kept, dropped-with-reason). ``ranges`` maps each reviewed file to inclusive line ranges.

    A finding is kept when its lines overlap a range (its ends clamped into that range);
    re-anchored when it names no file and one file was reviewed, names a file by a unique
    suffix (``config.py`` for ``src/config.py``, ``b/src/config.py``), or sits within
    ``slack`` lines of exactly one nearest range; dropped otherwise.
    """
    kept: list[Finding] = []
    dropped: list[tuple[Finding, str]] = []
    clean = {p: sorted((min(a, b), max(a, b)) for a, b in rs) for p, rs in ranges.items() if rs}
    for f in findings:
        path = _resolve_file(f.file, clean)
        if path is None:
            where = f"file {f.file!r}" if f.file else "no file"
            dropped.append((f, f"{where} is not among the reviewed files"))
            continue
        placed = _place(f.line, f.end_line, clean[path], slack)
        if placed is None:
            spans = ", ".join(f"{a}-{b}" for a, b in clean[path])
            dropped.append(
                (f, f"line {f.line} is outside the reviewed lines {spans} of {quote_path(path)}")
            )
            continue
        kept.append(dataclasses.replace(f, file=path, line=placed[0], end_line=placed[1]))
    return kept, dropped


def _resolve_file(name: str, ranges: Mapping[str, Sequence[tuple[int, int]]]) -> str | None:
    if name in ranges:
        return name
    if not name:
        return next(iter(ranges)) if len(ranges) == 1 else None
    norm = name.replace("\\", "/").strip().lstrip("./")
    for prefix in ("a/", "b/"):  # diff headers' sides
        if norm.startswith(prefix) and norm[2:] in ranges:
            return norm[2:]
    if norm in ranges:
        return norm
    matches = [p for p in ranges if p.endswith("/" + norm) or norm.endswith("/" + p)]
    if len(matches) == 1:
        return matches[0]
    if "/" not in norm:
        same_name = [p for p in ranges if PurePosixPath(p).name == norm]
        if len(same_name) == 1:
            return same_name[0]
    return None


def _place(
    line: int, end: int, spans: Sequence[tuple[int, int]], slack: int
) -> tuple[int, int] | None:
    end = max(line, end)
    overlapping = [(a, b) for a, b in spans if line <= b and end >= a]
    if overlapping:
        a, b = overlapping[0]
        return max(line, a), min(end, b)
    distances = sorted((_gap(line, end, a, b), a, b) for a, b in spans)
    best = distances[0]
    if best[0] > slack or (len(distances) > 1 and distances[1][0] == best[0]):
        return None
    _, a, b = best
    target = b if line > b else a
    return target, target


def _gap(line: int, end: int, a: int, b: int) -> int:
    return a - end if end < a else line - b


def dedupe(findings: Sequence[Finding], *, similarity: float = 0.6) -> list[Finding]:
    """Merge findings on the same file whose lines overlap and whose messages say the same.

    The most severe of a group is kept (ties: the longer message), in first-seen order.
    """
    kept: list[Finding] = []
    for f in findings:
        for i, k in enumerate(kept):
            if (
                k.file == f.file
                and f.line <= k.end_line
                and f.end_line >= k.line
                and _similar(k.message, f.message, similarity)
            ):
                if (severity_rank(f.severity), -len(f.message)) < (
                    severity_rank(k.severity),
                    -len(k.message),
                ):
                    kept[i] = f
                break
        else:
            kept.append(f)
    return kept


_STOP = frozenset("the a an is are be to of in on at for and or this that it its with".split())


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9_]+", text.lower()) if w not in _STOP}


def _similar(a: str, b: str, threshold: float) -> bool:
    wa, wb = _words(a), _words(b)
    if wa and wb and len(wa & wb) / len(wa | wb) >= threshold:
        return True
    return SequenceMatcher(None, a.lower(), b.lower()).ratio() >= threshold
