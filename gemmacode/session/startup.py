"""Start-up tuning, in one place: what makes a short command (``review --staged``, the commit
hook) reach the model server fast, and nothing else.

Four tricks, each measured by ``bench/bench_review_overhead.py`` or ``bench/bench_hook.py``:

- **the tokenizer in a helper process** (:mod:`gemmacode.tokens.helper`): tiktoken's tables
  take ~0.1 s to build while holding Python's interpreter lock, so they are built on another
  core while this process reads the diff; counting goes through the helper until it stops;
- **background loads**: the HTTP client (httpx with anyio, unless a plain-HTTP Ollama server
  needs only asyncio's streams, :mod:`gemmacode.backends.http_lite`) is imported in a thread,
  and the GPU monitor (NVML's set-up runs in C, without that lock) is made in another, while
  the command waits on git;
- **a paused garbage collector**: start-up allocates a few hundred thousand long-lived
  objects and no cycles worth finding; the collector would walk them again and again
  (~30 ms before the first request). :func:`prewarm` with ``pause_gc=True`` pauses it, the
  request path calls :func:`gc_ready` once the first request is packed (everything alive
  then is frozen out of the collector's reach), and :meth:`Prewarm.close` restores it;
- **the diff read early** (:meth:`Prewarm.begin_diff`, :mod:`gemmacode.session.early`): a
  caller that knows which diff it will review (the commit hook) has it resolved and its
  related-code ``git grep`` started before the core is imported, so the search runs while
  the core loads instead of being waited for.

The entry point is :func:`prewarm`, and it is the only one: every command that wants a
fast start (``review``, ``ask``, ``map``) calls it first thing and :meth:`Prewarm.close` at
the end; its :class:`Prewarm` is handed to :func:`gemmacode.session.core.open_session`,
which takes the GPU monitor from it. The helper process is spawned here and nowhere else
(:mod:`gemmacode.tokens.helper` only speaks its protocol). A long-lived front end (the
terminal UI) and a long-running command (``eval``) need none of this: they open the session
without one. The UI has a collector policy of its own instead, here too
(:func:`defer_full_collections` while an answer streams, :func:`settle_memory` after),
measured by ``bench/bench_tui.py``.

Not start-up tuning, so not here: the indexer pauses the collector around its bulk
allocation (:func:`gemmacode.index.workers.gc_paused`, in worker processes and the UI's
background refresh as much as in a command), and the GPU monitor samples on its own thread
in a live session. ``tests/session/test_startup.py`` holds the rest of the package to this.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # nothing heavier than the standard library before the helper starts
    from gemmacode.config import Settings
    from gemmacode.gpu.monitor import GpuMonitor
    from gemmacode.session.early import EarlyDiff
    from gemmacode.tokens.helper import TokenizerHelper

__all__ = ["Prewarm", "gc_ready", "prewarm"]


class Prewarm:
    """What :func:`prewarm` is loading in the background, and the GPU monitor it makes.

    The monitor belongs to whoever calls :meth:`take_monitor`; :meth:`close` closes it when
    nobody did (a review that found nothing to send), so NVML is always shut down.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None  # making the monitor
        self._loader: threading.Thread | None = None  # importing the client, the tokenizer
        self._monitor: GpuMonitor | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._helper: TokenizerHelper | None = None  # counting tokens: gemmacode/tokens/helper.py
        self._gc_paused = False
        self.diff: EarlyDiff | None = None  # a diff review begun early: session/early.py

    def begin_diff(
        self,
        kind: str,
        target: str,
        *,
        root: Path,
        settings: Settings,
        index_file: Path | None = None,
    ) -> None:
        """Resolve the diff a review of ``kind``/``target`` will read and start its
        related-code search now, before the core is imported (:mod:`gemmacode.session.early`);
        the review of the same spec takes them. ``root``: the git work tree."""
        from gemmacode.session.early import begin_diff

        if self.diff is not None:
            self.diff.close()
        self.diff = begin_diff(
            kind, target, root=root, index_settings=settings.index, index_file=index_file
        )

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
        """Close a monitor made in the background that nobody took, stop the tokenizer
        helper (counting goes back in-process), wait for the loading thread and give the
        garbage collector back as it was."""
        _stop_helper(self._helper)
        self._helper = None
        if self.diff is not None:
            self.diff.close()
        if self._thread is not None and not self._taken:
            self._thread.join()
            self._taken = True
            if self._monitor is not None:
                self._monitor.close()
        if self._loader is not None:
            self._loader.join()
            self._loader = None
        if self._gc_paused:
            self._gc_paused = False
            _end_gc_pause()


# --- the tokenizer helper process ----------------------------------------------------------


def _spawn_helper() -> TokenizerHelper | None:
    """Start ``python -m gemmacode.tokens.helper`` with pipes; None when no process can be
    started here (an embedded interpreter has no program to start, or the OS refuses)."""
    if not sys.executable:
        return None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gemmacode.tokens.helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    from gemmacode.tokens.helper import TokenizerHelper  # imported while the process starts

    return TokenizerHelper(proc)


