"""Importing the HTTP client libraries (``httpx``, ``ollama``) without their dead weight.

``import httpx`` also imports ``httpx._main``, httpx's own command-line client, whenever
its optional dependencies (click, rich, pygments) happen to be installed, and rich always is
where the Textual TUI is: ~70 ms of every ``review --staged`` went to a terminal UI that no
gemmacode code path uses. httpx guards that import with ``except ImportError`` (it then
defines a stub ``main``), and a ``None`` entry in ``sys.modules`` makes exactly that one
import raise ImportError. The entry is removed once httpx is loaded, so an explicit
``import httpx._main`` later in the process still works as usual.

Both functions are safe to call from several threads at once (the start-up prewarm thread
and the request path): the second caller waits for the first one's import to finish.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

_CLI_MODULE = "httpx._main"
_lock = threading.Lock()


def import_httpx() -> ModuleType:
    """``httpx``, imported without its command-line client when this is the first import."""
    with _lock:
        blocked = "httpx" not in sys.modules and _CLI_MODULE not in sys.modules
        if blocked:
            sys.modules[_CLI_MODULE] = None  # type: ignore[assignment]  # documented "not found"
        try:
            import httpx
        finally:
            if blocked and sys.modules.get(_CLI_MODULE, ...) is None:
                del sys.modules[_CLI_MODULE]
    return httpx


def import_ollama() -> ModuleType:
    """The official ``ollama`` client package (and httpx, as :func:`import_httpx` loads it);
    only model downloads use it, so its start-up cost no longer matters."""
    import_httpx()
    import ollama

    return ollama


def prime_async_io() -> None:
    """Load what the async client only loads on its first request: anyio's asyncio backend,
    its socket, lock and TLS stream modules (anyio imports them lazily), and the IDNA codec
    httpx uses for the host name. That is ~20 ms (on this project's 2-core VM) which
    :func:`gemmacode.session.startup.prewarm` spends in its thread while the review waits on
    git, instead of between the packed prompt and the request leaving.

    Only public anyio names are touched; a tiny ``anyio.run`` on a private event loop in the
    calling thread (closed again) is what makes anyio load its asyncio backend.
    """
    import anyio
    import anyio.lowlevel
    import anyio.streams.tls

    anyio.run(anyio.sleep, 0)
    for name in ("connect_tcp", "Lock", "Semaphore", "Event"):
        getattr(anyio, name)  # each resolves a lazily imported anyio module
    "localhost".encode("idna")
