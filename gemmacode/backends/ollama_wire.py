"""Ollama's REST API on httpx, for the calls a review makes: ``/api/chat`` (streamed),
``/api/show``, ``/api/tags`` and ``/api/ps``.

Two transports carry the same requests: httpx, and for a plain ``http://`` server without a
proxy (the usual local Ollama) :class:`~gemmacode.backends.http_lite.LiteHTTP` on asyncio's
own streams (:meth:`OllamaWire.lite`), which spares a review the ~0.1 s of importing httpx.

Why not the official ``ollama`` package for these: importing it builds some fifty pydantic
models and a module-level client, 0.15-0.25 s on this project's 2-core VM before a request
can leave, over a third of the 0.5 s that ``review --staged`` (and so the pre-commit hook) may
take to send (bench/bench_review_overhead.py). The package is kept for model downloads
(``/api/pull``), where a fraction of a second does not matter.

Everything on the wire is what the official client (0.6.x) sends and reads, and
tests/backends/test_backend_ollama_wire.py checks both against each other on the same server: the
same headers (``User-Agent`` aside; ``Authorization`` from ``OLLAMA_API_KEY``), the same JSON
bodies, NDJSON streams read line by line, and :class:`ResponseError` with the same ``error``
and ``status_code`` (``-1`` for an ``{"error": ...}`` line inside a started stream), so
:func:`gemmacode.backends.ollama.translate` handles the errors of either client alike.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from gemmacode import __version__
from gemmacode.backends.http_lite import LiteHTTP

if TYPE_CHECKING:
    import httpx


class ResponseError(Exception):
    """An error answer from the server; the shape of ``ollama.ResponseError``.

    ``error`` is the ``error`` field of a JSON body (else the body itself), ``status_code``
    the HTTP status, or -1 for an error line inside a stream that had started.
    """

    def __init__(self, error: str, status_code: int = -1) -> None:
        try:
            parsed = json.loads(error)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "error" in parsed:
            error = str(parsed["error"])
        super().__init__(error)
        self.error = error
        self.status_code = status_code

    def __str__(self) -> str:
        return f"{self.error} (status code: {self.status_code})"


def headers() -> dict[str, str]:
    """The headers the official client sends (with gemmacode's own ``User-Agent``)."""
    out = {
        "content-type": "application/json",
        "accept": "application/json",
        "user-agent": (
            f"gemmacode/{__version__} ({platform.machine()} {platform.system().lower()}) "
            f"Python/{platform.python_version()}"
        ),
    }
    api_key = os.environ.get("OLLAMA_API_KEY")
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    return out


class OllamaWire:
    """An async client for one Ollama server (``base_url`` as :func:`display_host` gives it).

    Keyword arguments go to ``httpx.AsyncClient`` (``timeout``, ``verify``,
    ``follow_redirects``); the default is the official client's: no timeout, redirects
    followed.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        from gemmacode.backends.clientlib import import_httpx

        lib = import_httpx()
        options: dict[str, Any] = {"follow_redirects": True, "timeout": None, **kwargs}
        self.http: httpx.AsyncClient | LiteHTTP = lib.AsyncClient(
            base_url=base_url, headers=headers(), **options
        )

    @classmethod
    def lite(
        cls,
        base_url: str,
        *,
        timeout_s: float | None = None,
        connect_timeout_s: float | None = None,
    ) -> OllamaWire:
        """The same client on :class:`~gemmacode.backends.http_lite.LiteHTTP` (an
        ``http://`` URL only): ``timeout_s`` bounds every wait on the server,
        ``connect_timeout_s`` the connection; redirects are never followed."""
        wire = cls.__new__(cls)
        wire.http = LiteHTTP(
            base_url, headers(), timeout_s=timeout_s, connect_timeout_s=connect_timeout_s
        )
        return wire

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        http = self.http
        if isinstance(http, LiteHTTP):
            lite = await http.request(method, path, _encode(body))
            if not lite.is_success:
                raise ResponseError(lite.text, lite.status_code)
            return json.loads(await lite.aread())
        import httpx

        response = await http.request(method, path, json=body)
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise ResponseError(exc.response.text, exc.response.status_code) from None
        return response.json()

    async def chat(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream ``/api/chat``: one dict per NDJSON line, the last one with ``done``.

        ``payload`` holds the keyword arguments of the official ``AsyncClient.chat``
        (:func:`gemmacode.backends.ollama.chat_payload`); the body gets the same keys.
        """
        body: dict[str, Any] = {"model": payload["model"], "stream": True}
        body["options"] = payload.get("options")
        if payload.get("format") is not None:
            body["format"] = payload["format"]
        body["keep_alive"] = payload.get("keep_alive")
        body["messages"] = payload.get("messages", [])
        body["tools"] = []
        body["think"] = payload.get("think")
        body = {k: v for k, v in body.items() if v is not None}
        http = self.http
        if isinstance(http, LiteHTTP):
            async with http.stream("POST", "/api/chat", _encode(body)) as lite:
                if not lite.is_success:
                    await lite.aread()
                    raise ResponseError(lite.text, lite.status_code)
                async for line in lite.aiter_lines():
                    if part := _stream_part(line):
                        yield part
            return
        import httpx

        async with http.stream("POST", "/api/chat", json=body) as response:
            try:
                response.raise_for_status()
            except httpx.HTTPStatusError as exc:
                await exc.response.aread()
                raise ResponseError(exc.response.text, exc.response.status_code) from None
            async for line in response.aiter_lines():
                if part := _stream_part(line):
                    yield part

    async def show(self, model: str) -> dict[str, Any]:
        """``/api/show``: ``details``, ``model_info`` and the rest, as the server sends them."""
        return _object(await self._json("POST", "/api/show", {"model": model}))

    async def tags(self) -> dict[str, Any]:
        """``/api/tags``: the installed models."""
        return _object(await self._json("GET", "/api/tags"))

    async def ps(self) -> dict[str, Any]:
        """``/api/ps``: the models in memory now."""
        return _object(await self._json("GET", "/api/ps"))

    async def aclose(self) -> None:
        await self.http.aclose()


def _encode(body: dict[str, Any] | None) -> bytes | None:
    """A JSON body as httpx encodes ``json=``: compact, UTF-8, no NaN."""
    if body is None:
        return None
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _stream_part(line: str) -> dict[str, Any] | None:
    """One NDJSON line of a chat stream; None for a blank line; an ``error`` line raises."""
    if not line.strip():
        return None
    part = json.loads(line)
    if not isinstance(part, dict):
        raise ValueError(f"a stream line is not a JSON object: {line[:80]!r}")
    if err := part.get("error"):
        raise ResponseError(str(err))
    return part


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value
