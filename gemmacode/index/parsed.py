"""A file's parse result: what ``tags.parse_tags`` returns, the index's worker processes send
back and the index cache stores, and the bytes it is stored as.

The records are NamedTuples, not dataclasses: a repository has tens of thousands of
definitions, and a tuple costs the least to build, send between processes and compare. The
cache keeps them as :mod:`marshal` data (the fastest to load of the standard formats), which
holds only plain tuples, so this module is the one place that knows the stored layout:
:func:`dump_tags` writes it, :func:`load_tags` and :func:`load_records` read it.
"""

from __future__ import annotations

import marshal
from typing import NamedTuple

from gemmacode.index.model import Reference, Symbol


class SymbolTuple(NamedTuple):
    """A definition without its file (the fields of :class:`~gemmacode.index.model.Symbol`)."""

    name: str
    kind: str
    scope: str
    start_line: int
    end_line: int
    signature: str
    start_byte: int
    end_byte: int

    @classmethod
    def of(cls, s: Symbol) -> SymbolTuple:
        return cls(
            s.name, s.kind, s.scope, s.start_line, s.end_line, s.signature, s.start_byte, s.end_byte
        )

    def symbol(self, path: str) -> Symbol:
        return Symbol(
            self.name,
            self.kind,
            self.scope,
            path,
            self.start_line,
            self.end_line,
            self.signature,
            self.start_byte,
            self.end_byte,
        )


class ParseResult(NamedTuple):
    symbols: list[SymbolTuple]
    ref_names: list[str]
    ref_lines: list[int]  # 1-based, parallel to ref_names
    # Not stored in the blob: the cache row's flags say "parse-errors".
    has_error: bool


class TagCounts(NamedTuple):
    symbols: int
    references: int


def dump_tags(result: ParseResult) -> bytes:
    """The stored form of ``result``: its symbols (as plain tuples), reference names and
    lines."""
    return marshal.dumps((list(map(tuple, result.symbols)), result.ref_names, result.ref_lines))


# What marshal gives back: the symbols as plain tuples in SymbolTuple's field order.
_Stored = tuple[list[tuple[str, str, str, int, int, str, int, int]], list[str], list[int]]


def _load(blob: bytes) -> _Stored:
    """The stored layout; ValueError (or EOFError, TypeError) for a damaged blob."""
    symbols, names, lines = marshal.loads(blob)
    return symbols, names, lines


def load_tags(blob: bytes, has_error: bool = False) -> ParseResult:
    """A stored parse result (``has_error`` from the cache row's flags, when known)."""
    symbols, names, lines = _load(blob)
    return ParseResult(list(map(SymbolTuple._make, symbols)), names, lines, has_error)


def load_records(blob: bytes, path: str) -> tuple[list[Symbol], list[Reference]]:
    """``path``'s records straight from the stored form (no SymbolTuple in between: decoding
    every file of a large repository builds tens of thousands of them)."""
    symbols, names, lines = _load(blob)
    return (
        [Symbol(n, k, s, path, sl, el, sig, sb, eb) for n, k, s, sl, el, sig, sb, eb in symbols],
        [Reference(n, path, ln) for n, ln in zip(names, lines, strict=True)],
    )


def count_tags(blob: bytes) -> TagCounts:
    """How many definitions and references a stored result holds, without building any."""
    symbols, names, _lines = _load(blob)
    return TagCounts(len(symbols), len(names))


def symbols_from(result: ParseResult, path: str) -> tuple[list[Symbol], list[Reference]]:
    """Records for ``path`` from a parse result (fresh or loaded from the cache)."""
    symbols = [s.symbol(path) for s in result.symbols]
    refs = [
        Reference(n, path, ln) for n, ln in zip(result.ref_names, result.ref_lines, strict=True)
    ]
    return symbols, refs
