"""GPU memory monitor: the real NVML library, fallbacks, degraded readings, the sampler thread."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from gemmacode.backends.base import LoadedModel
from gemmacode.config import Settings
from gemmacode.gpu.fallback import OllamaPsSource, SystemRamSource
from gemmacode.gpu.monitor import (
    GpuMonitor,
    NoSource,
    choose_source,
    is_remote_host,
    monitor_for,
)
from gemmacode.gpu.nvml import NvmlSource
from tests.fakes.gpu import GIB, FakeClock, ScriptedSource


def _driver_error() -> BaseException | None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return exc
    pynvml.nvmlShutdown()
    return None


def test_real_nvml_reports_no_driver_and_falls_back_to_ram() -> None:
    """On machines without an NVIDIA driver (these, CI) the real library raises at init."""
    err = _driver_error()
    source = NvmlSource(0)
    try:
        reading = source.read()
        if err is None:  # a machine with a GPU: our figures are the driver's
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            assert source.available and reading.source == "nvml"
            assert reading.total == pynvml.nvmlDeviceGetMemoryInfo(handle).total
            return
        assert isinstance(err, pynvml.NVMLError_LibraryNotFound | pynvml.NVMLError_DriverNotLoaded)
        assert not source.available
        assert reading.source == "none"
        assert reading.note.startswith("no NVIDIA GPU/driver")
        fallback = choose_source(Settings())
        assert isinstance(fallback, SystemRamSource)
        ram = fallback.read()
        assert ram.source == "system-ram" and ram.total > ram.free > 0
        assert "no NVIDIA GPU/driver" in ram.note
        assert "no GPU reading" in ram.summary()
    finally:
        source.close()


class FakeNvml:
    """The pynvml calls NvmlSource makes, with the real library's error classes."""

    def __init__(self, gpus: list[dict[str, Any]]) -> None:
        self.gpus = gpus
        self.lost = False
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        return None

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        if self.lost:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        g = self.gpus[h]
        return SimpleNamespace(total=g["total"], free=g["free"], used=g["total"] - g["free"])

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return self.gpus[h]["name"].encode()

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        if "util" not in self.gpus[h]:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(gpu=self.gpus[h]["util"], memory=0)

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[Any]:
        if "procs" not in self.gpus[h]:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NO_PERMISSION)
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in self.gpus[h]["procs"]]


def two_gpus() -> FakeNvml:
    return FakeNvml(
        [
            {"name": "RTX A", "total": 4 * GIB, "free": GIB, "util": 37, "procs": [(42, GIB)]},
            {"name": "RTX B", "total": 8 * GIB, "free": 6 * GIB},
        ]
    )


def test_nvml_reads_every_gpu_and_reports_the_configured_one() -> None:
    nv = two_gpus()
    reading = NvmlSource(1, nvml=nv).read()
    assert reading.source == "nvml"
    assert (reading.total, reading.free, reading.used) == (8 * GIB, 6 * GIB, 2 * GIB)
    a, b = reading.gpus
    assert a.name == "RTX A" and a.utilization == 37 and a.processes[0].pid == 42
    assert b.utilization is None and b.processes == ()  # not supported / no permission
    assert reading.knows_free and "6.0 of 8.0 GiB free" in reading.summary()


def test_missing_device_index_says_so() -> None:
    reading = NvmlSource(5, nvml=two_gpus()).read()
    assert reading.source == "none" and "gpu.device 5 does not exist (2 GPU(s))" in reading.note


def test_gpu_lost_mid_session_degrades_then_recovers() -> None:
    nv = two_gpus()
    source = NvmlSource(0, nvml=nv)
    assert source.read().source == "nvml"
    nv.lost = True
    lost = source.read()
    assert lost.source == "none" and "GPU reading failed" in lost.note
    nv.lost = False
    assert source.read().free == GIB
    source.close()
    source.close()
    assert nv.shutdowns == 1


