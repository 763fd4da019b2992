"""Reading ``git cat-file --batch`` output: one parser for the review's targets and the
commit hook (which must stay import-light, so this module imports nothing)."""

from __future__ import annotations

from collections.abc import Sequence

NULL_SHA = "0" * 40


def wanted_blobs(shas: Sequence[str]) -> list[str]:
    """The distinct real blob names of ``shas``, in order (no empty or all-zero names)."""
    return [s for s in dict.fromkeys(shas) if s and s != NULL_SHA]


def parse_batch(raw: bytes, wanted: Sequence[str]) -> dict[str, bytes]:
    """Contents by name from the output of ``git cat-file --batch`` fed ``wanted``."""
    out: dict[str, bytes] = {}
    pos = 0
    for sha in wanted:
        nl = raw.index(b"\n", pos)
        header = raw[pos:nl].split(b" ")
        pos = nl + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        out[sha] = raw[pos : pos + size]
        pos += size + 1
    return out
