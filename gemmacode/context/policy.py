"""Choose ``num_ctx`` from free GPU memory, with hysteresis, because every change reloads.

Sizes come from a fixed :data:`LADDER`, capped by the model's maximum and
``context.max_ctx`` and floored at ``context.min_ctx``. A size fits when the model's weights,
its KV cache at that size (:mod:`gemmacode.context.kvcache`) and ``context.vram_margin_mib``
fit in the memory available to it: free GPU memory plus what the model itself already holds
(from the server's ``/api/ps``, else estimated from our own last request while
``keep_alive`` has not run out).

Hysteresis, since Ollama reloads the model on every ``num_ctx`` change:

- step **down** at once (at the next request) when the current size no longer fits or the
  server reports layers spilled to the CPU;
- step **up** only after headroom for a larger size has held for ``context.step_up_hold_s``
  (every reading in that time, background samples included), and never sooner than
  ``context.step_up_min_interval_s`` after the previous change;
- never while a request is in flight (``busy``).

Without a GPU figure (CPU-only machine, embedded engine, remote server, a GPU that
vanished) the size is fixed: the largest allowed step, limited by system RAM when that is
the reading; it only steps down when a server reports a spill. A GPU vanishing mid-session
keeps the current size. ``context.num_ctx`` (``--num-ctx``) pins the size and disables all
of this; when a long-lived session lifts the pin, the next size is chosen afresh, as the
first one is.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gemmacode.backends.base import KvArch, LoadedModel, ModelInfo
from gemmacode.backends.gguf import kv_arch_from_gguf
from gemmacode.config import ContextSettings
from gemmacode.context.kvcache import kv_cache_bytes
from gemmacode.gpu.reading import MemoryReading

LADDER = (2048, 4096, 8192, 12288, 16384, 24576, 32768, 49152, 65536, 98304, 131072, 196608, 262144)
MIB = 1024**2
# Fallback when the architecture is unknown: KV bytes per token (f16) per billion parameters.
# Generous for grouped-query models (Llama 3 8B needs 16 KiB/B), so the guess errs small.
FALLBACK_KV_PER_BILLION = 64 * 1024


@dataclass
class ContextChange:
    """One decision that changed the size; ``load_s`` is the reload it cost, once measured."""

    at: float
    before: int  # 0 for the first choice
    after: int
    reason: str
    load_s: float | None = None


def parse_keep_alive(value: str) -> float:
    """Seconds from an Ollama keep_alive ("5m", "1h30m", "300", "-1" = forever)."""
    text = value.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
        if not parts or "".join(n + u for n, u in parts) != text.lstrip("+"):
            return 300.0
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        seconds = sum(float(n) * scale[u] for n, u in parts)
    return math.inf if seconds < 0 else seconds


def _billions(parameter_size: str) -> float | None:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bmk])\s*", parameter_size.lower())
    if not m:
        return None
    return float(m.group(1)) * {"b": 1.0, "m": 1e-3, "k": 1e-6}[m.group(2)]


def model_kv(model: ModelInfo) -> tuple[KvArch, bool]:
    """The model's KV shape and whether it is known (False: a conservative estimate)."""
    if model.kv is not None:
        return model.kv, True
    found = kv_arch_from_gguf(model.raw) if model.raw else None
    if found is not None:
        return found, True
    billions = _billions(model.parameter_size)
    if billions is None and model.size_bytes:
        billions = model.size_bytes / 0.6e9  # ~4.5 bits per weight
    per_token = FALLBACK_KV_PER_BILLION * max(1.0, billions or 8.0)
    return KvArch(global_kv=math.ceil(per_token / 4)), False


def _matches(loaded_name: str, model: str) -> bool:
    return loaded_name == model or loaded_name == f"{model}:latest"


