"""Learn the tiktoken-to-model token factor from real requests, and catch silent truncation.

After each request the raw tiktoken count of what was sent is compared with the number of
prompt tokens the model saw: the backend's exact count where it has the model's tokenizer
(the embedded engine), else the server's evaluated count (``Final.prompt_tokens``, Ollama's
``prompt_eval_count``).

The evaluated count leaves out tokens served from the server's prefix cache, and the cache
may hold a prompt from another gemmacode process, so a low count proves nothing unless no
cached prefix was possible. Hence the per-model factor in
:class:`gemmacode.tokens.calibration.CalibrationStore`:

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

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmacode.backends.base import Final
from gemmacode.config import Settings, user_cache_dir
from gemmacode.tokens import classes as token_classes
from gemmacode.tokens.counter import MAX_FACTOR, MIN_FACTOR, TokenCounter, _Linear
from gemmacode.tokens.encoding import features

# Before a model has been calibrated, assume its tokenizer needs 30% more tokens than
# cl100k: Gemma's tokenizer on real source code needs 1.03-1.58x (median 1.21, and 1.3 leaves
# under 2% of chunks under-estimated; bench/bench_tokens.py). Erring high wastes some budget
# for one request; erring low gets the prompt silently cut by the server.
PRIOR_FACTOR = 1.3
MIN_TEXT_SAMPLES = 10  # observations before the linear model replaces the single factor
RIDGE = 0.01  # pull towards the single factor, in units of squared relative error


class CalibrationStore:
    """Per-model calibration of tiktoken counts, persisted as JSON.

    Two estimators per model, both fed from real requests:

    - a single factor (:meth:`observe`, :meth:`factor`): an exponential moving average of
      observed ratios, clamped to a sane range so a single odd request (a cached prefix, a
      truncated prompt) cannot wreck it; the fallback while few requests are known;
    - a linear model over token classes (:meth:`observe_text`, :meth:`weights`): the sums
      ``X^T X`` and ``X^T y`` of relative rows are kept, so each request is one cheap update
      and a refit (ridge towards the single factor, done when the weights are next needed)
      needs no history. Used from :data:`MIN_TEXT_SAMPLES` observations on.

    :meth:`counter_for` gives the calibrated counter of a model. Writes go through a temporary
    file and ``os.replace`` so a crash never leaves half a file.
    """

    MIN_FACTOR = MIN_FACTOR
    MAX_FACTOR = MAX_FACTOR

    def __init__(
        self,
        path: Path,
        alpha: float = 0.3,
        *,
        ridge: float = RIDGE,
        min_text_samples: int = MIN_TEXT_SAMPLES,
        prior: float = PRIOR_FACTOR,
    ) -> None:
        self.path = path
        self.alpha = alpha
        self.prior = prior
        self.ridge = ridge
        self.min_text_samples = min_text_samples
        self._data: dict[str, dict[str, float]] = {}
        self._linear: dict[str, _Linear] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(raw, dict):
            for model, entry in raw.items():
                if not isinstance(entry, dict):
                    continue
                if isinstance(entry.get("factor"), (int, float)):
                    self._data[str(model)] = {
                        "factor": float(entry["factor"]),
                        "samples": float(entry.get("samples", 0)),
                    }
                linear = _Linear.from_json(entry.get("linear"))
                if linear is not None:
                    self._linear[str(model)] = linear

    def factor(self, model: str) -> float:
        """The calibrated factor, or ``prior`` before the first observation."""
        entry = self._data.get(model)
        if entry is None or entry.get("samples", 0) <= 0:
            return self.prior
        return entry["factor"]

    def samples(self, model: str) -> int:
        return int(self._data.get(model, {}).get("samples", 0))

    def text_samples(self, model: str) -> int:
        """Observations the linear model of ``model`` has seen."""
        linear = self._linear.get(model)
        return linear.n if linear is not None else 0

    def weights(self, model: str) -> tuple[float, ...] | None:
        """The linear model's weights, or None while it has too few observations."""
        linear = self._linear.get(model)
        if linear is None or linear.n < self.min_text_samples:
            return None
        linear.refit(self.ridge, self.min_text_samples)
        return None if linear.weights is None else tuple(linear.weights)

    def counter_for(self, model: str) -> TokenCounter:
        """A counter calibrated for ``model``: the linear model once it has enough data,
        else the single factor, else ``prior``."""
        return TokenCounter(self.factor(model), self.weights(model))

    def observe(self, model: str, estimated_raw: int, actual: int) -> float:
        """Record one request: ``estimated_raw`` tiktoken tokens, ``actual`` model tokens."""
        if estimated_raw <= 0 or actual <= 0:
            return self.factor(model)
        ratio = min(max(actual / estimated_raw, self.MIN_FACTOR), self.MAX_FACTOR)
        entry = self._data.get(model)
        if entry is None or entry["samples"] == 0:
            new = ratio
            samples = 1.0
        else:
            new = (1 - self.alpha) * entry["factor"] + self.alpha * ratio
            samples = entry["samples"] + 1
        self._data[model] = {"factor": new, "samples": samples}
        self._save()
        return new

    def observe_text(
        self, model: str, texts: str | Sequence[str], actual: int, *, save: bool = True
    ) -> int:
        """Record one request from what was sent: one text or the contents of its chat
        messages, and ``actual`` model tokens for all of it. Returns :meth:`text_samples`."""
        parts = [texts] if isinstance(texts, str) else list(texts)
        vec = [0] * token_classes.SIZE
        for text in parts:
            for i, v in enumerate(features(text)):
                vec[i] += v
        vec[token_classes.MESSAGE] = len(parts)
        return self.observe_vector(model, vec, actual, save=save)

    def observe_vector(
        self, model: str, vec: Sequence[int], actual: int, *, save: bool = True
    ) -> int:
        """:meth:`observe_text` for a class vector already counted (message feature set)."""
        raw = vec[token_classes.RAW]
        if raw <= 0 or actual <= 0 or not MIN_FACTOR <= actual / raw <= MAX_FACTOR:
            return self.text_samples(model)  # not a count of this text: a cut, a cache hit
        self._linear.setdefault(model, _Linear()).add(vec, actual)
        if save:
            self._save()
        return self.text_samples(model)

    def save(self) -> None:
        """Write the store now (after observations recorded with ``save=False``)."""
        self._save()

    def _save(self) -> None:
        out: dict[str, dict[str, Any]] = {m: dict(e) for m, e in self._data.items()}
        for model, linear in self._linear.items():
            linear.refit(self.ridge, self.min_text_samples)
            entry = out.setdefault(model, {"factor": self.prior, "samples": 0.0})
            entry["linear"] = linear.to_json()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".calib-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(out, fh, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


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
