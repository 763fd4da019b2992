"""The calibrated token estimate of one model: a single factor on tiktoken's count, or a
linear model over token classes once enough requests have been seen (see
:mod:`gemmacode.tokens.calibration` for where both are learned)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from gemmacode.tokens import classes as token_classes
from gemmacode.tokens.encoding import _CACHE_LIMIT, ENCODING, raw_count, sparse_features

MIN_FACTOR = 0.5
MAX_FACTOR = 2.0


class _Entry:
    __slots__ = ("raw", "vec", "version", "estimate")

    def __init__(self, raw: int, vec: tuple[tuple[int, int], ...] | None) -> None:
        self.raw = raw
        self.vec = vec
        self.version = -1
        self.estimate = 0


class TokenCounter:
    """Estimated model tokens for a text, with a cache so unchanged text is counted once.

    Without ``weights`` the estimate is the tiktoken count times ``factor`` (1.0 until
    calibrated). With ``weights`` (a fitted linear model over the token-class vector, see
    :mod:`gemmacode.tokens.classes`) it is the weighted sum, kept within 0.5-2x the raw count
    and multiplied by ``lift`` (above 1 only after the server proved an estimate too low).
    The cache keeps the class vector of each text, so a text is tokenized once whatever the
    weights become. ``count`` never under-reports by rounding: it rounds up.
    """

    def __init__(self, factor: float = 1.0, weights: Sequence[float] | None = None) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.factor = factor
        self._lift = 1.0
        self._weights: tuple[float, ...] | None = None
        self._version = 0
        self._cache: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.weights = weights

    @property
    def weights(self) -> tuple[float, ...] | None:
        return self._weights

    @weights.setter
    def weights(self, value: Sequence[float] | None) -> None:
        if value is not None and len(value) != token_classes.SIZE:
            raise ValueError(f"weights must have {token_classes.SIZE} entries")
        self._weights = None if value is None else tuple(float(w) for w in value)
        self._version += 1

    @property
    def lift(self) -> float:
        return self._lift

    @lift.setter
    def lift(self, value: float) -> None:
        if value <= 0:
            raise ValueError("lift must be positive")
        self._lift = value
        self._version += 1

    @property
    def signature(self) -> str:
        """Changes whenever the same text could be counted differently (for cache keys)."""
        if self._weights is None:
            return f"{ENCODING}:{self.factor!r}"
        digest = hashlib.blake2b(repr((self._weights, self._lift)).encode(), digest_size=8)
        return f"{ENCODING}:{token_classes.FEATURES_VERSION}:{digest.hexdigest()}"

    def _entry(self, text: str, need_vector: bool) -> _Entry:
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
                if entry.vec is not None or not need_vector:
                    self.hits += 1
                    return entry
        if need_vector:
            sparse = sparse_features(text)
            entry = _Entry(sparse.get(token_classes.RAW, 0), tuple(sparse.items()))
        else:
            entry = _Entry(raw_count(text), None)
        with self._lock:
            self.misses += 1
            self._cache[key] = entry
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.popitem(last=False)
        return entry

    def raw(self, text: str) -> int:
        """Uncalibrated tiktoken count (cached)."""
        if not text:
            return 0
        return self._entry(text, False).raw

    def vector(self, text: str) -> tuple[int, ...]:
        """The token-class count vector of ``text`` (cached)."""
        if not text:
            return (0,) * token_classes.SIZE
        vec = self._entry(text, True).vec
        assert vec is not None
        return tuple(token_classes.dense(vec))

    def count(self, text: str) -> int:
        if not text:
            return 0
        weights = self._weights
        if weights is None:
            raw = self._entry(text, False).raw
            if self.factor == 1.0:
                return raw
            return int(-(-raw * self.factor // 1))
        entry = self._entry(text, True)
        version = self._version
        if entry.version != version:
            entry.estimate = self._estimate(entry.raw, entry.vec or ())
            entry.version = version
        return entry.estimate

    def estimate(self, vec: Sequence[int]) -> int:
        """The estimate for a class vector (the factor alone when there are no weights)."""
        return self._estimate(vec[token_classes.RAW] if vec else 0, list(enumerate(vec)))

    def _estimate(self, raw: int, sparse: Sequence[tuple[int, int]]) -> int:
        weights = self._weights
        if weights is None or not raw:
            return int(-(-raw * self.factor // 1))
        total = sum(weights[i] * v for i, v in sparse)
        total = min(max(total, MIN_FACTOR * raw), MAX_FACTOR * raw) * self._lift
        return int(-(-total // 1))


class _Linear:
    """Sufficient statistics of one model's relative least squares, and its current fit."""

    def __init__(self) -> None:
        size = token_classes.SIZE
        self.n = 0
        self.xtx = [[0.0] * size for _ in range(size)]
        self.xty = [0.0] * size
        self.weights: list[float] | None = None
        self.stale = False  # observations added since the last fit

    def refit(self, ridge: float, min_samples: int) -> None:
        if self.stale and self.n >= min_samples:
            try:
                self.weights = token_classes.fit(self.xtx, self.xty, ridge)[1]
            except ValueError:
                self.weights = None
        self.stale = False

    def to_json(self) -> dict[str, Any]:
        size = token_classes.SIZE
        return {
            "version": token_classes.FEATURES_VERSION,
            "n": self.n,
            "xtx": [self.xtx[i][j] for i in range(size) for j in range(i, size)],
            "xty": self.xty,
            "weights": self.weights,
        }

    @classmethod
    def from_json(cls, raw: Any) -> _Linear | None:
        size = token_classes.SIZE
        if not isinstance(raw, dict) or raw.get("version") != token_classes.FEATURES_VERSION:
            return None
        upper, xty, weights = raw.get("xtx"), raw.get("xty"), raw.get("weights")
        if not isinstance(upper, list) or not isinstance(xty, list):
            return None
        try:
            if len(upper) != size * (size + 1) // 2 or len(xty) != size:
                return None
            out = cls()
            out.n = int(raw["n"])
            k = 0
            for i in range(size):
                for j in range(i, size):
                    out.xtx[i][j] = out.xtx[j][i] = float(upper[k])
                    k += 1
            out.xty = [float(v) for v in xty]
            if weights is not None:
                if not isinstance(weights, list) or len(weights) != size:
                    return None
                out.weights = [float(w) for w in weights]
        except (TypeError, ValueError, KeyError):
            return None
        return out

    def add(self, vec: Sequence[float], actual: int) -> None:
        row = [(i, v / actual) for i, v in enumerate(vec) if v]
        for i, a in row:
            self.xty[i] += a
            target = self.xtx[i]
            for j, b in row:
                target[j] += a * b
        self.n += 1
        self.stale = True