def test_system_ram_from_meminfo_and_sysconf(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  2048 kB\nMemFree:  100 kB\nMemAvailable:  1024 kB\n")
    reading = SystemRamSource("cpu only", meminfo=meminfo).read()
    assert (reading.total, reading.free, reading.used) == (2048 * 1024, 1024 * 1024, 1024 * 1024)
    assert reading.note == "cpu only" and not reading.knows_free
    other = SystemRamSource(meminfo=tmp_path / "missing").read()  # falls back to sysconf
    assert other.source == "system-ram" and other.total > 0


def test_ollama_ps_source_sync_async_and_failing() -> None:
    models = [LoadedModel("gemma4:e4b", 6 * GIB, 5 * GIB, 16384)]
    reading = OllamaPsSource(lambda: models, host="http://gpu-box:11434").read()
    assert reading.source == "ollama-ps" and reading.loaded == tuple(models)
    assert reading.used == 5 * GIB and not reading.knows_free
    assert "spilled to CPU: gemma4:e4b" in reading.note and "gpu-box" in reading.note

    async def fetch() -> list[LoadedModel]:
        return [LoadedModel("gemma4:e2b", GIB, GIB, 8192)]

    got = OllamaPsSource(fetch).read()
    assert got.loaded[0].name == "gemma4:e2b" and "spilled" not in got.note

    def down() -> list[LoadedModel]:
        raise ConnectionError("connection refused")

    failed = OllamaPsSource(down, host="gpu-box").read()
    assert failed.source == "none" and "connection refused" in failed.note


def test_choose_source_by_backend_and_host() -> None:
    settings = Settings()
    remote = choose_source(settings, host="http://gpu-box.example:11434", fetch_loaded=lambda: [])
    assert isinstance(remote, OllamaPsSource)
    blind = choose_source(settings, host="gpu-box:11434")
    assert isinstance(blind, NoSource) and "remote" in blind.read().note
    settings.backend.kind = "openai"
    assert choose_source(settings).read().source == "none"
    settings.backend.kind = "embedded"
    assert isinstance(choose_source(settings), SystemRamSource)


@pytest.mark.parametrize(
    ("host", "remote"),
    [
        ("", False),
        ("http://127.0.0.1:11434", False),
        ("localhost:11434", False),
        ("http://[::1]:11434", False),
        ("0.0.0.0", False),
        ("http://192.168.1.20:11434", True),
        ("https://gpu.example.com", True),
    ],
)
def test_is_remote_host(host: str, remote: bool) -> None:
    assert is_remote_host(host) is remote


def test_monitor_on_demand_follows_a_fake_clock() -> None:
    clock = FakeClock()
    source = ScriptedSource([(0, 3 * GIB), (10, GIB), (20, None)], clock)
    monitor = GpuMonitor(source, interval_s=1.0, clock=clock)
    assert monitor.latest().free == 3 * GIB
    clock.advance(12)
    reading = monitor.latest()
    assert reading.free == GIB and reading.at == 12
    clock.advance(10)
    gone = monitor.latest()
    assert gone.source == "none" and "GPU is lost" in gone.note
    monitor.close()
    assert source.closed


def test_background_thread_samples_notifies_and_stops_cleanly() -> None:
    source = ScriptedSource([(0, 2 * GIB)], FakeClock())
    seen: list[int] = []
    three = threading.Event()

    def listener(reading: Any) -> None:
        seen.append(reading.free)
        if len(seen) >= 3:
            three.set()

    def broken(reading: Any) -> None:
        raise RuntimeError("listener bug")

    monitor = GpuMonitor(source, interval_s=0.01)
    monitor.add_listener(broken)
    monitor.add_listener(listener)
    with monitor:
        assert monitor.running
        assert three.wait(5.0)
        assert monitor.latest().free == 2 * GIB
    assert not monitor.running and source.closed
    assert not any(t.name == "gemmacode-gpu" for t in threading.enumerate())
    count = len(seen)
    monitor.remove_listener(listener)
    monitor.sample()
    assert len(seen) == count


def test_a_source_that_raises_is_contained() -> None:
    class Broken:
        name = "nvml"

        def read(self) -> Any:
            raise OSError("device vanished")

        def close(self) -> None:
            return None

    reading = GpuMonitor(Broken()).latest()  # type: ignore[arg-type]
    assert reading.source == "none" and "device vanished" in reading.note
    with pytest.raises(ValueError):
        GpuMonitor(Broken(), interval_s=0)  # type: ignore[arg-type]


def test_monitor_for_uses_the_configured_interval_and_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    settings.gpu.poll_interval_s = 2.5
    monitor = monitor_for(settings)
    assert monitor.interval_s == 2.5 and not monitor.running
    assert monitor.latest().source in ("nvml", "system-ram")
    monitor.close()
    monkeypatch.setenv("OLLAMA_HOST", "http://gpu-box.example:11434")
    remote = monitor_for(settings)
    assert isinstance(remote.source, NoSource) and "gpu-box.example" in remote.latest().note
    remote.close()