def _start_helper() -> TokenizerHelper | None:
    """Count tokens through a new helper process from now on, unless this process has the
    tables already, counts through a helper an earlier :func:`prewarm` started (the commit
    hook starts one as soon as it knows a review is coming, before the core is imported;
    that one's :meth:`Prewarm.close` stops it), or no helper can start. Stopped by
    :func:`_stop_helper`."""
    # Spawned before the encoding module is even imported (~10 ms) when nothing has imported
    # it yet, so nothing can have loaded its tables or registered a helper.
    imported = sys.modules.get("gemmacode.tokens.encoding")
    if imported is not None and (imported.loaded() or imported.counting_through_helper()):
        return None
    helper = _spawn_helper()
    if helper is not None:
        from gemmacode.tokens import encoding

        encoding.use_helper(helper)
    return helper


def _stop_helper(helper: TokenizerHelper | None) -> None:
    """Stop a helper from :func:`_start_helper`; counting goes back in-process."""
    if helper is None:
        return
    from gemmacode.tokens import encoding

    encoding.use_helper(None)
    helper.close()


# --- the garbage collector ------------------------------------------------------------------

_gc_was_enabled = False  # the collector was on (and nothing frozen) when the pause began


def _begin_gc_pause() -> bool:
    """Pause the collector; False (nothing done) when it is off already or a caller froze
    objects itself (its collector settings are left untouched)."""
    global _gc_was_enabled
    _gc_was_enabled = gc.isenabled() and gc.get_freeze_count() == 0
    if _gc_was_enabled:
        gc.disable()
    return _gc_was_enabled


def gc_ready() -> None:
    """The first request is packed: turn the collector back on (if :func:`prewarm` paused
    it) for what the request allocates from now on; everything alive now is start-up state,
    moved to the permanent generation so the next collection does not walk it all at once.
    Harmless when nothing is paused."""
    if _gc_was_enabled and not gc.isenabled():
        gc.freeze()
        gc.enable()


def _end_gc_pause() -> None:
    """Collector on again and the frozen start-up state back in its reach (in-process
    callers, tests among them, get their collector back as it was)."""
    global _gc_was_enabled
    gc_ready()
    if _gc_was_enabled:
        gc.unfreeze()
    _gc_was_enabled = False


# --- a long-lived front end's collector ------------------------------------------------------

_FULL_EVERY = gc.get_threshold()[2]  # the collector's own rhythm for full passes


def defer_full_collections() -> None:
    """An answer starts streaming in the terminal UI: no full collection until it ends (young
    objects are still collected as usual). A full pass walks every object the process holds,
    a list that grows with the answer on screen: 20-50 ms a minute into a long answer, often
    enough to stall a keypress. :func:`settle_memory` makes up for it once the answer is
    done."""
    gc.set_threshold(*gc.get_threshold()[:2], 1_000_000)


def settle_memory() -> None:
    """Nothing streams: collect now and move what survives (Textual, the core, the answers on
    screen) out of the collector's reach, so the next full pass walks only what came after.
    Frozen objects are still freed when nothing refers to them; only a cycle among them would
    stay."""
    gc.set_threshold(*gc.get_threshold()[:2], _FULL_EVERY)
    gc.collect()
    gc.freeze()


# --- the entry point ------------------------------------------------------------------------


def _needs_httpx(settings: Settings) -> bool:
    """Whether the backend's requests go through httpx: the OpenAI-compatible one always,
    Ollama unless its server is plain HTTP without a proxy (then asyncio's own streams carry
    them, see :mod:`gemmacode.backends.http_lite`)."""
    kind = settings.backend.kind
    if kind == "openai":
        return True
    if kind != "ollama":
        return False
    import os

    from gemmacode.backends.http_lite import usable
    from gemmacode.backends.ollama import display_host

    try:
        host = display_host(settings.backend.host or os.environ.get("OLLAMA_HOST"))
    except Exception:  # a bad host is reported by the request itself
        return False
    return not usable(host, os.environ)


def prewarm(settings: Settings | None, *, client: bool = True, pause_gc: bool = False) -> Prewarm:
    """Start the tokenizer helper process and load the backend's client library in a
    background thread; with ``pause_gc`` also pause the garbage collector until
    :func:`gc_ready`. Call :meth:`Prewarm.close` when the command is done.

    ``settings=None``: the helper alone, first thing, before even the settings are read (the
    commit hook, whose review counts as soon as it has read the change); a later prewarm
    with settings then counts through that helper and leaves stopping it to this one.

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
    lock, so it costs the review nothing. Take it with :meth:`Prewarm.take_monitor`.
    """
    warm = Prewarm()
    if pause_gc:
        warm._gc_paused = _begin_gc_pause()
    warm._helper = _start_helper()
    if settings is None:
        return warm
    s = settings

    def tokenizer() -> None:
        if warm._helper is not None:
            return  # the helper loads the tables
        from gemmacode.tokens.encoding import raw_count

        raw_count("warm")

    def load() -> None:
        try:
            # With a pinned size the client is first needed for the request itself, after
            # the packing that needs the tokenizer: load that first. Unpinned, the model's
            # description (the client) comes before any packing.
            pinned = bool(s.context.num_ctx)
            if pinned:
                tokenizer()
            if client and _needs_httpx(s):
                from gemmacode.backends.clientlib import import_httpx, prime_async_io

                import_httpx()
                prime_async_io()
            elif client and s.backend.kind == "ollama":
                import gemmacode.backends.ollama_wire  # noqa: F401  # the plain-HTTP client
            if not pinned:
                tokenizer()
        except Exception:  # the real import later reports any problem
            return

    if client and not s.context.num_ctx:
        warm._start_monitor(s)
    warm._loader = threading.Thread(target=load, name="gemmacode-prewarm")
    warm._loader.start()
    return warm
