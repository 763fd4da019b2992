"""Learn the tiktoken-to-model token factor from real requests, and catch silent truncation.

After each request the raw tiktoken count of what was sent is compared with the number of
prompt tokens the model saw: the backend's exact count where it has the model's tokenizer
(the embedded engine), else the server's evaluated count (``Final.prompt_tokens``, Ollama's
``prompt_eval_count``).

The evaluated count leaves out tokens served from the server's prefix cache, and the cache
may hold a prompt from another gemmacode process, so a low count proves nothing unless no
cached prefix was possible. Hence the per-model factor in
:class:`gemmacode.tokens.CalibrationStore`:

- follows the exact count every time;
- moves *up* on any evaluated count (a cache can only lower it: the observation is a lower
  bound, and an over-estimate only wastes a little context);
- moves *down* only on a request without a cached prefix: the model was just (re)loaded
  (``Final.load_s`` of at least :data:`RELOAD_MIN_S`; Ollama reports a few milliseconds
  on warm requests too), the server reported ``cached_tokens``, or the prompt shared
  nothing with the session's previous one and the count is plausible for a whole prompt
  (at least :data:`PLAUSIBLE_MIN` of the raw count), so the cautious prior a new model
  starts with comes down after its first request.

Silent truncation (Ollama cuts prompts longer than ``num_ctx`` without an error) shows only
in the evaluated count, in one of two ways:

- the count fills the context (at least :data:`FULL_CTX` of ``num_ctx``): every request
  leaves room for the answer, so a prompt that large was cut to fit (this is how Ollama's
  runner cuts, and what an estimate that is too low leads to);
- the count is well below the estimate (the raw count while the model is uncalibrated, so
  the prior cannot cause false alarms): below :data:`TRUNCATION_RATIO` of it, on a request
  whose estimate was near ``num_ctx`` (:data:`NEAR_CTX`), without a cached prefix (nothing
  substantial shared with the previous request of this session, or a fresh load), and too
  large to be a cache hit (at least :data:`MIN_EVALUATED_SHARE` of ``num_ctx``).

A truncated count never feeds the factor; instead the factor is raised at once to at least
``num_ctx / raw`` (the server only cuts prompts longer than ``num_ctx``) and at least 1.0
(how much longer is unknown), so the next request is sized with a count no longer too low.

Given the texts sent (``texts``), every count that feeds the factor also feeds the store's
linear model over token classes (:meth:`CalibrationStore.observe_text`); once it has enough
observations the counter uses it, and estimates here come from it too. After a cut the
counter's ``lift`` plays the factor's part (the cut count is only a bound, so it never feeds
the fit); the next count that does feed it resets the lift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gemmacode.backends.base import Final
from gemmacode.config import Settings, user_cache_dir
from gemmacode.tokens import CalibrationStore, TokenCounter

TRUNCATION_RATIO = 0.85
FULL_CTX = 0.98
RELOAD_MIN_S = 0.25  # a load_duration this long means the model (and its cache) was new
LIFT = 1.02  # after a cut, the factor is set a little above what the cut proved
NEAR_CTX = 0.6
MIN_EVALUATED_SHARE = 0.25
MIN_TOKENS = 32  # tiny prompts say little about the ratio
CACHED_SHARE = 0.10  # sharing more than this with the previous prompt: maybe cached
# No tokenizer we know of needs fewer than 0.9x cl100k's tokens on code; a count below that
# on a request that shared nothing with the previous one is a cache hit, not a ratio.
PLAUSIBLE_MIN = 0.9


@dataclass(frozen=True)
class CalibrationResult:
    raw: int  # tiktoken tokens sent
    estimated: int  # calibrated estimate before this request
    actual: int | None  # model tokens: exact count, else evaluated by the server
    factor_before: float
    factor_after: float
    updated: bool
    truncated: bool
    note: str = ""
    linear: bool = False  # the estimate came from the linear model over token classes


class Calibrator:
    """Keeps ``counter`` (factor and linear weights) and the persisted store in step for
    one model."""

    def __init__(self, model: str, counter: TokenCounter, store: CalibrationStore) -> None:
        self.model = model
        self.counter = counter
        self.store = store
        if store.samples(model):
            counter.factor = store.factor(model)
        counter.weights = store.weights(model)
        self.results: list[CalibrationResult] = []

    def after_request(
        self,
        *,
        raw: int,
        final: Final,
        num_ctx: int,
        shared_raw: int = 0,
        exact: int | None = None,
        texts: Sequence[str] = (),
    ) -> CalibrationResult:
        """Record one finished request.

        ``shared_raw`` is the tiktoken size of the prefix this prompt shares with the previous
        request of the session at the same ``num_ctx``; ``exact`` the model tokenizer's count
        of what was sent, where the backend has one; ``texts`` the contents of the messages
        sent (their tiktoken counts summing to ``raw``), which the linear model learns from.
        """
        before = self.counter.factor
        linear = bool(texts) and self.counter.weights is not None
        if linear:
            estimated = sum(self.counter.count(t) for t in texts)
        else:
            estimated = int(-(-raw * before // 1))
        evaluated = final.prompt_tokens
        fresh = final.load_s >= RELOAD_MIN_S or final.cached_tokens is not None
        if evaluated is not None and final.cached_tokens is not None:
            evaluated += final.cached_tokens  # the whole prompt, cached part included
        no_cache = fresh or shared_raw <= CACHED_SHARE * raw
        expected = exact if exact is not None else estimated
        # Before the first calibration the estimate carries the store's cautious prior: good
        # for sizing budgets, but "far below the estimate" would then flag every model whose
        # tokenizer is close to cl100k. Judge cuts against the raw count until calibrated.
        calibrated = bool(self.store.samples(self.model)) or self.counter.weights is not None
        cut_expected = expected if exact is not None or calibrated else raw
        filled = evaluated is not None and evaluated >= FULL_CTX * num_ctx
        short = (
            evaluated is not None
            and no_cache
            and estimated >= NEAR_CTX * num_ctx
            and expected >= MIN_TOKENS
            and MIN_EVALUATED_SHARE * num_ctx <= evaluated < TRUNCATION_RATIO * cut_expected
        )
        truncated = filled or short
        note = ""
        if filled:
            note = (
                f"the prompt filled the whole context ({evaluated} of num_ctx {num_ctx} tokens, "
                f"about {expected} estimated): the server cut it silently"
            )
        elif short:
            note = (
                f"the server evaluated {evaluated} prompt tokens where about {expected} were "
                f"sent with num_ctx {num_ctx}: it probably cut the prompt silently"
            )
        pair: tuple[int, int] | None = None
        if exact is not None:
            pair = (raw, exact)
        elif truncated:
            if num_ctx > estimated:  # the true count exceeded num_ctx
                pair = (raw, num_ctx)
        elif evaluated and (
            fresh or evaluated >= estimated or (no_cache and evaluated >= PLAUSIBLE_MIN * raw)
        ):
            pair = (raw, evaluated)
        updated = False
        after = before
        if pair is not None and truncated:
            if linear and estimated:
                self.counter.lift *= LIFT * max(pair[1] / estimated, 1.0)
            # How far over the cut went is unknown: at least back to neutral (1.0).
            pair = (raw, self._lift_to(raw, LIFT * max(pair[1] / raw, 1.0, before)))
        elif pair is not None and texts and raw >= MIN_TOKENS:
            self.store.observe_text(self.model, texts, pair[1], save=False)
            self.counter.weights = self.store.weights(self.model)
            self.counter.lift = 1.0
        if pair is not None and raw >= MIN_TOKENS:
            after = self.store.observe(self.model, *pair)  # saves the linear update too
            self.counter.factor = after
            updated = True
        result = CalibrationResult(
            raw=raw,
            estimated=estimated,
            actual=exact if exact is not None else evaluated,
            factor_before=before,
            factor_after=after,
            updated=updated,
            truncated=truncated,
            note=note,
            linear=linear,
        )
        self.results.append(result)
        return result

    def _lift_to(self, raw: int, target: float) -> int:
        """The observation that moves the store's moving average to ``target`` at once: after
        a cut the lower bound must hold on the very next request, not after several."""
        if not self.store.samples(self.model):
            return math.ceil(target * raw)
        alpha = self.store.alpha
        ratio = (target - (1 - alpha) * self.store.factor(self.model)) / alpha
        return math.ceil(max(ratio, target) * raw)


def default_store(settings: Settings) -> CalibrationStore:
    """The user's calibration store (in the cache folder), with the configured prior."""
    return CalibrationStore(
        user_cache_dir() / "calibration.json", prior=settings.context.token_prior
    )
