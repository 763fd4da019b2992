"""A forgiving JSON reader for what small models write.

It accepts everything ``json`` does plus the usual slips: single-quoted strings, unquoted keys
and bare-word values, Python literals (``True``, ``None``), trailing or missing commas, ``//``
and ``/* */`` comments, raw newlines in strings, a mismatched closing bracket, and above all
text cut off at any point (an answer stopped by ``num_predict``). On truncation every open
string and bracket is closed; an array drops its incomplete last element (a finding whose
message was cut is not a finding), an object keeps its complete pairs and any partial
container value (so ``{"findings": [a, b, <cut>`` still yields ``a`` and ``b``).

:func:`read_value` never raises except :class:`NotJson`, which means "no value starts here".
Nesting is capped so adversarial input cannot exhaust the stack.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 64

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_BARE = re.compile(r"[A-Za-z_$][\w$.\-]*")
_KEY = re.compile(r"[^\s:=,{}\[\]\"']+")
_LITERALS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "none": None,
    "undefined": None,
}
_PLAIN = {q: re.compile(r"[^\\" + q + "]+") for q in "\"'"}  # runs with no quote or backslash
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\"}


class NotJson(Exception):
    """No JSON-like value could be read at the given position."""


class _Missing:
    """End of text where a value was expected."""


MISSING = _Missing()


class _Reader:
    def __init__(self, text: str, pos: int) -> None:
        self.s = text
        self.i = pos
        self.n = len(text)
        self.depth = 0

    def ws(self) -> None:
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in " \t\r\n\ufeff":
                self.i += 1
            elif s.startswith("//", self.i):
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end + 1
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                self.i = n if end < 0 else end + 2
            else:
                return

    def value(self) -> tuple[Any, bool]:
        """The next value and whether it was complete (not cut off by the end of text)."""
        self.ws()
        if self.i >= self.n:
            return MISSING, False
        c = self.s[self.i]
        if c == "{":
            return self.container(obj=True)
        if c == "[":
            return self.container(obj=False)
        if c in "\"'":
            return self.string(c)
        m = _NUMBER.match(self.s, self.i)
        if m:
            self.i = m.end()
            text = m.group()
            try:
                num: Any = float(text) if any(ch in text for ch in ".eE") else int(text)
            except ValueError as err:  # a lone sign or "1e"
                raise NotJson(text) from err
            return num, self.i < self.n
        m = _BARE.match(self.s, self.i)
        if m:
            self.i = m.end()
            word = m.group()
            return _LITERALS.get(word.lower(), word), self.i < self.n
        raise NotJson(f"unexpected {c!r} at {self.i}")

    def string(self, quote: str) -> tuple[str, bool]:
        s, n = self.s, self.n
        self.i += 1
        out: list[str] = []
        plain = _PLAIN[quote]
        while self.i < n:
            run = plain.match(s, self.i)
            if run:
                out.append(run.group())
                self.i = run.end()
                continue
            c = s[self.i]
            if c == quote:
                self.i += 1
                return "".join(out), True
            if c == "\\":
                if self.i + 1 >= n:
                    self.i = n
                    break
                e = s[self.i + 1]
                if e == "u":
                    digits = s[self.i + 2 : self.i + 6]
                    if len(digits) < 4:
                        self.i = n
                        break
                    try:
                        code = int(digits, 16)
                    except ValueError:
                        out.append(digits)
                        self.i += 6
                        continue
                    self.i += 6
                    low = s[self.i + 2 : self.i + 6] if s.startswith("\\u", self.i) else ""
                    if 0xD800 <= code < 0xDC00 and re.fullmatch(r"[dD][c-fC-F][0-9a-fA-F]{2}", low):
                        # A surrogate pair, as json.dumps writes characters beyond the BMP.
                        code = 0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00)
                        self.i += 6
                    out.append(chr(code))
                    continue
                out.append(_ESCAPES.get(e, e))
                self.i += 2
                continue
        return "".join(out), False

    def container(self, *, obj: bool) -> tuple[Any, bool]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise NotJson("nested too deeply")
        self.i += 1
        items: list[Any] = []
        pairs: dict[str, Any] = {}
        while True:
            self.ws()
            if self.i >= self.n:
                break
            c = self.s[self.i]
            if c == ",":
                self.i += 1
                continue
            if c in "}]":
                # A mismatched bracket still ends this container: models miscount them.
                self.i += 1
                self.depth -= 1
                return (pairs if obj else items), True
            if not obj:
                v, done = self.value()
                if done and v is not MISSING:
                    items.append(v)
                    continue
                break  # the cut-off last element is dropped
            key, done = self.key()
            if not done:
                break
            self.ws()
            if self.i >= self.n:
                break
            if self.s[self.i] not in ":=":
                raise NotJson(f"expected ':' at {self.i}")
            self.i += 1
            v, done = self.value()
            if v is MISSING:
                break
            if done or isinstance(v, dict | list):
                pairs[key] = v
            if not done:
                break
            if self.i < self.n and self.s[self.i] not in ",}] \t\r\n/":
                raise NotJson(f"unexpected {self.s[self.i]!r} after a value at {self.i}")
        self.depth -= 1
        return (pairs if obj else items), False

    def key(self) -> tuple[str, bool]:
        c = self.s[self.i]
        if c in "\"'":
            return self.string(c)
        m = _KEY.match(self.s, self.i)
        if not m:
            raise NotJson(f"expected a key at {self.i}")
        self.i = m.end()
        return m.group(), self.i < self.n


def read_value(text: str, pos: int) -> tuple[Any, bool, int]:
    """Read one value starting at ``text[pos]``: (value, complete, end position).

    Raises :class:`NotJson` when the text at ``pos`` does not start a value.
    """
    reader = _Reader(text, pos)
    try:
        value, complete = reader.value()
    except RecursionError as err:  # pragma: no cover - MAX_DEPTH keeps well below the limit
        raise NotJson("nested too deeply") from err
    if value is MISSING:
        raise NotJson("no value")
    return value, complete, reader.i
