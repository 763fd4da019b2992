"""Rendering the repo map and fitting it to a token budget.

The outline is one header line per file (``path:``) followed by its chosen signatures in line
order, each as ``LINE: <indent><signature>`` with two spaces per scope level. A chosen method
brings its enclosing class's line along, so every entry reads in context.

Fitting never counts the whole text repeatedly: each rendered line is counted once (the
counter caches it) and the sums pick how many ranked definitions fit, best first, then the
gaps are filled with later ones that still fit. The final text is counted once to verify it;
since a sum of line counts is only an estimate of the whole, the limit is corrected from the
measured total and the selection redone a few times, keeping the fullest map that fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gemmacode.index.model import Symbol
from gemmacode.index.pathquote import quote_path
from gemmacode.tokens.encoding import Counter

_MAX_SIGNATURE = 160
_FILL_SCAN = 400  # ranked candidates tried after the first that does not fit
_ATTEMPTS = 8
_FULL_ENOUGH = 0.97


@dataclass(frozen=True)
class RepoMap:
    """The rendered outline, its token count, the ranked definitions shown (best first) and
    the files shown (in the order they appear)."""

    text: str
    tokens: int
    symbols: list[Symbol]
    files: list[str]


@dataclass
class _Selection:
    chosen: list[Symbol]  # ranked definitions shown, best first
    shown: dict[str, set[Symbol]]  # file -> every line shown (chosen plus ancestors)
    order: list[str]  # files in order of their best chosen definition
    exhausted: bool  # every ranked definition fitted: more budget would not help


def signature_line(sym: Symbol) -> str:
    """``LINE: <indent><signature>`` for one definition, on one line."""
    sig = " ".join(sym.signature.split()) or sym.name
    if len(sig) > _MAX_SIGNATURE:
        sig = sig[: _MAX_SIGNATURE - 3] + "..."
    depth = sym.scope.count(".") if sym.scope else 0
    return f"{sym.start_line}: {'  ' * depth}{sig}"


class _Fitter:
    def __init__(
        self,
        symbols: Mapping[str, Sequence[Symbol]],
        ranked: Sequence[tuple[str, int]],
        counter: Counter,
    ) -> None:
        self.symbols = symbols
        self.ranked = ranked
        self.counter = counter
        self._lines: dict[Symbol, str] = {}
        self._scopes: dict[str, dict[str, Symbol]] = {}

    def line(self, sym: Symbol) -> str:
        got = self._lines.get(sym)
        if got is None:
            got = self._lines[sym] = signature_line(sym)
        return got

    def cost(self, text: str) -> int:
        return self.counter.count(text + "\n")

    def ancestors(self, sym: Symbol) -> list[Symbol]:
        """The definitions enclosing ``sym`` in its file, outermost first."""
        if "." not in sym.scope:
            return []
        scopes = self._scopes.get(sym.file)
        if scopes is None:
            scopes = {}
            for s in self.symbols.get(sym.file, ()):
                scopes.setdefault(s.scope, s)
            self._scopes[sym.file] = scopes
        parts = sym.scope.split(".")
        out = []
        for n in range(1, len(parts)):
            parent = scopes.get(".".join(parts[:n]))
            if parent is not None and parent.start_line <= sym.start_line:
                out.append(parent)
        return out

    def select(self, limit: int) -> _Selection:
        """Best-ranked definitions while they fit ``limit`` (by summed line counts), then
        later ones that still fit the gap, scanning a bounded number of candidates."""
        chosen: list[Symbol] = []
        shown: dict[str, set[Symbol]] = {}
        order: list[str] = []
        used = 0
        misses = 0
        exhausted = True
        symbols = self.symbols
        for path, k in self.ranked:
            sym = symbols[path][k]
            lines = shown.get(sym.file)
            if lines is not None and sym in lines:
                chosen.append(sym)
                continue
            new = [a for a in self.ancestors(sym) if lines is None or a not in lines]
            new.append(sym)
            extra = sum(self.cost(self.line(s)) for s in new)
            if lines is None:
                extra += self.cost(f"{quote_path(sym.file)}:")
            if used + extra > limit:
                exhausted = False
                misses += 1
                if misses > _FILL_SCAN or limit - used < 3:
                    break
                continue
            used += extra
            if lines is None:
                lines = shown[sym.file] = set()
                order.append(sym.file)
            lines.update(new)
            chosen.append(sym)
        return _Selection(chosen, shown, order, exhausted)

    def render(self, sel: _Selection) -> str:
        out: list[str] = []
        for path in sel.order:
            out.append(f"{quote_path(path)}:")
            for sym in sorted(sel.shown[path], key=lambda s: (s.start_line, s.scope, s.name)):
                out.append(self.line(sym))
        return "\n".join(out) + "\n" if out else ""


def fit(
    symbols: Mapping[str, Sequence[Symbol]],
    ranked: Sequence[tuple[str, int]],
    counter: Counter,
    tokens: int,
) -> RepoMap:
    """The fullest outline that counts at most ``tokens``, from ``ranked`` definitions
    (``(path, index in symbols[path])``, best first). ``symbols`` may build a file's
    definitions only when asked: only the files of candidates are."""
    fitter = _Fitter(symbols, ranked, counter)
    best: tuple[int, str, _Selection] | None = None
    limit = tokens
    tried: set[int] = set()
    for _ in range(_ATTEMPTS):
        if limit <= 0 or limit in tried:
            break
        tried.add(limit)
        sel = fitter.select(limit)
        text = fitter.render(sel)
        real = counter.count(text)
        if real <= tokens and (best is None or real > best[0]):
            best = (real, text, sel)
        if real > tokens:
            limit -= real - tokens + max(1, tokens // 200)
        elif sel.exhausted or real >= _FULL_ENOUGH * tokens:
            break
        else:
            limit += tokens - real
    if best is None:
        return RepoMap("", 0, [], [])
    real, text, sel = best
    return RepoMap(text, real, sel.chosen, list(sel.order))
