"""One memory reading, whatever it came from, and the interface every source implements.

A reading always exists: when nothing can be measured its ``source`` is ``"none"`` and
``note`` says why in words a user understands. Sources never raise; a failure becomes such
a degraded reading, so a GPU that vanishes mid-session never takes the program down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from gemmacode.backends.base import LoadedModel

SourceName = Literal["nvml", "ollama-ps", "system-ram", "none"]


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    used: int  # bytes of GPU memory; 0 where the driver does not say


@dataclass(frozen=True)
class GpuReading:
    """One GPU as NVML sees it."""

    index: int
    name: str
    total: int
    free: int
    used: int
    utilization: int | None = None  # percent busy, None where not supported
    processes: tuple[ProcessMemory, ...] = ()


@dataclass(frozen=True)
class MemoryReading:
    """Memory available to the model server, in bytes.

    ``total``/``free``/``used`` describe the device the server uses (the configured GPU, or
    system RAM). For ``"ollama-ps"`` only what the server reports about its loaded models is
    known (``loaded``); ``total`` and ``free`` are 0 there and :attr:`knows_free` is False.
    """

    source: SourceName
    total: int = 0
    free: int = 0
    used: int = 0
    gpus: tuple[GpuReading, ...] = ()
    note: str = ""
    loaded: tuple[LoadedModel, ...] = ()
    at: float = 0.0  # the monitor's clock when taken

    @property
    def knows_free(self) -> bool:
        """True when ``free`` is a measurement of GPU memory the policy can size against."""
        return self.source == "nvml"

    @property
    def is_gpu(self) -> bool:
        return self.source in ("nvml", "ollama-ps")

    def summary(self) -> str:
        """One line for status bars and ``--verbose`` output."""
        gib = 1024**3
        if self.source == "nvml":
            text = f"GPU {self.free / gib:.1f} of {self.total / gib:.1f} GiB free"
        elif self.source == "system-ram":
            text = f"no GPU reading; RAM {self.free / gib:.1f} of {self.total / gib:.1f} GiB free"
        elif self.source == "ollama-ps":
            vram = sum(m.vram_bytes for m in self.loaded)
            text = f"server GPU: {len(self.loaded)} model(s), {vram / gib:.1f} GiB in VRAM"
        else:
            text = "no memory reading"
        return f"{text} ({self.note})" if self.note else text


class MemorySource(Protocol):
    """Something that can be read for memory figures. ``read`` must never raise."""

    name: SourceName

    def read(self) -> MemoryReading: ...

    def close(self) -> None: ...


def unavailable(note: str) -> MemoryReading:
    return MemoryReading(source="none", note=note)
