"""Syntax-aware chunks of one file, each within a token budget, that rebuild the file exactly.

A definition that fits the budget is one chunk; one that does not is split along its syntax
children (a class into its methods, a function at statement boundaries), and small
neighbours are merged back up to the budget. Cuts fall at line starts whenever the pieces
allow it, so chunks read as whole lines. A piece without children that is still too big is
split by lines, and a single line that alone is over the budget is split by tokens.

Contract, checked by property tests: the chunks' texts concatenate to the input exactly, no
chunk is empty, and every chunk counts at most ``budget`` with the given counter (the one
exception: a single character that alone counts more). Files without a grammar are split by
paragraphs, then lines, then tokens.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from gemmacode.index.languages import LANGUAGES
from gemmacode.index.model import Chunk
from gemmacode.tokens.encoding import Counter, decode, encode

# Node types that define a named symbol, across the bundled grammars.
DEFINITION_TYPES = frozenset(
    {
        "function_definition",
        "class_definition",
        "decorated_definition",
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "abstract_class_declaration",
        "method_definition",
        "method_declaration",
        "constructor_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "struct_declaration",
        "trait_declaration",
        "type_alias_declaration",
        "namespace_declaration",
        "internal_module",
        "type_declaration",
        "function_item",
        "impl_item",
        "trait_item",
        "struct_item",
        "enum_item",
        "mod_item",
        "class_specifier",
        "struct_specifier",
        "namespace_definition",
        "class",
        "module",
        "method",
        "singleton_method",
    }
)

_GENEROUS_BYTES_PER_TOKEN = 12  # code averages 3-5; anything near 12 is a rare outlier
_WORDY = re.compile(rb"[0-9A-Za-z_\x80-\xff]")
_NAME_TYPES = frozenset(
    {"identifier", "field_identifier", "type_identifier", "qualified_identifier", "name"}
)


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    scope: str
    neutral: bool = False  # whitespace or comment only: does not narrow a merged scope


def definition_name(node: Any) -> str:
    """The name a definition node declares, or ``""`` (anonymous, or not a definition)."""
    if node.type == "decorated_definition":
        inner = node.child_by_field_name("definition")
        return definition_name(inner) if inner is not None else ""
    if node.type == "type_declaration":  # Go: type X struct{...}
        for child in node.named_children:
            if child.type in ("type_spec", "type_alias"):
                return _text(child.child_by_field_name("name"))
        return ""
    named = node.child_by_field_name("name")
    if named is not None:
        return _text(named)
    if node.type == "impl_item":
        return _text(node.child_by_field_name("type"))
    declarator = node.child_by_field_name("declarator")  # C and C++ functions
    while declarator is not None:
        if declarator.type in _NAME_TYPES:
            inner = declarator.child_by_field_name("name")
            return _text(inner if inner is not None else declarator)
        declarator = declarator.child_by_field_name("declarator")
    return ""


def _text(node: Any) -> str:
    if node is None or node.text is None:
        return ""
    return bytes(node.text).decode("utf-8", "replace")


def _join(scope: str, name: str) -> str:
    if not name:
        return scope
    return f"{scope}.{name}" if scope else name


def _common_scope(scopes: list[str]) -> str:
    if not scopes:
        return ""
    parts = scopes[0].split(".")
    for other in scopes[1:]:
        o = other.split(".")
        n = 0
        while n < len(parts) and n < len(o) and parts[n] == o[n]:
            n += 1
        parts = parts[:n]
    return ".".join(p for p in parts if p)


class _Chunker:
    def __init__(self, text: str, budget: int, counter: Counter) -> None:
        self.text = text
        self.data = text.encode("utf-8", "surrogatepass")
        self.budget = budget
        factor = getattr(counter, "factor", 1.0)
        per_token = _GENEROUS_BYTES_PER_TOKEN / min(factor if factor > 0 else 1.0, 1.0)
        self.max_bytes = int(budget * per_token) + 256
        self.counter = counter
        self.line_starts = [0]
        pos = self.data.find(b"\n")
        while pos != -1:
            self.line_starts.append(pos + 1)
            pos = self.data.find(b"\n", pos + 1)

    # -- helpers over the source bytes -------------------------------------------------

    def snap(self, pos: int) -> int:
        """``pos`` moved back to the start of a UTF-8 character (never splits a character)."""
        data = self.data
        while 0 < pos < len(data) and (data[pos] & 0xC0) == 0x80:
            pos -= 1
        return pos

    def slice(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "surrogatepass")

    def count(self, start: int, end: int) -> int:
        return self.counter.count(self.slice(start, end))

    def fits(self, start: int, end: int) -> bool:
        # A span far longer than the budget could hold at a generous bytes-per-token rate is
        # taken as too big without tokenizing it: this only ever splits a span that might
        # have fitted, and merging then joins its pieces back by exact counts.
        if end - start > self.max_bytes:
            return False
        return self.count(start, end) <= self.budget

    def line_of(self, pos: int) -> int:
        return bisect_right(self.line_starts, pos)

    def at_line_start(self, pos: int) -> bool:
        return pos == 0 or self.data[pos - 1 : pos] == b"\n"

    # -- syntax-aware splitting ----------------------------------------------------------

    def split_node(self, node: Any, start: int, end: int, scope: str) -> list[_Piece]:
        """Unmerged pieces covering ``[start, end)``, a range holding ``node`` and its gap.

        Merging happens once over all the pieces of the file, not per level: a function's
        header then joins the first statements of its body instead of standing alone.
        The tree is walked with an explicit stack, never by recursion: generated code can
        nest thousands of levels deep (a literal nested 3,000 times), far past Python's
        recursion limit.
        """
        pieces: list[_Piece] = []
        todo: list[tuple[Any, int, int, str]] = [(node, start, end, scope)]
        while todo:
            node, start, end, scope = todo.pop()
            inner = scope
            if node.is_named and node.type in DEFINITION_TYPES:
                inner = _join(scope, definition_name(node))
            if self.fits(start, end):
                pieces.append(_Piece(start, end, inner, self._neutral(node, start, end)))
                continue
            if node.type != "decorated_definition":  # its definition child adds the name
                scope = inner
            children = [c for c in node.children if c.end_byte > c.start_byte]
            if not children:
                pieces.extend(self.split_lines(start, end, scope))
                continue
            cuts = [start]
            for prev, child in zip(children, children[1:], strict=False):
                line_start = self.line_starts[self.line_of(child.start_byte) - 1]
                cut = line_start if line_start >= prev.end_byte else child.start_byte
                cuts.append(min(max(self.snap(cut), cuts[-1]), end))
            cuts.append(end)
            parts = [
                (child, lo, hi, scope)
                for child, lo, hi in zip(children, cuts, cuts[1:], strict=False)
                if hi > lo
            ]
            todo.extend(reversed(parts))  # popped first to last: pieces stay in order
        return pieces

    def _neutral(self, node: Any, start: int, end: int) -> bool:
        return "comment" in node.type or self.bare(start, end)

    def bare(self, start: int, end: int) -> bool:
        """Only whitespace and punctuation (a closing brace): says nothing about scope."""
        return _WORDY.search(self.data, start, end) is None

    # -- line and token splitting --------------------------------------------------------

    def split_lines(self, start: int, end: int, scope: str) -> list[_Piece]:
        pieces: list[_Piece] = []
        pos = start
        while pos < end:
            nl = self.data.find(b"\n", pos, end)
            stop = end if nl == -1 else nl + 1
            if self.fits(pos, stop):
                pieces.append(_Piece(pos, stop, scope, self.bare(pos, stop)))
            else:
                pieces.extend(self.split_tokens(pos, stop, scope))
            pos = stop
        return self.merge(pieces)

    def split_tokens(self, start: int, end: int, scope: str) -> list[_Piece]:
        """Cut one over-long line at token boundaries that are also character boundaries.

        Tokens only guide where to cut: each piece is a slice of the original text, so the
        pieces always rebuild it exactly, and each is re-counted to prove it fits.
        """
        rest = self.slice(start, end)
        pieces: list[_Piece] = []
        pos = start
        window = max(self.budget * 16, 64)
        while rest:
            tokens = encode(rest[:window])
            lo, hi, best = 1, len(tokens), 0
            while lo <= hi:
                mid = (lo + hi) // 2
                n = _prefix_chars(rest, decode(tokens[:mid]))
                if n and self.counter.count(rest[:n]) <= self.budget:
                    best, lo = n, mid + 1
                else:
                    hi = mid - 1
            best = best or 1  # progress even if one character alone is over the budget
            size = len(rest[:best].encode("utf-8", "surrogatepass"))
            pieces.append(_Piece(pos, pos + size, scope))
            pos += size
            rest = rest[best:]
        return pieces

    # -- merging ---------------------------------------------------------------------------

    def merge(self, pieces: list[_Piece]) -> list[_Piece]:
        """Greedily join neighbours while the joined text fits, keeping lines together.

        Pieces that meet mid-line form a unit that stays whole when it fits, so a cut lands
        inside a line only when that line's pieces cannot share one chunk.
        """
        units: list[list[_Piece]] = []
        for piece in pieces:
            if units and not self.at_line_start(piece.start):
                units[-1].append(piece)
            else:
                units.append([piece])
        flat: list[_Piece] = []
        for unit in units:
            if len(unit) > 1 and self.fits(unit[0].start, unit[-1].end):
                flat.append(self._combine(unit))
            else:
                flat.extend(unit)
        out: list[_Piece] = []
        group: list[_Piece] = []
        group_tokens = 0
        for piece in flat:
            tokens = self.count(piece.start, piece.end)
            if group and group_tokens + tokens <= self.budget + 2:
                joined = self.count(group[0].start, piece.end)
                if joined <= self.budget:
                    group.append(piece)
                    group_tokens = joined
                    continue
            if group:
                out.append(self._combine(group))
            group, group_tokens = [piece], tokens
        if group:
            out.append(self._combine(group))
        return out

    @staticmethod
    def _combine(group: list[_Piece]) -> _Piece:
        if len(group) == 1:
            return group[0]
        scoped = [p.scope for p in group if not p.neutral]
        neutral = not scoped
        scope = _common_scope(scoped or [p.scope for p in group])
        return _Piece(group[0].start, group[-1].end, scope, neutral)

    def to_chunk(self, piece: _Piece, path: str, language: str) -> Chunk:
        text = self.slice(piece.start, piece.end)
        return Chunk(
            file=path,
            language=language,
            start_line=self.line_of(piece.start),
            end_line=self.line_of(piece.end - 1),
            start_byte=piece.start,
            end_byte=piece.end,
            scope=piece.scope,
            text=text,
            tokens=self.counter.count(text),
        )


def _prefix_chars(rest: str, decoded: str) -> int:
    """How many leading characters ``decoded`` shares with ``rest``: a token cut inside a
    character decodes to U+FFFD, which does not match and is left out."""
    if rest.startswith(decoded):
        return len(decoded)
    n = min(len(decoded), len(rest))
    i = 0
    while i < n and decoded[i] == rest[i]:
        i += 1
    return i


def _paragraph_pieces(ch: _Chunker) -> list[_Piece]:
    """Text files: paragraphs (runs of lines ending at a blank line) that fit, else lines."""
    pieces: list[_Piece] = []
    data = ch.data
    pos = 0
    while pos < len(data):
        brk = data.find(b"\n\n", pos)
        stop = len(data) if brk == -1 else brk + 2
        while stop < len(data) and data[stop : stop + 1] == b"\n":
            stop += 1
        if ch.fits(pos, stop):
            pieces.append(_Piece(pos, stop, ""))
        else:
            pieces.extend(ch.split_lines(pos, stop, ""))
        pos = stop
    return ch.merge(pieces)


def chunk_text(
    text: str, *, path: str, language: str, budget: int, counter: Counter
) -> list[Chunk]:
    """Chunks of ``text`` within ``budget`` tokens (as ``counter`` counts them), in order.

    ``language`` is a key of ``languages.LANGUAGES`` or ``"text"`` (split by paragraphs and
    lines). An empty text has no chunks.
    """
    if budget < 1:
        raise ValueError("budget must be at least 1 token")
    if not text:
        return []
    ch = _Chunker(text, budget, counter)
    if language in LANGUAGES:
        from gemmacode.index.languages import get_parser

        tree = get_parser(language).parse(ch.data)
        pieces = ch.merge(ch.split_node(tree.root_node, 0, len(ch.data), ""))
    else:
        pieces = _paragraph_pieces(ch)
    return [ch.to_chunk(p, path, language) for p in pieces]
