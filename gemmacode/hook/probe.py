"""Is the model server there, and is the model in memory? Asked before anything heavy loads.

The hook's connect budget (``hook.connect_timeout_s``) covers this: one TCP connection to
the configured host, and on Ollama one ``GET /api/ps`` over it (HTTP/1.0, read to the end),
which says whether the model is loaded and at which context size. With the standard library
only (``socket``, ``json``): when no server answers, the hook fails open without having
imported asyncio, httpx or the core (the backend's own host parsing lives in a module that
imports asyncio, 40 ms of the 150 ms a server-down commit may cost, so the few lines that
fill in a bare ``host:port`` the way it does are repeated here).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from gemmacode.config import Settings

OLLAMA_DEFAULT = "http://127.0.0.1:11434"


@dataclass(frozen=True)
class Probe:
    """What the server said. ``loaded`` maps each loaded model to its context size; None
    when it could not be asked (another backend, TLS)."""

    host: str
    reachable: bool
    error: str = ""
    loaded: dict[str, int] | None = field(default=None)
    seconds: float = 0.0

    def is_loaded(self, model: str) -> bool | None:
        if self.loaded is None:
            return None
        return model in self.loaded or f"{model}:latest" in self.loaded


def server_url(settings: Settings, env: Mapping[str, str]) -> str | None:
    """The URL the configured backend talks to (None for the embedded engine), filled in
    like the Ollama client does: no scheme means ``http://`` and port 11434."""
    b = settings.backend
    if b.kind == "embedded":
        return None
    if b.kind == "openai":
        return b.openai_base_url
    raw = (b.host or env.get("OLLAMA_HOST") or "").strip()
    if not raw:
        return OLLAMA_DEFAULT
    if "://" in raw:
        return raw
    bare = urllib.parse.urlsplit("//" + raw.split("/", 1)[0])
    return f"http://{bare.hostname or '127.0.0.1'}:{bare.port or 11434}"


def _address(url: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "127.0.0.1", port, parts.scheme


def _get(sock: socket.socket, host: str, path: str, deadline: float) -> bytes:
    sock.sendall(
        f"GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode()
    )
    chunks: list[bytes] = []
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _loaded(response: bytes) -> dict[str, int] | None:
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, list):
        return None
    out: dict[str, int] = {}
    for m in models:
        if isinstance(m, dict) and isinstance(m.get("name") or m.get("model"), str):
            out[str(m.get("name") or m.get("model"))] = int(m.get("context_length") or 0)
    return out


def probe(settings: Settings, env: Mapping[str, str], timeout_s: float) -> Probe | None:
    """Connect to the configured server within ``timeout_s``; on Ollama (plain HTTP) also ask
    what it has loaded. None for the embedded engine (nothing to connect to)."""
    try:
        url = server_url(settings, env)
        if url is None:
            return None
        host, port, scheme = _address(url)
    except ValueError as exc:
        bad = settings.backend.host or env.get("OLLAMA_HOST", "")
        return Probe(bad, False, f"the host {bad!r} is not a valid URL ({exc})")
    start = time.monotonic()
    deadline = start + timeout_s
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        return Probe(url, False, why, seconds=time.monotonic() - start)
    with sock:
        loaded = None
        if settings.backend.kind == "ollama" and scheme == "http":
            try:
                loaded = _loaded(_get(sock, f"{host}:{port}", "/api/ps", deadline))
            except OSError:
                loaded = None
    return Probe(url, True, loaded=loaded, seconds=time.monotonic() - start)
