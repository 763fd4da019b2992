"""How fast a model answers on a host, and how much work fits the hook's deadline.

The server reports, for every request, how many prompt tokens it evaluated and how long that
took (``prompt_eval_count``/``prompt_eval_duration``), the same for the answer
(``eval_count``/``eval_duration``) and the load time. They are kept per backend, host and
model in ``speeds.json`` in the cache folder beside the token calibration (moving averages,
written atomically), and the next run sizes its request from them:

    time = load (when the model is not in memory) + prompt / prompt speed
           + expected answer / generation speed

so a CPU-only host or a slow card gets a smaller request that finishes in time, with a note
of what was not reviewed, instead of a request certain to time out. A run that timed out
without any answer records what it learnt too: a request of at most N prompt tokens did not
finish in T seconds, so the prompt speed is at most N / T (halved again each time that
happens), and the next request is smaller. The first run on a new host is not capped.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from gemmacode.backends.base import Final

ALPHA = 0.4  # weight of the newest observation
SAFETY = 0.8  # share of the time left that a request is sized to fill
MIN_PROMPT_TOKENS = 384  # below this a review is not worth sending
DEFAULT_ANSWER_TOKENS = 256  # the findings JSON of a commit, before any answer was seen


@dataclass
class Speed:
    """One model on one host: tokens per second reading the prompt and writing the answer,
    seconds to load, and answer tokens per request (all moving averages)."""

    prompt_tps: float | None = None
    eval_tps: float | None = None
    load_s: float | None = None
    answer_tokens: float | None = None
    samples: int = 0


def _ema(old: float | None, new: float) -> float:
    return new if old is None else (1 - ALPHA) * old + ALPHA * new


class SpeedStore:
    """``speeds.json``: ``{"<backend> <host> <model>": Speed}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Speed] = {}
        try:
            raw = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            raw = {}
        if isinstance(raw, dict):
            for key, value in raw.items():
                with contextlib.suppress(TypeError):
                    if isinstance(value, dict):
                        self._data[str(key)] = Speed(**value)

    @staticmethod
    def key(backend: str, host: str, model: str) -> str:
        return f"{backend} {host} {model}"

    def get(self, key: str) -> Speed | None:
        return self._data.get(key)

    def observe(self, key: str, finals: Iterable[Final]) -> None:
        """Fold the metrics of finished requests into the averages."""
        speed = self._data.setdefault(key, Speed())
        for f in finals:
            if f.prompt_tokens and f.prompt_s > 0:
                speed.prompt_tps = _ema(speed.prompt_tps, f.prompt_tokens / f.prompt_s)
            if f.completion_tokens and f.eval_s > 0:
                speed.eval_tps = _ema(speed.eval_tps, f.completion_tokens / f.eval_s)
                speed.answer_tokens = _ema(speed.answer_tokens, float(f.completion_tokens))
            if f.load_s >= 0.5:  # a real load, not a warm request's few milliseconds
                speed.load_s = _ema(speed.load_s, f.load_s)
            speed.samples += 1

    def timed_out(self, key: str, prompt_tokens: int, seconds: float) -> None:
        """A request of at most ``prompt_tokens`` did not finish in ``seconds``."""
        if seconds <= 0 or prompt_tokens <= 0:
            return
        speed = self._data.setdefault(key, Speed())
        bound = prompt_tokens / seconds
        speed.prompt_tps = min(speed.prompt_tps or bound, bound) / 2

    def save(self) -> None:
        """Write atomically; a store that cannot be written is not an error."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".speeds-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({k: asdict(v) for k, v in sorted(self._data.items())}, fh, indent=1)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return


@dataclass(frozen=True)
class Sizing:
    """The cap on one request's prompt (None: num_ctx decides), or why nothing fits."""

    max_prompt_tokens: int | None
    too_slow: str = ""  # non-empty: no useful request finishes in time, and why
    estimate_s: float | None = None  # expected seconds of a request at the cap


def size_request(speed: Speed | None, *, seconds_left: float, loading: bool) -> Sizing:
    """The largest prompt that should finish within ``seconds_left`` (see the module
    docstring); ``loading``: the model is not in memory, so its load time counts too."""
    if speed is None or speed.prompt_tps is None:
        return Sizing(None)
    fixed = (speed.load_s or 0.0) if loading else 0.0
    answer = speed.answer_tokens or DEFAULT_ANSWER_TOKENS
    if speed.eval_tps:
        fixed += answer / speed.eval_tps
    usable = seconds_left * SAFETY - fixed
    tokens = int(usable * speed.prompt_tps)
    if tokens < MIN_PROMPT_TOKENS:
        smallest = fixed + MIN_PROMPT_TOKENS / speed.prompt_tps
        return Sizing(
            None,
            too_slow=(
                f"the smallest useful review takes about {smallest:.0f} s here "
                f"({speed.prompt_tps:.0f} prompt tokens/s"
                + (f", {speed.eval_tps:.1f} answer tokens/s" if speed.eval_tps else "")
                + (", model loading" if loading and speed.load_s else "")
                + f") and {max(seconds_left, 0):.0f} s are left"
            ),
            estimate_s=smallest,
        )
    return Sizing(tokens, estimate_s=fixed + tokens / speed.prompt_tps)