class ContextPolicy:
    """Thread-safe: :meth:`observe` may run on the monitor's thread, :meth:`choose` on the
    request path."""

    def __init__(
        self,
        settings: ContextSettings,
        model: ModelInfo,
        *,
        keep_alive_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.model = model
        self.kv, self.kv_known = model_kv(model)
        self.keep_alive_s = keep_alive_s
        self.clock = clock
        self.changes: list[ContextChange] = []
        self.current = 0
        self.note = ""
        self._lock = threading.Lock()
        self._up_since: float | None = None
        self._up_target = 0
        self._last_used: float | None = None
        self._loaded: tuple[LoadedModel, ...] = ()
        self._ceiling = math.inf  # no size at or above one that spilled ...
        self._ceiling_avail: int | None = None  # ... until this much more memory shows up
        self._was_pinned = False  # a pin was lifted: the next choice is made afresh
        cap = min(settings.max_ctx, model.context_length or settings.max_ctx)
        rungs = tuple(r for r in LADDER if settings.min_ctx <= r <= cap)
        self.rungs = rungs or (cap,)

    # --- memory arithmetic ----------------------------------------------------------------

    @property
    def pinned(self) -> int:
        return self.settings.num_ctx

    @property
    def reloads(self) -> int:
        """Changes after the first choice: each one reloads the model."""
        return max(0, len(self.changes) - 1)

    def kv_bytes(self, num_ctx: int) -> int:
        s = self.settings
        return kv_cache_bytes(
            self.kv,
            num_ctx,
            kv_type=s.kv_cache_type,
            parallel=s.num_parallel,
            num_batch=s.num_batch,
        )

    def need(self, num_ctx: int) -> int:
        """Bytes the model needs on the GPU at ``num_ctx``, margin included."""
        return self.model.size_bytes + self.kv_bytes(num_ctx) + self.settings.vram_margin_mib * MIB

    def fit(self, available: int, *, commit: bool = True) -> int:
        """The largest allowed size that fits ``available`` bytes; the floor when none does.

        Sizes at or above one the server spilled at are left out until the available memory
        has grown by the KV difference between that size and the next one down (``commit``:
        lift that ceiling for good once it has; False only looks).
        """
        ceiling = self._ceiling
        if self._ceiling_avail is not None and ceiling < math.inf:
            lower = self._below(int(ceiling))
            grown = self.kv_bytes(int(ceiling)) - self.kv_bytes(lower)
            if available >= self._ceiling_avail + grown:
                ceiling = math.inf
                if commit:
                    self._ceiling, self._ceiling_avail = math.inf, None
        best = self.rungs[0]
        for rung in self.rungs:
            if rung < ceiling and self.need(rung) <= available:
                best = rung
        return best

    def _mine(self, loaded: Sequence[LoadedModel]) -> LoadedModel | None:
        return next((m for m in loaded if _matches(m.name, self.model.name)), None)

    def available(self, reading: MemoryReading, loaded: Sequence[LoadedModel] = ()) -> int | None:
        """GPU bytes the model could use, counting what it holds now; None without a figure."""
        if not reading.knows_free:
            return None
        mine = self._mine(loaded)
        if mine is not None:
            return reading.free + mine.vram_bytes
        recent = self._last_used is not None and (
            self.clock() - self._last_used < self.keep_alive_s
        )
        if not loaded and self.current and recent:
            return reading.free + self.need(self.current) - self.settings.vram_margin_mib * MIB
        return reading.free

    def fixed_size(self, reading: MemoryReading | None) -> int:
        """The size used without a GPU figure: the largest allowed, within system RAM."""
        size = max((r for r in self.rungs if r < self._ceiling), default=self.rungs[0])
        if reading is not None and reading.source == "system-ram" and reading.free:
            size = min(size, self.fit(reading.free))
        return size

    # --- decisions ------------------------------------------------------------------------

    def observe(self, reading: MemoryReading, loaded: Sequence[LoadedModel] | None = None) -> None:
        """Track headroom for a step up; called for every reading (monitor listener)."""
        with self._lock:
            if loaded is not None:
                self._loaded = tuple(loaded)
            self._observe(reading)

    def _observe(self, reading: MemoryReading) -> None:
        avail = self.available(reading, self._loaded)
        if avail is None or not self.current:
            self._up_since = None
            return
        fits = self.fit(avail)
        if fits <= self.current:
            self._up_since = None
        elif self._up_since is None:
            self._up_since, self._up_target = self.clock(), fits
        else:
            self._up_target = min(self._up_target, fits)

    def preview(self, reading: MemoryReading) -> tuple[int, str] | None:
        """The change :meth:`choose` would make at the next request if ``reading`` were the
        latest, and why; None when it would keep the size (pinned, not chosen yet, no GPU
        figure, or nothing to change). Changes nothing: status bars show it as pending."""
        with self._lock:
            if self.pinned or not self.current:
                return None
            avail = self.available(reading, self._loaded)
            mine = self._mine(self._loaded)
            spilled = mine is not None and mine.spilled and mine.vram_bytes > 0
            if avail is None:
                if spilled and self.current > self.rungs[0]:
                    return self._below(self.current), "server reports a spill to CPU"
                return None
            fits = self.fit(avail, commit=False)
            if spilled:
                target = min(fits, self._below(self.current))
                if target < self.current:
                    return target, "server reports layers spilled to CPU"
                return None
            if fits < self.current:
                return fits, self._fit_reason(avail, fits)
            now = self.clock()
            if (
                fits > self.current
                and self._up_since is not None
                and now - self._up_since >= self.settings.step_up_hold_s
                and now - self.changes[-1].at >= self.settings.step_up_min_interval_s
            ):
                held = now - self._up_since
                target = min(self._up_target, fits)
                return target, f"headroom held {held:.0f}s; {self._fit_reason(avail, target)}"
            return None

    def choose(
        self,
        reading: MemoryReading | None,
        loaded: Sequence[LoadedModel] = (),
        *,
        busy: bool = False,
    ) -> int:
        """The size for the next request (and record why, if it changed)."""
        with self._lock:
            now = self.clock()
            self._loaded = tuple(loaded)
            if self.pinned:
                self._was_pinned = True
                if self.current != self.pinned:
                    self._change(now, self.pinned, "pinned by context.num_ctx / --num-ctx")
                return self.current
            if busy and self.current:
                return self.current
            fresh = self._was_pinned  # the user gave the choice back: no step-up hold
            self._was_pinned = False
            reading = reading if reading is not None else MemoryReading(source="none")
            mine = self._mine(loaded)
            # A model entirely off the GPU (vram 0) is not helped by a smaller context.
            spilled = mine is not None and mine.spilled and mine.vram_bytes > 0
            avail = self.available(reading, loaded)
            if not self.current or fresh:
                self._first(now, reading, avail, mine)
            elif avail is None:
                self.note = reading.note
                if spilled and self.current > self.rungs[0]:
                    self._ceiling = self.current
                    self._change(now, self._below(self.current), "server reports a spill to CPU")
            else:
                self._observe(reading)
                self._adapt(now, avail, spilled)
            return self.current

    def _first(
        self, now: float, reading: MemoryReading, avail: int | None, mine: LoadedModel | None
    ) -> None:
        if avail is None:
            self.note = reading.note
            fixed = self.fixed_size(reading)
            # Loaded at an allowed size no larger than the fixed one (a CPU-only server holds
            # it in RAM: vram 0 is no spill): asking for another size would only reload it.
            if mine is not None and mine.context_length in self.rungs:
                if mine.context_length <= fixed and not (mine.spilled and mine.vram_bytes):
                    self._change(now, mine.context_length, "kept the size already loaded")
                    return
            self._change(now, fixed, f"fixed size: {reading.summary()}")
            return
        fits = self.fit(avail)
        if mine is not None and not mine.spilled and mine.context_length in self.rungs:
            if mine.context_length <= fits:
                self._change(now, mine.context_length, "kept the size already loaded")
                return
        self._change(now, fits, self._fit_reason(avail, fits))

    def _adapt(self, now: float, avail: int, spilled: bool) -> None:
        fits = self.fit(avail)
        if spilled:
            target = min(fits, self._below(self.current))
            if target < self.current:
                self._ceiling, self._ceiling_avail = self.current, avail
                self._change(now, target, "server reports layers spilled to CPU")
        elif fits < self.current:
            self._change(now, fits, self._fit_reason(avail, fits))
        elif (
            fits > self.current
            and self._up_since is not None
            and now - self._up_since >= self.settings.step_up_hold_s
            and now - self.changes[-1].at >= self.settings.step_up_min_interval_s
        ):
            held = now - self._up_since
            why = self._fit_reason(avail, self._up_target)
            self._change(now, self._up_target, f"headroom held {held:.0f}s; {why}")

    def _below(self, size: int) -> int:
        lower = [r for r in self.rungs if r < size]
        return lower[-1] if lower else self.rungs[0]

    def _fit_reason(self, avail: int, size: int) -> str:
        if self.need(size) > avail:
            return f"{avail // MIB} MiB available, not enough even for {size}"
        return f"{avail // MIB} MiB available, {self.need(size) // MIB} MiB needed at {size}"

    def _change(self, now: float, size: int, reason: str) -> None:
        self.changes.append(ContextChange(now, self.current, size, reason))
        self.current = size
        self._up_since = None

    def request_done(
        self, num_ctx: int, load_s: float, loaded: Sequence[LoadedModel] | None = None
    ) -> None:
        """After a request: the model is resident at ``num_ctx`` (``loaded`` is the server's
        fresh report, when it gives one); the first request after a change measured the
        reload cost."""
        with self._lock:
            self._last_used = self.clock()
            # What /api/ps said before the request is stale now (the request may have
            # reloaded the model): keep only a fresh report, else estimate our own share.
            self._loaded = tuple(loaded) if loaded is not None else ()
            last = self.changes[-1] if self.changes else None
            if last is not None and last.after == num_ctx and last.load_s is None:
                last.load_s = load_s
