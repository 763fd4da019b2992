"""NVIDIA GPU memory through NVML (``nvidia-ml-py``, imported as ``pynvml``).

Without a driver ``nvmlInit`` raises ``NVMLError_LibraryNotFound`` or
``NVMLError_DriverNotLoaded``: the normal case on laptops without NVIDIA and in CI. That is
reported as a plain note ("no NVIDIA GPU/driver ...") and :meth:`NvmlSource.available` is
False, so the caller can fall back. Any NVML error later (a GPU that fell off the bus, a
driver reload) degrades the reading to ``source="none"`` and is retried on the next read.
"""

from __future__ import annotations

import threading
from typing import Any

from gemmacode.gpu.reading import (
    GpuReading,
    MemoryReading,
    ProcessMemory,
    SourceName,
    unavailable,
)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:160]


def _no_gpu_note(exc: BaseException) -> str:
    return f"no NVIDIA GPU/driver ({_describe(exc)})"


class NvmlSource:
    """Per-GPU total/used/free bytes, utilisation and per-process use where the driver allows.

    ``device`` is the NVML index of the GPU the model server uses; the reading's top-level
    figures are that GPU's, ``gpus`` lists them all.
    """

    name: SourceName = "nvml"

    def __init__(self, device: int = 0, *, nvml: Any = None) -> None:
        self.device = device
        self._nvml = nvml
        self._lock = threading.Lock()
        self._initialised = False
        self.error = ""  # why NVML is not usable, "" when it is
        self._init()

    def _init(self) -> None:
        try:
            if self._nvml is None:
                import pynvml

                self._nvml = pynvml
            self._nvml.nvmlInit()
        except ImportError as exc:
            self.error = f"no NVIDIA GPU support installed ({_describe(exc)})"
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            self.error = _no_gpu_note(exc)
        else:
            self._initialised = True
            self.error = ""

    @property
    def available(self) -> bool:
        """Whether NVML started; a later failure still yields degraded readings, not False."""
        return self._initialised

    def read(self) -> MemoryReading:
        with self._lock:
            if not self._initialised:
                return unavailable(self.error)
            try:
                return self._read()
            except Exception as exc:  # a vanished GPU must never raise into the program
                return unavailable(f"GPU reading failed: {_describe(exc)}")

    def _read(self) -> MemoryReading:
        nv = self._nvml
        count = int(nv.nvmlDeviceGetCount())
        if count == 0:
            return unavailable("NVIDIA driver loaded but no GPU found")
        gpus = tuple(self._gpu(i) for i in range(count))
        if not 0 <= self.device < count:
            return MemoryReading(
                source="none",
                gpus=gpus,
                note=f"gpu.device {self.device} does not exist ({count} GPU(s))",
            )
        mine = gpus[self.device]
        return MemoryReading(
            source="nvml", total=mine.total, free=mine.free, used=mine.used, gpus=gpus
        )

    def _gpu(self, index: int) -> GpuReading:
        nv = self._nvml
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        mem = nv.nvmlDeviceGetMemoryInfo(handle)
        name = nv.nvmlDeviceGetName(handle)
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        try:
            utilization: int | None = int(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # NotSupported on some boards and in containers
            utilization = None
        try:
            procs = tuple(
                ProcessMemory(int(p.pid), int(p.usedGpuMemory or 0))
                for p in nv.nvmlDeviceGetComputeRunningProcesses(handle)
            )
        except Exception:  # NoPermission, NotSupported: the process view is optional
            procs = ()
        return GpuReading(
            index=index,
            name=str(name),
            total=int(mem.total),
            free=int(mem.free),
            used=int(mem.used),
            utilization=utilization,
            processes=procs,
        )

    def close(self) -> None:
        with self._lock:
            if self._initialised:
                self._initialised = False
                try:
                    self._nvml.nvmlShutdown()
                except Exception:
                    pass
