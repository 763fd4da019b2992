"""Split a context size into parts and make a prompt fit it, never exceeding ``num_ctx``.

A prompt is a list of :class:`Part` in the order they are sent (system, repo map, code,
conversation, question): a stable prefix, so the server's prompt cache serves follow-ups.
:func:`fit` keeps that order and, when the total is over the budget, takes space back in
this documented order:

1. optional parts (``required=False``), lowest ``priority`` first, are dropped whole;
   among equal priorities the later part goes first;
2. shrinkable parts (``shrinkable=True``), lowest ``priority`` first, are cut at line
   boundaries from the end, keeping at least ``min_tokens`` and a marker line;
3. if required parts still do not fit, :class:`ContextOverflowError` is raised: nothing is
   sent over the budget.

Counts come from a calibrated :class:`gemmacode.tokens.encoding.Counter`; ``margin`` absorbs the
remaining tokenizer error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from gemmacode.errors import ContextOverflowError
from gemmacode.tokens.encoding import Counter

TRUNCATION_MARK = "\n… [cut to fit the context budget]\n"
# Per-message overhead of chat templates (role markers, turn delimiters), in tokens.
MESSAGE_OVERHEAD = 8


@dataclass(frozen=True)
class Budget:
    """How a context window is spent: prompt space is what is left after the answer reserve
    (``num_predict``) and the tokenizer safety margin."""

    num_ctx: int
    num_predict: int
    margin: float = 0.08
    cap: int | None = None  # a caller's own limit on prompt tokens below what num_ctx allows

    @property
    def margin_tokens(self) -> int:
        return int(self.num_ctx * self.margin)

    @property
    def prompt_tokens(self) -> int:
        room = max(0, self.num_ctx - self.num_predict - self.margin_tokens)
        return room if self.cap is None else max(0, min(room, self.cap))


@dataclass(frozen=True)
class Part:
    name: str  # system, map, code, conversation, question, ...
    text: str
    role: str = "user"
    required: bool = True
    shrinkable: bool = False
    priority: int = 0  # higher survives longer
    min_tokens: int = 0


@dataclass
class Fitted:
    parts: list[Part]
    tokens: dict[str, int]
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (part name, why)
    shrunk: list[tuple[str, int, int]] = field(default_factory=list)  # (name, before, after)

    @property
    def total(self) -> int:
        return sum(self.tokens.values())


def _cost(counter: Counter, part: Part) -> int:
    return counter.count(part.text) + MESSAGE_OVERHEAD


def _shrink(counter: Counter, part: Part, target: int) -> Part:
    """Cut ``part`` at line boundaries so it costs at most ``target`` tokens (binary search)."""
    lines = part.text.splitlines(keepends=True)
    lo, hi = 0, len(lines)
    best = 0
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = "".join(lines[:mid]) + TRUNCATION_MARK
        if counter.count(candidate) + MESSAGE_OVERHEAD <= target:
            best = mid
            lo = mid + 1
        else:
            hi = mid - 1
    return replace(part, text="".join(lines[:best]) + TRUNCATION_MARK)


def fit(parts: list[Part], budget: Budget, counter: Counter) -> Fitted:
    """Return the parts that fit ``budget.prompt_tokens``, in their original order."""
    limit = budget.prompt_tokens
    kept = list(parts)
    costs = {id(p): _cost(counter, p) for p in kept}
    out = Fitted(parts=[], tokens={})

    def total() -> int:
        return sum(costs[id(p)] for p in kept)

    # 1. drop optional parts, lowest priority first, later parts before earlier ones.
    optional = sorted(
        (p for p in kept if not p.required),
        key=lambda p: (p.priority, -kept.index(p)),
    )
    for p in optional:
        if total() <= limit:
            break
        kept.remove(p)
        out.dropped.append((p.name, "over budget"))

    # 2. shrink shrinkable parts, lowest priority first.
    for p in sorted((p for p in kept if p.shrinkable), key=lambda p: p.priority):
        over = total() - limit
        if over <= 0:
            break
        before = costs[id(p)]
        target = max(before - over, p.min_tokens + MESSAGE_OVERHEAD)
        if target >= before:
            continue
        small = _shrink(counter, p, target)
        after = _cost(counter, small)
        idx = kept.index(p)
        kept[idx] = small
        costs[id(small)] = after
        out.shrunk.append((p.name, before, after))

    if total() > limit:
        names = ", ".join(f"{p.name}={costs[id(p)]}" for p in kept)
        raise ContextOverflowError(
            f"the prompt needs {total()} tokens but num_ctx {budget.num_ctx} leaves {limit} "
            f"after the answer reserve ({budget.num_predict}) and margin ({names})",
            "review a smaller range, raise --num-ctx, or lower sampling.num_predict",
        )
    out.parts = kept
    out.tokens = {p.name: costs[id(p)] for p in kept}
    return out
