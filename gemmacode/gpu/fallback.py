"""Readings for machines NVML cannot see: system RAM, and a (remote) Ollama server's ``/api/ps``.

- :class:`SystemRamSource` reads ``/proc/meminfo`` (``MemAvailable``), else ``os.sysconf``:
  the memory a CPU-only server or the embedded engine draws from.
- :class:`OllamaPsSource` asks the model server what it has loaded (``size``, ``size_vram``,
  ``context_length``): a remote host's GPU is invisible to local NVML, but the server still
  says when layers spilled to its CPU. It cannot say how much is free.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from gemmacode.backends.base import LoadedModel
from gemmacode.gpu.reading import MemoryReading, SourceName, unavailable

MEMINFO = Path("/proc/meminfo")


def _meminfo(path: Path) -> tuple[int, int] | None:
    """(total, available) bytes from a meminfo file, None when unreadable."""
    try:
        text = path.read_text("ascii", "replace")
    except OSError:
        return None
    fields: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            scale = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
            fields[key.strip()] = int(parts[0]) * scale
    total = fields.get("MemTotal")
    avail = fields.get("MemAvailable", fields.get("MemFree"))
    if total is None or avail is None:
        return None
    return total, avail


def _sysconf() -> tuple[int, int] | None:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        total = os.sysconf("SC_PHYS_PAGES") * page
        avail = os.sysconf("SC_AVPHYS_PAGES") * page
    except (ValueError, OSError, AttributeError):
        return None
    return (total, avail) if total > 0 else None


class SystemRamSource:
    """System memory, for CPU-only machines; ``note`` says why no GPU figure is used."""

    name: SourceName = "system-ram"

    def __init__(self, note: str = "", *, meminfo: Path = MEMINFO) -> None:
        self.note = note
        self.meminfo = meminfo

    def read(self) -> MemoryReading:
        got = _meminfo(self.meminfo) or _sysconf()
        if got is None:
            return unavailable(self.note or "system memory cannot be read")
        total, avail = got
        return MemoryReading(
            source="system-ram", total=total, free=avail, used=total - avail, note=self.note
        )

    def close(self) -> None:
        return None


LoadedFetch = Callable[[], Sequence[LoadedModel] | Awaitable[Sequence[LoadedModel]]]


class OllamaPsSource:
    """The server's own view of its loaded models; used for remote hosts.

    ``fetch`` returns the loaded models, directly or as an awaitable. An awaitable is run
    on a private event loop in the calling (sampling) thread, so ``fetch`` must own its
    client rather than borrow one bound to another loop.
    """

    name: SourceName = "ollama-ps"

    def __init__(self, fetch: LoadedFetch, *, host: str = "") -> None:
        self.fetch = fetch
        self.host = host

    def read(self) -> MemoryReading:
        where = f" on {self.host}" if self.host else ""
        try:
            got = self.fetch()
            if inspect.isawaitable(got):
                got = asyncio.run(_await(got))
            models = tuple(got)
        except Exception as exc:  # a server gone away degrades the reading, nothing more
            return unavailable(f"model server{where} did not report loaded models ({exc})")
        spilled = [m.name for m in models if m.spilled]
        note = f"GPU of the model server{where}; local NVML cannot see it"
        if spilled:
            note += f"; spilled to CPU: {', '.join(spilled)}"
        vram = sum(m.vram_bytes for m in models)
        return MemoryReading(source="ollama-ps", used=vram, loaded=models, note=note)

    def close(self) -> None:
        return None


async def _await(aw: Awaitable[Sequence[LoadedModel]]) -> Sequence[LoadedModel]:
    return await aw
