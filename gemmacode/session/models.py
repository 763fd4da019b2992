"""The server's models, and whether each fits the GPU now: one code path for
``gemmacode models`` and a front end's model picker (both through
:meth:`gemmacode.session.core.CoreSession.model_listing`).

Fit is judged from a memory reading (local NVML; a remote server's GPU is invisible here) as
weights plus the KV cache for a useful context plus the configured margin, against the free
memory now (plus what the model itself already holds when loaded).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from gemmacode.backends.base import Backend, LoadedModel, ModelInfo
from gemmacode.config import Settings
from gemmacode.context.kvcache import kv_cache_bytes
from gemmacode.context.recommend import MIN_USEFUL_CTX, largest_ctx
from gemmacode.errors import GemmacodeError
from gemmacode.gpu.monitor import GpuMonitor, choose_source
from gemmacode.gpu.reading import MemoryReading
from gemmacode.session.api import ModelChoice

GB = 1_000_000_000
GIB = 1024**3
MIB = 1024**2


def read_memory(settings: Settings, host: str) -> MemoryReading:
    """One reading from where the context policy would read (NVML, else RAM; remote: none)."""
    ollama = dataclasses.replace(
        settings, backend=dataclasses.replace(settings.backend, kind="ollama")
    )
    source = choose_source(ollama, host=host)
    try:
        return source.read()
    finally:
        source.close()


def fit(
    info: ModelInfo, loaded: LoadedModel | None, reading: MemoryReading, settings: Settings
) -> dict[str, Any]:
    """Whether ``info`` fits the free GPU memory, and the largest context that does:
    ``{"fits": bool | None, "max_ctx": int | None, "text": one line}``."""
    if reading.source != "nvml":
        why = "remote GPU, not visible here" if reading.source != "system-ram" else "no GPU"
        return {"fits": None, "max_ctx": None, "text": why}
    ctx = settings.context.num_ctx or MIN_USEFUL_CTX
    available = reading.free + (loaded.vram_bytes if loaded else 0)
    margin = settings.context.vram_margin_mib * MIB
    kv_type = settings.context.kv_cache_type
    if info.kv is None:
        fits = info.size_bytes + margin <= available
        return {
            "fits": fits,
            "max_ctx": None,
            "text": "weights fit, KV size unknown" if fits else "no",
        }
    need = info.size_bytes + kv_cache_bytes(info.kv, ctx, kv_type=kv_type) + margin
    if need > available:
        return {
            "fits": False,
            "max_ctx": 0,
            "text": f"no: needs {need / GB:.1f} GB at {ctx // 1024}K, "
            f"{available / GIB:.1f} GiB free",
        }
    top = largest_ctx(
        info.size_bytes, info.kv, available, max_ctx=info.context_length or 262144,
        kv_type=kv_type, margin=margin,
    )  # fmt: skip
    return {"fits": True, "max_ctx": top, "text": f"yes, up to {top // 1024}K context"}


async def describe_all(backend: Backend, models: list[ModelInfo]) -> list[ModelInfo]:
    """Each model's full description (architecture, context length), asked in parallel;
    one the server lists but cannot describe keeps its listing. The listing's digest is
    kept (Ollama's ``/api/show`` does not repeat it)."""

    async def one(m: ModelInfo) -> ModelInfo:
        try:
            described = await backend.describe(m.name)
            return dataclasses.replace(described, digest=described.digest or m.digest)
        except GemmacodeError:
            return m  # listed but not describable: fit judged from weights alone

    return list(await asyncio.gather(*(one(m) for m in models)))


@dataclass(frozen=True)
class ModelListing:
    """The server's models as :func:`model_listing` judged them: the server's address, the
    memory reading every fit was judged against, and each model."""

    host: str
    memory: MemoryReading
    choices: list[ModelChoice]


async def model_listing(
    backend: Backend, settings: Settings, monitor: GpuMonitor | None, host: str
) -> ModelListing:
    """The server's models with what they hold now and whether they fit the GPU now
    (the monitor's reading when there is one, else one taken here for ``host``)."""
    models = await backend.list_models()
    loaded = {m.name: m for m in await backend.loaded()}
    infos = await describe_all(backend, models)
    reading = monitor.latest() if monitor is not None else read_memory(settings, host)
    out = []
    for info in infos:
        lm = loaded.get(info.name)
        f = fit(info, lm, reading, settings)
        out.append(ModelChoice(info, lm, f["fits"], f["max_ctx"], f["text"]))
    return ModelListing(host, reading, out)
