"""Paths as text a person or a model reads: quoted the way git quotes them.

A file name may hold any byte but ``/`` and NUL: a newline in one, printed raw into the repo
map or a prompt, starts what reads as a new line (a new file header, a new instruction), and
a tab or an escape sequence disguises it. Wherever a path is shown, :func:`quote_path` writes
it as git does with ``core.quotePath``: unchanged when it is harmless, else in double quotes
with C escapes (``\\n``, ``\\t``, ``\\"``, ``\\\\``) and octal UTF-8 bytes (``\\033``) for the
other control characters. Printable non-ASCII stays readable (git's ``core.quotePath=false``),
except the characters that break or reorder lines in some readers: C1 controls (``U+0085``
ends a line for Python's ``splitlines``), the Unicode line and paragraph separators and the
bidirectional overrides, which are written as octal bytes too. :func:`unquote_path` reads
git's quoting back, so the two round-trip.

Machine-readable output (``--json``, SARIF) keeps the real path: its own escaping is exact.
"""

from __future__ import annotations

import re

_C_ESCAPES = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 34: '"', 92: "\\"}
_UNESCAPES = {v: k for k, v in _C_ESCAPES.items()}
# What makes a path need quoting: C0 controls, DEL, the quote and the backslash, C1 controls,
# line/paragraph separators and bidi embedding/override/isolate controls.
_OCTAL = re.compile("[0-7]{1,3}")
_UNSAFE = re.compile('[\x00-\x1f\x7f"\\\\\x80-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]')


def needs_quoting(path: str) -> bool:
    """Whether ``path`` would be shown quoted."""
    return _UNSAFE.search(path) is not None


def _escape(match: re.Match[str]) -> str:
    out = []
    for byte in match.group().encode("utf-8", "surrogatepass"):
        short = _C_ESCAPES.get(byte)
        out.append(f"\\{short}" if short else f"\\{byte:03o}")
    return "".join(out)


def quote_path(path: str) -> str:
    """``path`` as one safe line of text: itself when harmless, else git's C-quoted form
    (``"evil\\nname.py"``)."""
    if _UNSAFE.search(path) is None:
        return path
    return '"' + _UNSAFE.sub(_escape, path) + '"'


def unquote_path(raw: str) -> str:
    """Undo git's C-style quoting of a path (``"a/caf\\303\\251.py"`` -> ``a/café.py``);
    text not in double quotes is returned as it is."""
    if not (len(raw) >= 2 and raw.startswith('"') and raw.endswith('"')):
        return raw
    body = raw[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567":
                digits = _OCTAL.match(body, i + 1)
                assert digits is not None  # nxt is one
                out.append(int(digits.group(), 8) & 0xFF)
                i = digits.end()
                continue
            out.append(_UNESCAPES.get(nxt, ord(nxt)))
            i += 2
            continue
        out += ch.encode("utf-8", "surrogatepass")
        i += 1
    return out.decode("utf-8", "replace")
