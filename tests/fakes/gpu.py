"""Scripted GPU memory for policy and session tests, on a fake clock.

:class:`ScriptedSource` plays a memory timeline: a list of ``(t, free_bytes)`` steps, the
free memory that *other* programs leave (browser, desktop, a second model). ``resident``
(optional) says how much the model under test occupies now, and is taken off, as a real
NVML reading would. :class:`SimulatedServer` wraps :class:`tests.fakes.backend.FakeBackend`
to behave like Ollama where memory matters: a new ``num_ctx`` reloads the model (reported as
``load_s`` in the Final record), and a model that does not fit spills to the CPU
(``/api/ps`` shows ``size_vram < size``). It counts reloads and out-of-memory loads.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace

from gemmacode.backends.base import ChatRequest, Event, Final, KvArch, LoadedModel, ModelInfo
from gemmacode.config import Settings
from gemmacode.context.budget import Part
from gemmacode.context.kvcache import kv_cache_bytes
from gemmacode.context.model_session import ModelSession
from gemmacode.gpu.monitor import GpuMonitor
from gemmacode.gpu.reading import MemoryReading, SourceName, unavailable
from gemmacode.tokens.calibration import CalibrationStore
from gemmacode.tokens.encoding import raw_count
from tests.fakes.backend import FakeBackend

MIB = 1024**2
GIB = 1024**3


class FakeClock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class ScriptedSource:
    """NVML-like readings from a timeline of ``(t, free_bytes)``; ``None`` free = GPU gone."""

    name: SourceName = "nvml"

    def __init__(
        self,
        timeline: Sequence[tuple[float, int | None]],
        clock: Callable[[], float],
        *,
        total: int = 4 * GIB,
        resident: Callable[[], int] | None = None,
    ) -> None:
        if not timeline:
            raise ValueError("timeline must not be empty")
        self.timeline = sorted(timeline, key=lambda step: step[0])
        self._times = [t for t, _ in self.timeline]
        self.clock = clock
        self.total = total
        self.resident = resident
        self.reads = 0
        self.closed = False

    def others_free(self, t: float | None = None) -> int | None:
        """Free memory left by other programs at ``t`` (now by default)."""
        t = self.clock() if t is None else t
        i = max(0, bisect.bisect_right(self._times, t) - 1)
        return self.timeline[i][1]

    def read(self) -> MemoryReading:
        self.reads += 1
        free = self.others_free()
        if free is None:
            return unavailable("GPU reading failed: GPU is lost")
        free = max(0, free - (self.resident() if self.resident else 0))
        return MemoryReading(source="nvml", total=self.total, free=free, used=self.total - free)

    def close(self) -> None:
        self.closed = True


@dataclass
class SimulatedServer(FakeBackend):
    """A FakeBackend with Ollama's memory behaviour on a :class:`ScriptedSource`'s GPU."""

    gpu: ScriptedSource | None = None
    weights: int = 3 * GIB
    kv: KvArch = field(default_factory=lambda: KvArch(1536, 3072, 512))
    kv_type: str = "f16"
    load_cost_s: float = 2.5
    report_loaded: bool = True
    loaded_ctx: int = 0
    reloads: int = 0  # loads after the first
    loads: int = 0
    oom_loads: list[tuple[float, int]] = field(default_factory=list)  # (time, num_ctx)
    spilled: bool = False

    def footprint(self, num_ctx: int | None = None) -> int:
        ctx = self.loaded_ctx if num_ctx is None else num_ctx
        return self.weights + kv_cache_bytes(self.kv, ctx, kv_type=self.kv_type) if ctx else 0

    def resident(self) -> int:
        """Bytes this model holds on the GPU (what spilled stays in system RAM)."""
        if not self.loaded_ctx or self.gpu is None:
            return 0
        free = self.gpu.others_free() or 0
        return min(self.footprint(), free)

    async def chat(self, request: ChatRequest) -> AsyncIterator[Event]:  # type: ignore[override]
        load_s = 0.0
        ctx = request.options.num_ctx
        if ctx != self.loaded_ctx:
            self.loads += 1
            if self.loaded_ctx:
                self.reloads += 1
            self.loaded_ctx = ctx
            load_s = self.load_cost_s
        free = self.gpu.others_free() if self.gpu is not None else None
        self.spilled = free is not None and self.footprint() > free
        if self.spilled and load_s:
            t = self.gpu.clock() if self.gpu is not None else 0.0
            self.oom_loads.append((t, ctx))
        async for event in super().chat(request):
            if isinstance(event, Final):
                event = replace(event, load_s=load_s)
            yield event

    async def loaded(self) -> list[LoadedModel]:
        if not self.report_loaded or not self.loaded_ctx:
            return []
        size = self.footprint()
        vram = size
        if self.gpu is not None:
            vram = min(size, self.gpu.others_free() or 0)
        name = self.models[0].name if self.models else "model"
        return [LoadedModel(name, size, vram, self.loaded_ctx)]


E2B = ModelInfo(
    "gemma4:e2b",
    "gemma4",
    parameter_size="5.1B",
    context_length=131072,
    size_bytes=2900 * MIB,
    kv=KvArch(global_kv=3 * 512, sliding_kv=12 * 256, sliding_window=512),
)
E4B = ModelInfo(
    "gemma4:e4b",
    "gemma4",
    parameter_size="8.0B",
    context_length=131072,
    size_bytes=4608 * MIB,
    kv=KvArch(global_kv=4 * 2 * 512, sliding_kv=20 * 2 * 256, sliding_window=512),
)


@dataclass
class Rig:
    """A session on a simulated GPU: advance ``clock`` and call ``ask`` to send a request."""

    clock: FakeClock
    source: ScriptedSource
    server: SimulatedServer
    session: ModelSession
    monitor: GpuMonitor
    sent: list[tuple[float, int, int]] = field(default_factory=list)  # (t, num_ctx, raw prompt)

    async def ask(self, parts: list[Part], num_predict: int | None = None) -> Final:
        final: Final | None = None
        async for event in self.session.stream(parts, num_predict=num_predict):
            if isinstance(event, Final):
                final = event
        assert final is not None
        request = self.server.requests[-1]
        raw = sum(raw_count(m.content) for m in request.messages)
        self.sent.append((self.clock(), request.options.num_ctx, raw))
        return final

    async def drive(
        self, until_s: float, every_s: float, make_parts: Callable[[int], list[Part]]
    ) -> list[int]:
        """Sample the monitor every second (as its thread would) and send a request every
        ``every_s`` seconds until ``until_s``; returns the num_ctx of each request."""
        sizes: list[int] = []
        next_request = self.clock()
        n = 0
        while self.clock() < until_s:
            self.monitor.sample()
            if self.clock() >= next_request:
                await self.ask(make_parts(n))
                sizes.append(self.sent[-1][1])
                n += 1
                next_request += every_s
            self.clock.advance(1.0)
        return sizes


def build_rig(
    timeline: Sequence[tuple[float, int | None]],
    *,
    model: ModelInfo = E2B,
    total: int = 4 * GIB,
    settings: Settings | None = None,
    extra_resident: int = 0,
    report_loaded: bool = True,
    calibration: CalibrationStore | None = None,
) -> Rig:
    """``extra_resident``: bytes the server really needs beyond weights + KV (compute
    buffers), which the policy only covers through its margin."""
    clock = FakeClock()
    settings = settings or Settings()
    settings.backend.model = model.name
    assert model.kv is not None
    server = SimulatedServer(
        answers=lambda request: "looks fine",
        models=[model],
        weights=model.size_bytes + extra_resident,
        kv=model.kv,
        kv_type=settings.context.kv_cache_type,
        report_loaded=report_loaded,
    )
    source = ScriptedSource(timeline, clock, total=total, resident=server.resident)
    server.gpu = source
    monitor = GpuMonitor(source, interval_s=1.0, clock=clock)
    session = ModelSession(server, settings, monitor=monitor, calibration=calibration, clock=clock)
    return Rig(clock, source, server, session, monitor)
