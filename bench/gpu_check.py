"""Check the GPU memory figures on a machine with an NVIDIA GPU (about a minute).

Three readers of the same card must agree while a second process takes and frees GPU memory:
gemmacode's NVML monitor (``gemmacode/gpu/monitor.py``, sampling in the background as in the
terminal UI), ``nvidia-smi``, and the status bar's text (the monitor's reading through the
core's ``gpu_sample`` and the bar's ``memory_text``). The second process allocates with the
CUDA driver API through ctypes (``cuMemAlloc``, plain device memory), so nothing beyond the
driver is needed. Prints one PASS/FAIL line per check and exits 1 if any failed; on a machine
without an NVIDIA GPU it prints one line saying so and exits 2.

NVML's ``used`` (memory info v1) counts the driver's reserved memory, which newer
``nvidia-smi`` reports apart (``memory.reserved``); the comparison adds it back.

    python bench/gpu_check.py [--device N] [--gib N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gemmacode.gpu.monitor import GpuMonitor  # noqa: E402
from gemmacode.gpu.nvml import NvmlSource  # noqa: E402
from gemmacode.gpu.reading import MemoryReading  # noqa: E402

MIB = 1024**2
GIB = 1024**3
TOLERANCE = 64 * MIB  # two readers a moment apart on a card other programs may touch

HOLDER = r"""
import ctypes, sys
cuda = ctypes.CDLL("libcuda.so.1")
def ok(code, what):
    if code != 0:
        print(f"ERROR {what} failed with CUDA error {code}", flush=True)
        sys.exit(1)
