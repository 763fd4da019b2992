"""Background sampling of GPU memory, and the choice of where readings come from.

:class:`GpuMonitor` wraps one :class:`MemorySource` (NVML, system RAM, a server's
``/api/ps``, or a scripted fake in tests). Started, it samples on a daemon thread every
``interval_s`` and hands each reading to its listeners (the context policy watches headroom
that way); not started, :meth:`GpuMonitor.latest` reads on demand, which is what tests on a
fake clock use. Sources never raise, so neither does the monitor: a GPU that vanishes turns
into a reading with ``source="none"`` and a note.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from urllib.parse import urlsplit

from gemmacode.config import Settings
from gemmacode.gpu.fallback import LoadedFetch, OllamaPsSource, SystemRamSource
from gemmacode.gpu.nvml import NvmlSource
from gemmacode.gpu.reading import (
    GpuReading,
    MemoryReading,
    MemorySource,
    ProcessMemory,
    SourceName,
    unavailable,
)

__all__ = [
    "GpuMonitor",
    "GpuReading",
    "MemoryReading",
    "MemorySource",
    "NoSource",
    "NvmlSource",
    "OllamaPsSource",
    "ProcessMemory",
    "SystemRamSource",
    "choose_source",
    "is_remote_host",
    "monitor_for",
]

Listener = Callable[[MemoryReading], None]


class NoSource:
    """Nothing to measure (an OpenAI-compatible server manages its own memory)."""

    name: SourceName = "none"

    def __init__(self, note: str) -> None:
        self.note = note

    def read(self) -> MemoryReading:
        return unavailable(self.note)

    def close(self) -> None:
        return None


def is_remote_host(host: str) -> bool:
    """True when ``host`` (a URL or host:port) is not this machine."""
    if not host:
        return False
    url = host if "://" in host else f"http://{host}"
    name = (urlsplit(url).hostname or "").strip("[]").lower()
    if name in ("", "localhost", "0.0.0.0"):
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:
        return True  # a host name other than localhost


def choose_source(
    settings: Settings, *, host: str = "", fetch_loaded: LoadedFetch | None = None
) -> MemorySource:
    """Pick where readings come from for this configuration, saying why in the note.

    Ollama on another machine: its ``/api/ps`` (when ``fetch_loaded`` is given). Otherwise
    local NVML, falling back to system RAM when there is no NVIDIA GPU or driver.
    """
    kind = settings.backend.kind
    if kind == "openai":
        return NoSource("an OpenAI-compatible server sizes its own context")
    if kind == "ollama" and is_remote_host(host):
        if fetch_loaded is not None:
            return OllamaPsSource(fetch_loaded, host=host)
        return NoSource(f"model server {host} is remote: its GPU is not visible here")
    if kind == "embedded":
        return SystemRamSource("the embedded engine runs on the CPU")
    nvml = NvmlSource(settings.gpu.device)
    if nvml.available:
        return nvml
    return SystemRamSource(f"{nvml.error}; using system RAM figures")


class GpuMonitor:
    """Samples ``source`` in the background; ``latest()`` always returns a reading."""

    def __init__(
        self,
        source: MemorySource,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.source = source
        self.interval_s = interval_s
        self.clock = clock
        self._latest: MemoryReading | None = None
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def sample(self) -> MemoryReading:
        """Read the source now, store the reading and tell the listeners."""
        try:
            reading = self.source.read()
        except Exception as exc:  # a misbehaving source must not stop the sampling
            reading = unavailable(f"memory reading failed: {exc}")
        reading = dataclasses.replace(reading, at=self.clock())
        with self._lock:
            self._latest = reading
            self.samples += 1
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(reading)
            except Exception:  # a listener's bug must not kill the sampler thread
                pass
        return reading

    def latest(self) -> MemoryReading:
        """The newest background reading; read on demand when not sampling in the background."""
        if not self.running:
            return self.sample()
        with self._lock:
            got = self._latest
        return got if got is not None else self.sample()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gemmacode-gpu", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval_s):
                return

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the sampling thread and wait for it; the source stays open."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)

    def close(self) -> None:
        self.stop()
        self.source.close()

    def __enter__(self) -> GpuMonitor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def monitor_for(settings: Settings, *, fetch_loaded: LoadedFetch | None = None) -> GpuMonitor:
    """The monitor for this configuration (not started: readings are taken on demand).

    Start it (``with monitor_for(s) as m:``) in long-lived programs such as the TUI so the
    policy sees headroom between requests; close it when done.
    """
    host = settings.backend.host or os.environ.get("OLLAMA_HOST", "")
    source = choose_source(settings, host=host, fetch_loaded=fetch_loaded)
    return GpuMonitor(source, interval_s=settings.gpu.poll_interval_s)
