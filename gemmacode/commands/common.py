"""Helpers shared by command modules: finding the project root, flags, settings."""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemmacode.config import Settings, load_settings

if TYPE_CHECKING:
    from gemmacode.gpu.monitor import GpuMonitor
    from gemmacode.tokens.helper import TokenizerHelper


def find_root(start: Path | None = None) -> Path:
    """The git work-tree root above ``start``, or ``start`` itself outside git."""
    start = (start or Path.cwd()).resolve()
    try:
        out = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return start
    if out.returncode == 0 and out.stdout.strip():
        return Path(out.stdout.strip()).resolve()
    return start


def add_root_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="project folder (default: the git root above the current folder)",
    )


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """Flags every model-facing command takes; they override the configuration."""
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, help="model name (default from config: gemma4:e4b)")
    g.add_argument(
        "--backend",
        choices=["ollama", "embedded", "openai"],
        default=None,
        help="model backend (default from config: ollama)",
    )
    g.add_argument("--host", default=None, help="Ollama URL or OpenAI-compatible base URL")
    g.add_argument(
        "--num-ctx",
        type=int,
        default=None,
        help="pin the context size instead of choosing it from free GPU memory",
    )


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    backend = getattr(args, "backend", None)
    host = getattr(args, "host", None)
    out: dict[str, Any] = {
        "backend.model": getattr(args, "model", None),
        "backend.kind": backend,
        "context.num_ctx": getattr(args, "num_ctx", None),
    }
    if host is not None:
        out["backend.openai_base_url" if backend == "openai" else "backend.host"] = host
    return out


def settings_for(
    args: argparse.Namespace, extra: dict[str, Any] | None = None
) -> tuple[Path, Settings]:
    root = args.root.resolve() if getattr(args, "root", None) else find_root()
    overrides = model_overrides(args)
    if extra:
        overrides.update(extra)
    return root, load_settings(root, os.environ, overrides)


class Prewarm:
    """What :func:`prewarm` is loading in the background, and the GPU monitor it makes.

    The monitor belongs to whoever calls :meth:`take_monitor`; :meth:`close` closes it when
    nobody did (a review that found nothing to send), so NVML is always shut down.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None  # making the monitor
        self._monitor: GpuMonitor | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._helper: TokenizerHelper | None = None  # counting tokens, see tokens_helper

    def _start_monitor(self, settings: Settings) -> None:
        def make() -> None:
            try:
                from gemmacode.gpu.monitor import monitor_for

                self._monitor = monitor_for(settings)
            except BaseException as err:  # raised in the caller's thread by take_monitor
                self._error = err

        self._thread = threading.Thread(target=make, name="gemmacode-gpu-setup")
        self._thread.start()

    def take_monitor(self, settings: Settings) -> GpuMonitor:
        """The GPU monitor for ``settings``: the one made in the background (waiting for it)
        the first time, else a new one. The caller closes it."""
        if self._thread is None or self._taken:
            from gemmacode.gpu.monitor import monitor_for

            return monitor_for(settings)
        self._thread.join()
        self._taken = True
        if self._error is not None:
            raise self._error
        assert self._monitor is not None
        return self._monitor

    def close(self) -> None:
        """Close a monitor made in the background that nobody took, and stop the tokenizer
        helper (counting goes back in-process)."""
        stop_tokenizer_helper(self._helper)
        self._helper = None
        if self._thread is not None and not self._taken:
            self._thread.join()
            self._taken = True
            if self._monitor is not None:
                self._monitor.close()


def start_tokenizer_helper() -> TokenizerHelper | None:
    """Count tokens in a helper process from now on (:mod:`gemmacode.tokens.helper`: the
    tables are built on another core while this process works), unless this process has the
    tables already or no helper can start. Stop it with :func:`stop_tokenizer_helper`."""
    from gemmacode.tokens import encoding as tokens

    if tokens.loaded():
        return None
    from gemmacode.tokens.helper import TokenizerHelper

    helper = TokenizerHelper.start()
    if helper is not None:
        tokens.use_helper(helper)
    return helper


def stop_tokenizer_helper(helper: TokenizerHelper | None) -> None:
    """Stop a helper from :func:`start_tokenizer_helper`; counting goes back in-process."""
    if helper is None:
        return
    from gemmacode.tokens import encoding as tokens

    tokens.use_helper(None)
    helper.close()


def map_cache_dir(root: Path, settings: Settings) -> Path:
    """The repository's folder for repo-map graphs, rankings and maps (shared by ``map``,
    ``ask`` and ``review``)."""
    from gemmacode.index.cache import default_cache_dir

    return default_cache_dir(root, settings.index) / "repomap"


def prewarm(settings: Settings, *, client: bool = True) -> Prewarm:
    """Start the tokenizer helper process and load the backend's client library in a
    background thread.

    A review spends its first few hundred milliseconds on git and tree-sitter work that needs
    neither; the two loads (httpx with anyio, tiktoken's BPE tables) take another ~0.2 s.
    Python holds one lock while it runs Python code, so a thread overlaps only with what
    waits outside it (git subprocesses, the model server's answers), and building the BPE
    tables holds that lock throughout: so the tables are built in a helper process on another
    core (:mod:`gemmacode.tokens.helper`), and counting goes through it; when no helper can
    run, the thread loads them here. Later imports of the same modules simply wait for the
    thread through Python's per-module import locks. ``client=False`` skips the client
    library (planning with a pinned num_ctx never talks to a server).

    When the context size is not pinned, the GPU monitor is made in a second thread too:
    NVML's set-up (``nvmlInit`` opens the driver) runs in C through ctypes without that
    lock, so it costs the review nothing. Take it with :meth:`Prewarm.take_monitor` and call
    :meth:`Prewarm.close` when done.
    """
    warm = Prewarm()
    warm._helper = start_tokenizer_helper()

    def tokenizer() -> None:
        if warm._helper is not None:
            return  # the helper loads the tables
        from gemmacode.tokens.encoding import raw_count

        raw_count("warm")

    def load() -> None:
        try:
            from gemmacode.backends.clientlib import import_httpx, prime_async_io

            # With a pinned size the client is first needed for the request itself, after
            # the packing that needs the tokenizer: load that first. Unpinned, the model's
            # description (the client) comes before any packing.
            pinned = bool(settings.context.num_ctx)
            if pinned:
                tokenizer()
            if client and settings.backend.kind in ("ollama", "openai"):
                import_httpx()  # both speak HTTP through httpx (see backends.ollama_wire)
                prime_async_io()
            if not pinned:
                tokenizer()
        except Exception:  # the real import later reports any problem
            return

    if client and not settings.context.num_ctx:
        warm._start_monitor(settings)
    threading.Thread(target=load, name="gemmacode-prewarm").start()
    return warm