dev, ctx, ptr = ctypes.c_int(), ctypes.c_void_p(), ctypes.c_uint64()
ok(cuda.cuInit(0), "cuInit")
ok(cuda.cuDeviceGet(ctypes.byref(dev), int(sys.argv[1])), "cuDeviceGet")
ok(cuda.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev), "cuCtxCreate")
ok(cuda.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(int(sys.argv[2]))), "cuMemAlloc")
ok(cuda.cuMemsetD8_v2(ptr, 1, ctypes.c_size_t(int(sys.argv[2]))), "cuMemset")
print("READY", flush=True)
sys.stdin.read()
"""

results: list[bool] = []


def check(ok: bool, what: str, detail: str) -> None:
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {what}: {detail}", flush=True)


def smi(device: int) -> dict[str, int] | None:
    """nvidia-smi's figures in bytes (``reserved`` 0 where the driver does not report it)."""
    if shutil.which("nvidia-smi") is None:
        return None
    fields = ["memory.total", "memory.used", "memory.free", "memory.reserved"]
    for names in (fields, fields[:3]):
        out = subprocess.run(
            [
                "nvidia-smi",
                f"--id={device}",
                f"--query-gpu={','.join(names)}",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if out.returncode == 0:
            values = [int(v.strip()) * MIB for v in out.stdout.strip().split(",")]
            got = dict(zip(["total", "used", "free", "reserved"], values, strict=False))
            got.setdefault("reserved", 0)
            return got
    return None


def compare(label: str, reading: MemoryReading, device: int) -> None:
    figures = smi(device)
    if figures is None:
        check(False, f"{label}: nvidia-smi", "not found or failed; cannot compare")
        return
    check(
        abs(reading.total - figures["total"]) <= MIB + figures["reserved"],
        f"{label}: total",
        f"NVML {reading.total / GIB:.2f} GiB, nvidia-smi {figures['total'] / GIB:.2f} GiB",
    )
    smi_used = figures["used"] + figures["reserved"]
    check(
        abs(reading.used - smi_used) <= TOLERANCE,
        f"{label}: used",
        f"NVML {reading.used / MIB:.0f} MiB, nvidia-smi {figures['used'] / MIB:.0f} MiB "
        f"+ {figures['reserved'] / MIB:.0f} MiB reserved",
    )
    check(
        abs(reading.free - figures["free"]) <= TOLERANCE,
        f"{label}: free",
        f"NVML {reading.free / MIB:.0f} MiB, nvidia-smi {figures['free'] / MIB:.0f} MiB",
    )


def status_bar(reading: MemoryReading, history: tuple[int, ...]) -> tuple[float, float, str]:
    """The bar's own words for this reading: (used GiB, total GiB, the text)."""
    from gemmacode.session.status import gpu_sample
    from gemmacode.tui.status_text import memory_text

    text = memory_text(gpu_sample(reading), history).plain
    m = re.search(r"GPU ([\d.]+)/([\d.]+) GiB", text)
    if m is None:
        raise ValueError(f"no GPU figures in the status bar text {text!r}")
    return float(m.group(1)), float(m.group(2)), text


def check_bar(label: str, reading: MemoryReading, history: tuple[int, ...]) -> None:
    try:
        used, total, text = status_bar(reading, history)
    except Exception as err:  # a missing module is a failed check, not a traceback
        check(False, f"{label}: status bar", f"{type(err).__name__}: {err}")
        return
    ok = abs(used - reading.used / GIB) <= 0.051 and abs(total - reading.total / GIB) <= 0.051
    check(ok, f"{label}: status bar", f"{text!r} for NVML {reading.used / GIB:.2f} GiB used")


def wait_for(
    monitor: GpuMonitor, after: float, test: Callable[[MemoryReading], bool], timeout: float
) -> MemoryReading:
    """The first background reading taken after ``after`` that passes ``test``."""
    deadline = time.monotonic() + timeout
    reading = monitor.latest()
    while time.monotonic() < deadline:
        reading = monitor.latest()
        if reading.at > after and test(reading):
            return reading
        time.sleep(0.05)
    return reading


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", type=int, default=0)
    parser.add_argument("--gib", type=float, default=0, help="memory to take (default: auto)")
    args = parser.parse_args()
    source = NvmlSource(args.device)
    if not source.available:
        print(f"gpu_check: nothing to check on this machine: {source.error}")
        return 2
    history: list[int] = []
    monitor = GpuMonitor(source, interval_s=0.25)
    monitor.add_listener(lambda r: history.append(r.used))
    with monitor:
        base = wait_for(monitor, 0.0, lambda r: r.source == "nvml", 5)
        gpu = base.gpus[args.device]
        print(f"gpu_check: {gpu.name}, {base.total / GIB:.1f} GiB, {base.used / GIB:.2f} used")
        compare("idle", base, args.device)
        check_bar("idle", base, tuple(history))
        take = int(args.gib * GIB) if args.gib else min(8 * GIB, base.free // 4)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(args.device), str(take)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdin is not None
        line = holder.stdout.readline().strip()
        if line != "READY":
            check(False, "second process", f"could not take GPU memory: {line or 'no answer'}")
            holder.kill()
            return 1
        t_ready = time.monotonic()
        held = wait_for(monitor, t_ready, lambda r: r.used >= base.used + take, 5)
        grew = held.used - base.used
        check(
            take <= grew <= take + 1 * GIB,
            "monitor sees the second process",
            f"took {take / GIB:.2f} GiB, used grew by {grew / GIB:.2f} GiB "
            f"({time.monotonic() - t_ready:.2f} s after it was taken)",
        )
        compare("held", held, args.device)
        check_bar("held", held, tuple(history))
        procs = {p.pid: p.used for p in held.gpus[args.device].processes}
        if procs:
            mine = procs.get(holder.pid)
            check(
                mine is not None and mine >= take,
                "per-process view",
                f"pid {holder.pid}: {mine / GIB:.2f} GiB" if mine else f"pid not in {procs}",
            )
        else:
            print("INFO per-process view: the driver lists no processes here (containers)")
        holder.stdin.close()
        holder.wait(timeout=30)
        t_gone = time.monotonic()
        freed = wait_for(monitor, t_gone, lambda r: r.used <= base.used + TOLERANCE, 10)
        check(
            abs(freed.used - base.used) <= TOLERANCE,
            "monitor sees the memory freed",
            f"used {freed.used / GIB:.2f} GiB against {base.used / GIB:.2f} before",
        )
        compare("freed", freed, args.device)
        check_bar("freed", freed, tuple(history))
    failed = results.count(False)
    print(f"gpu_check: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
