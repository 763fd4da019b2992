"""``gemmacode models``: installed Ollama models and whether each fits the GPU, ``models pull
NAME`` with a progress bar, and ``models recommend`` for the GPU actually present.

The list comes from the core session (:meth:`gemmacode.session.core.CoreSession.model_listing`),
the same code path as the terminal UI's /model picker: fit is judged from a memory reading
(local NVML; a remote server's GPU is invisible here) as weights plus the KV cache for a
useful context plus the configured margin, against the free memory now (plus what the model
itself already holds when loaded).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import IO, Any

from gemmacode.backends.base import LoadedModel
from gemmacode.commands.common import add_model_flags, add_root_flag, settings_for
from gemmacode.config import Settings
from gemmacode.errors import UsageError
from gemmacode.gpu.reading import MemoryReading
from gemmacode.session.api import ModelChoice
from gemmacode.session.models import read_memory

HELP = "list installed Ollama models, pull one, or get a recommendation for this GPU"
GB = 1_000_000_000
GIB = 1024**3
MIB = 1024**2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "pull", "recommend"],
        help="list (default), pull NAME, or recommend",
    )
    p.add_argument("name", nargs="?", default=None, help="the model to pull, e.g. gemma4:e4b")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--vram",
        type=float,
        default=None,
        metavar="GIB",
        help="recommend for a GPU with this much memory (e.g. a remote server's)",
    )
    p.add_argument("--edge", action="store_true", help="recommend for an edge or IoT device")
    add_root_flag(p)
    add_model_flags(p)


def run(args: argparse.Namespace) -> int:
    from gemmacode.backends.ollama import OllamaBackend

    if args.action == "pull" and not args.name:
        raise UsageError(
            "`models pull` needs a model name", "e.g. gemmacode models pull gemma4:e4b"
        )
    if args.action != "pull" and args.name:
        raise UsageError(f"`models {args.action}` takes no model name", "drop the extra argument")
    root, settings = settings_for(args)
    settings.backend.kind = "ollama"  # whatever the configured backend: these are Ollama's
    if args.action == "list":
        return asyncio.run(_list(root, settings, args.json))
    backend = OllamaBackend(settings.backend.host or None, timeout_s=settings.backend.timeout_s)

    async def go() -> int:
        try:
            if args.action == "pull":
                return await _pull(backend, args.name, sys.stdout, sys.stderr)
            return await _recommend(backend, settings, args)
        finally:
            await backend.aclose()

    return asyncio.run(go())


# --- list --------------------------------------------------------------------------------


async def _list(root: Path, settings: Settings, as_json: bool) -> int:
    from gemmacode.session.core import open_session

    async with open_session(settings, root=root) as core:
        listing = await core.model_listing()
    host, reading, choices = listing.host, listing.memory, listing.choices
    if as_json:
        print(json.dumps(_list_json(host, reading, choices), indent=2))
        return 0
    print(f"Ollama at {host}; {reading.summary()}")
    if not choices:
        print("no models installed; try: gemmacode models recommend")
        return 0
    table = [("NAME", "SIZE", "PARAMS", "QUANT", "LOADED", "FITS THE GPU")]
    for c in choices:
        info = c.info
        table.append(
            (
                info.name,
                f"{info.size_bytes / GB:.1f} GB",
                info.parameter_size or "-",
                info.quantization or "-",
                _loaded_text(c.loaded),
                c.note,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _loaded_text(lm: LoadedModel | None) -> str:
    if lm is None:
        return "-"
    share = 100 * lm.vram_bytes // lm.size_bytes if lm.size_bytes else 0
    where = f"{share}% GPU" if lm.spilled else "100% GPU"
    return f"{lm.context_length // 1024}K ctx, {where}"


def _list_json(host: str, reading: MemoryReading, choices: list[ModelChoice]) -> dict[str, Any]:
    return {
        "host": host,
        "memory": {
            "source": reading.source,
            "total": reading.total,
            "free": reading.free,
            "note": reading.note,
        },
        "models": [
            {
                "name": c.info.name,
                "size_bytes": c.info.size_bytes,
                "family": c.info.family,
                "parameter_size": c.info.parameter_size,
                "quantization": c.info.quantization,
                "context_length": c.info.context_length,
                "loaded": None
                if c.loaded is None
                else {
                    "size_bytes": c.loaded.size_bytes,
                    "vram_bytes": c.loaded.vram_bytes,
                    "context_length": c.loaded.context_length,
                    "spilled": c.loaded.spilled,
                    "expires_at": c.loaded.expires_at,
                },
                "fits": c.fits_now,
                "max_ctx": c.max_ctx_now,
            }
            for c in choices
        ],
    }


# --- pull --------------------------------------------------------------------------------


async def _pull(backend: Any, name: str, out: IO[str], err: IO[str]) -> int:
    """Stream the pull: a redrawn bar on a terminal, one line per new status when piped."""
    tty = err.isatty()
    last_status = ""
    bar_open = False
    async for p in backend.pull(name):
        if tty and p.fraction is not None:
            width = 30
            done = int(p.fraction * width)
            err.write(
                f"\r{p.status}: [{'#' * done}{'.' * (width - done)}] {p.fraction:4.0%} "
                f"{p.completed / GB:.2f}/{p.total / GB:.2f} GB"
            )
            err.flush()
            bar_open = True
            last_status = p.status
            continue
        if p.status != last_status:
            if bar_open:
                err.write("\n")
                bar_open = False
            print(p.status, file=out, flush=True)
            last_status = p.status
    if bar_open:
        err.write("\n")
    print(f"pulled {name}; use it with: gemmacode review --model {name}", file=out)
    return 0


# --- recommend ---------------------------------------------------------------------------


async def _recommend(backend: Any, settings: Settings, args: argparse.Namespace) -> int:
    from gemmacode.context.recommend import recommend
    from gemmacode.errors import ServerUnreachableError

    if args.vram is not None:
        if args.vram <= 0:
            raise UsageError(
                f"--vram {args.vram:g} is not a memory size", "give GiB, e.g. --vram 8"
            )
        given = int(args.vram * GIB)
        reading = MemoryReading("nvml", total=given, free=given, note="from --vram")
    else:
        reading = read_memory(settings, backend.host)
    if reading.source == "none" and not args.edge:
        raise UsageError(
            f"cannot see the GPU of the model server ({reading.note})",
            "give its memory, e.g. gemmacode models recommend --vram 12",
        )
    rec = recommend(
        reading.total if reading.source == "nvml" else None,
        edge=args.edge,
        kv_type=settings.context.kv_cache_type,
        margin=settings.context.vram_margin_mib * MIB,
    )
    try:
        installed: bool | None = rec.model in {m.name for m in await backend.list_models()}
    except ServerUnreachableError:
        installed = None
    if args.json:
        payload = dataclasses.asdict(rec)
        payload.update(
            gpu={"source": reading.source, "total": reading.total, "free": reading.free},
            installed=installed,
        )
        print(json.dumps(payload, indent=2))
        return 0
    gpu = reading.gpus[0].name if reading.gpus else ""
    print(f"memory: {reading.summary()}" + (f" [{gpu}]" if gpu else ""))
    print(f"recommended: {rec.model}: {rec.reason}")
    if rec.alternative:
        print(f"alternative: {rec.alternative}: {rec.alternative_reason}")
    for note in rec.notes:
        print(f"note: {note}")
    if installed is None:
        print(f"the Ollama server at {backend.host} is not running; start it, then pull")
    elif installed:
        print(f"{rec.model} is installed")
    else:
        print(f"install it with: gemmacode models pull {rec.model}")
    return 0
