"""Plain-HTTP requests on the standard library's asyncio streams, for a local Ollama server.

``import httpx`` (with anyio, httpcore, h11, ``email`` and ``ssl``) costs ~0.1 s of CPU, a
fifth of what ``review --staged`` and the commit hook spend before their request leaves. An
``http://`` Ollama server (the usual local one) needs none of what httpx adds over a socket:
no TLS, no redirects (a plain-HTTP client never follows one, see
:meth:`gemmacode.backends.ollama.OllamaBackend._get_client`), no compression, no cookies. So
:class:`LiteHTTP` speaks HTTP/1.1 itself: one connection per request (``Connection: close``),
bodies by ``Content-Length``, chunked transfer or end of stream, timeouts as httpx applies
them (connecting, and every wait for the server to send or accept data).

It is used only where it gives exactly what httpx would (:func:`usable`): an ``http://`` URL
and no proxy variable in the environment (httpx honours ``HTTP_PROXY`` and friends; then
httpx is used). Failures raise the :class:`WireError` family, which mirrors the httpx
exceptions :func:`gemmacode.backends.ollama.translate` distinguishes.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from typing import Any

__all__ = [
    "LiteHTTP",
    "LiteResponse",
    "WireConnectError",
    "WireConnectTimeout",
    "WireError",
    "WireProtocolError",
    "WireReadTimeout",
    "usable",
]

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
MAX_HEAD_BYTES = 65536
READ_SIZE = 65536


class WireError(Exception):
    """The connection failed or broke (httpx's ``TransportError``)."""


class WireConnectError(WireError):
    """No connection could be made: refused, unknown host, unreachable (``ConnectError``)."""


class WireConnectTimeout(WireError):
    """Connecting took longer than the connect timeout (``ConnectTimeout``)."""


class WireReadTimeout(WireError):
    """The server sent (or accepted) nothing within the timeout (``ReadTimeout``)."""


class WireProtocolError(WireError):
    """The answer was not HTTP, or the server closed the connection in the middle of it
    (``RemoteProtocolError``)."""


def usable(base_url: str, env: Mapping[str, str]) -> bool:
    """Whether :class:`LiteHTTP` talks to ``base_url`` exactly as httpx would: plain HTTP and
    no proxy configured in the environment."""
    if not base_url.startswith("http://"):
        return False
    return not any(env.get(name) for name in PROXY_VARIABLES)


class LiteResponse:
    """One answer: the status, the headers (lower-case names), and the body, read whole
    (:meth:`aread`) or line by line (:meth:`aiter_lines`)."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        timeout_s: float | None,
    ) -> None:
        self.status_code = status
        self.headers = headers
        self._reader = reader
        self._timeout_s = timeout_s
        self._content: bytes | None = None
        if status < 200 or status in (204, 304):
            self._content = b""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return (self._content or b"").decode("utf-8", "replace")

    async def _read(self, what: str, n: int = -1) -> bytes:
        try:
            async with asyncio.timeout(self._timeout_s):
                if what == "line":
                    return await self._reader.readline()
                if what == "exactly":
                    return await self._reader.readexactly(n)
                return await self._reader.read(n)
        except TimeoutError:
            raise WireReadTimeout("the server sent nothing within the timeout") from None
        except asyncio.IncompleteReadError:
            raise WireProtocolError(
                "peer closed connection without sending complete message body"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise WireProtocolError(f"the connection broke: {exc}") from None

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives (de-chunked)."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            while True:
                line = await self._read("line")
                if not line.endswith(b"\n"):
                    raise WireProtocolError("the chunked body ended early")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise WireProtocolError("a malformed chunk size") from None
                if size == 0:
                    return  # trailers are not read: the connection closes next
                data = await self._read("exactly", size)
                await self._read("exactly", 2)  # the chunk's CRLF
                yield data
        length = self.headers.get("content-length")
        if length is not None:
            try:
                left = int(length)
            except ValueError:
                raise WireProtocolError("a malformed Content-Length") from None
            while left > 0:
                data = await self._read("any", min(left, READ_SIZE))
                if not data:
                    raise WireProtocolError(
                        "peer closed connection without sending complete message body"
                    )
                left -= len(data)
                yield data
            return
        while data := await self._read("any", READ_SIZE):  # until the server closes
            yield data

    async def aread(self) -> bytes:
        if self._content is None:
            self._content = b"".join([part async for part in self.aiter_bytes()])
        return self._content

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines as they arrive (UTF-8, without their line endings)."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        async for data in self.aiter_bytes():
            pending += decoder.decode(data)
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line.removesuffix("\r")
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending.removesuffix("\r")


class LiteHTTP:
    """Requests to one ``http://`` server; ``headers`` go with every request. ``timeout_s``
    bounds every wait on the server, ``connect_timeout_s`` the connection (None: no limit).
    ``follow_redirects`` is always False: a redirect is an answer like any other."""

    follow_redirects = False

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout_s: float | None = None,
        connect_timeout_s: float | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a plain-HTTP URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self.netloc = netloc if self.port == 80 else f"{netloc}:{self.port}"
        self.headers = dict(headers)
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                return await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD_BYTES)
        except TimeoutError:
            raise WireConnectTimeout(f"connecting to {self.netloc} timed out") from None
        except OSError as exc:
            raise WireConnectError(str(exc) or type(exc).__name__) from None

    def _head(self, method: str, path: str, body: bytes | None) -> bytes:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.netloc}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, body: bytes | None = None
    ) -> AsyncIterator[LiteResponse]:
        """Send one request and yield its response once the head has arrived; the
        connection is closed on leaving (at once, mid-body: the server stops sending)."""
        reader, writer = await self._connect()
        finished = False
        try:
            try:
                writer.write(self._head(method, path, body) + (body or b""))
                async with asyncio.timeout(self.timeout_s):
                    await writer.drain()
            except TimeoutError:
                raise WireReadTimeout("the server accepted nothing within the timeout") from None
            except OSError as exc:
                raise WireProtocolError(f"the connection broke: {exc}") from None
            response = await self._response(reader)
            yield response
            finished = True
        finally:
            if finished:
                writer.close()
            else:
                writer.transport.abort()  # cancelled or failed: drop it now

    async def _response(self, reader: asyncio.StreamReader) -> LiteResponse:
        while True:  # past interim answers (100 Continue) to the real one
            try:
                async with asyncio.timeout(self.timeout_s):
                    head = await reader.readuntil(b"\r\n\r\n")
            except TimeoutError:
                raise WireReadTimeout("the server sent nothing within the timeout") from None
            except asyncio.IncompleteReadError:
                raise WireProtocolError("server disconnected without sending a response") from None
            except asyncio.LimitOverrunError:
                raise WireProtocolError("the response head is too large") from None
            except OSError as exc:
                raise WireProtocolError(f"the connection broke: {exc}") from None
            status, headers = _parse_head(head)
            if not 100 <= status < 200:
                return LiteResponse(status, headers, reader, self.timeout_s)

    async def request(self, method: str, path: str, body: bytes | None = None) -> LiteResponse:
        """Send one request and read its whole answer."""
        async with self.stream(method, path, body) as response:
            await response.aread()
            return response

    async def aclose(self) -> None:
        """Nothing is kept open between requests."""


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/") or not code.isdigit():
        raise WireProtocolError(f"not an HTTP answer: {lines[0][:60]!r}")
    headers: dict[str, Any] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(code), headers
