"""The Ollama backend, on the native ``/api/chat``.

Every chat sends ``num_ctx`` explicitly (the server's default depends on its version and
VRAM, and a prompt longer than it is cut silently), the sampling options, ``keep_alive``,
``think`` (Gemma 4 thinks unless told not to) and, for structured answers, the JSON schema as
``format``. The native endpoint is used because the OpenAI-compatible one cannot set
``num_ctx``. Server errors become the typed errors in :mod:`gemmacode.errors`, each one line
naming the host and the fix (see :mod:`gemmacode.backends.ollama_errors`).

Chat, ``/api/show``, ``/api/tags`` and ``/api/ps`` go through
:class:`~gemmacode.backends.ollama_wire.OllamaWire`, the same requests as the official
``ollama`` client makes but without importing it (its pydantic models cost a third of a
review's start-up budget), over asyncio's own streams for a plain ``http://`` server
(:mod:`gemmacode.backends.http_lite`: no httpx either), else over httpx; model downloads use
the official ``ollama.AsyncClient``. httpx and ``ollama`` are imported when first needed, not
at import time, so ``gemmacode --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from gemmacode.backends.base import (
    ChatRequest,
    Delta,
    Event,
    Final,
    KvArch,
    LoadedModel,
    ModelInfo,
)
from gemmacode.errors import (
    BackendError,
    ConfigError,
    ModelNotFoundError,
    OutOfMemoryError,
    RequestTimeoutError,
    ServerBusyError,
    ServerUnreachableError,
    StreamInterruptedError,
    StreamOutOfMemoryError,
    StreamTimeoutError,
)

if TYPE_CHECKING:
    import ollama

    from gemmacode.backends.ollama_wire import OllamaWire

DEFAULT_HOST = "http://127.0.0.1:11434"
_NS = 1e9


def display_host(host: str | None) -> str:
    """The URL ``host`` means, filled in the way the ``ollama`` client does (port 11434 when
    no scheme is given, else 80/443), so error messages name the server actually tried."""
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_HOST
    scheme, sep, rest = raw.partition("://")
    if sep:
        default_port = 443 if scheme == "https" else 80
    else:
        scheme, rest, default_port = "http", raw, 11434
    netloc, _, path = rest.partition("/")
    try:
        parts = urllib.parse.urlsplit(f"//{netloc}")
        port = parts.port or default_port
    except ValueError as exc:
        raise ConfigError(
            f"Ollama host {host!r} is not a valid URL ({exc})",
            "use a form like http://127.0.0.1:11434 in OLLAMA_HOST, backend.host or --host",
        ) from None
    name = parts.hostname or "127.0.0.1"
    if ":" in name:
        name = f"[{name}]"
    path = path.strip("/")
    return f"{scheme}://{name}:{port}" + (f"/{path}" if path else "")


@dataclass(frozen=True)
class PullProgress:
    """One progress record of ``/api/pull``: a status line, and bytes for a layer download."""

    status: str
    digest: str = ""
    total: int = 0
    completed: int = 0

    @property
    def fraction(self) -> float | None:
        """Share of the current layer downloaded, or None when the record has no byte counts."""
        if self.total <= 0:
            return None
        return min(1.0, self.completed / self.total)


def chat_payload(request: ChatRequest) -> dict[str, Any]:
    """The keyword arguments for ``AsyncClient.chat``: what goes on the wire for ``request``.

    ``seed`` 0 means "random" in gemmacode's settings; Ollama's value for that is -1, and it
    is sent anyway so every option is explicit.
    """
    o = request.options
    options: dict[str, Any] = {
        "num_ctx": o.num_ctx,
        "num_batch": o.num_batch,
        "num_predict": o.num_predict,
        "temperature": o.temperature,
        "top_p": o.top_p,
        "top_k": o.top_k,
        "seed": o.seed if o.seed != 0 else -1,
    }
    if o.stop:
        options["stop"] = list(o.stop)
    payload: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "options": options,
        "keep_alive": request.keep_alive,
        "think": bool(request.think),
    }
    if request.json_schema is not None:
        payload["format"] = request.json_schema
    return payload


# Substrings of the server's messages when a model cannot be loaded for lack of memory.
OOM_MARKERS = (
    "out of memory",
    "cudamalloc failed",
    "insufficient memory",
    "requires more system memory",
    "unable to allocate",
)
START_FIX = "start it with `ollama serve` or set OLLAMA_HOST / backend.host"


def translate(
    exc: BaseException,
    *,
    host: str,
    model: str,
    what: str = "chat",
    num_ctx: int | None = None,
    partial: str = "",
    timeout_s: float | None = None,
) -> BackendError | None:
    """The typed, one-line error for an exception from a client; None if unknown.

    Both clients (:class:`~gemmacode.backends.ollama_wire.OllamaWire` and the official
    ``ollama`` one) raise a ``ResponseError`` with the HTTP status (-1 for an
    ``{"error": ...}`` line inside a started stream); the official one raises the builtin
    ``ConnectionError`` when a plain call cannot connect, and both let raw ``httpx`` errors
    through (refused connection, timeouts, drops); the plain-HTTP transport raises their
    counterparts from :mod:`gemmacode.backends.http_lite`.
    """
    from gemmacode.backends import http_lite as lite
    from gemmacode.backends.ollama_wire import ResponseError

    official = sys.modules.get("ollama")  # never imported just to classify an error
    if isinstance(exc, ResponseError) or (
        official is not None and isinstance(exc, official.ResponseError)
    ):
        return _from_response(
            exc, host=host, model=model, what=what, num_ctx=num_ctx, partial=partial
        )
    httpx = sys.modules.get("httpx")  # an httpx error means httpx is loaded already
    if isinstance(exc, lite.WireConnectTimeout) or (
        httpx is not None and isinstance(exc, httpx.ConnectTimeout)
    ):
        return ServerUnreachableError(
            f"no answer from an Ollama server at {host} within {timeout_s or 0:g} s", START_FIX
        )
    if isinstance(exc, lite.WireConnectError | ConnectionError) or (
        httpx is not None and isinstance(exc, httpx.ConnectError)
    ):
        return ServerUnreachableError(f"cannot reach an Ollama server at {host}", START_FIX)
    if isinstance(exc, lite.WireReadTimeout) or (
        httpx is not None and isinstance(exc, httpx.TimeoutException)
    ):
        wait = f"{timeout_s:g} s" if timeout_s else "too long"
        message = f"{host} sent nothing for {wait} during {what}" + (
            f" of '{model}'" if model else ""
        )
        fix = "raise backend.timeout_s, or use a smaller model or --num-ctx"
        if partial:
            return StreamTimeoutError(message, fix + "; the text so far is kept", partial=partial)
        return RequestTimeoutError(message, fix)
    if isinstance(exc, lite.WireError) or (
        httpx is not None and isinstance(exc, httpx.TransportError)
    ):
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        if partial:
            return StreamInterruptedError(
                f"the connection to {host} broke during the answer ({detail})",
                "the text so far is kept; check the server, then retry",
                partial=partial,
            )
        return ServerUnreachableError(
            f"the connection to {host} broke before an answer ({detail})",
            "check the server and the network, then retry",
        )
    if isinstance(exc, ValueError):
        if str(getattr(exc, "title", "")).endswith("Request"):  # rejected by the client itself
            errors = exc.errors() if callable(getattr(exc, "errors", None)) else []  # type: ignore[attr-defined]
            detail = "; ".join(
                f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in errors[:2]
            )
            return BackendError(
                f"invalid request for model '{model}' ({detail or exc})",
                "set a model name with --model or backend.model",
            )
        # a JSON or pydantic error while reading the answer: not Ollama's wire format
        return BackendError(
            f"{host} did not answer like an Ollama server ({type(exc).__name__})",
            "check that OLLAMA_HOST / backend.host points at Ollama, not another service",
        )
    return None


def _from_response(
    exc: Any, *, host: str, model: str, what: str, num_ctx: int | None, partial: str
) -> BackendError:
    msg = str(exc.error).strip()
    low = msg.lower()
    code = int(exc.status_code)
    oom = any(m in low for m in OOM_MARKERS)
    smaller = f"--num-ctx {max(2048, num_ctx // 2)}" if num_ctx else "a smaller --num-ctx"
    oom_fix = f"retry with {smaller} or a smaller model (see `gemmacode models recommend`)"
    if code == -1 and what == "pull":
        return BackendError(
            f"pulling '{model}' through {host} failed: {msg}",
            "check the name (https://ollama.com/library) and the server's network access",
        )
    if code == -1:
        if oom:
            return StreamOutOfMemoryError(
                f"{host} ran out of memory during the answer: {msg}", oom_fix, partial=partial
            )
        return StreamInterruptedError(
            f"{host} stopped the answer with an error: {msg}",
            "the text so far is kept and marked incomplete; retry the request",
            partial=partial,
        )
    if code == 404:
        if "not found" in low and ("model" in low or (model and model in msg)):
            return ModelNotFoundError(
                f"model '{model}' is not installed on {host}",
                f"run `ollama pull {model}` or `gemmacode models pull {model}`",
            )
        return BackendError(
            f"{host} answered 404 to {what}: {msg}",
            "check that OLLAMA_HOST / backend.host points at an Ollama server",
        )
    if oom:
        at = f" at num_ctx {num_ctx}" if num_ctx else ""
        return OutOfMemoryError(f"{host} ran out of memory loading '{model}'{at}: {msg}", oom_fix)
    if code == 503:
        return ServerBusyError(
            f"{host} is busy, its request queue is full: {msg}",
            "wait for running requests to finish, or raise OLLAMA_MAX_QUEUE on the server",
        )
    if code == 400:
        return BackendError(
            f"{host} rejected the request: {msg}",
            "check the model name and the options in force (`gemmacode config`)",
        )
    return BackendError(
        f"{host} failed ({what}, HTTP {code}): {msg}",
        "see the server log (the `ollama serve` terminal or `journalctl -u ollama`)",
    )


def _int(value: Any) -> int | None:
    """A count or duration from the wire; None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _final_from(chunk: dict[str, Any], num_ctx: int) -> Final:
    def secs(key: str) -> float:
        return (_int(chunk.get(key)) or 0) / _NS

    return Final(
        done_reason=str(chunk.get("done_reason") or "stop"),
        prompt_tokens=_int(chunk.get("prompt_eval_count")),
        completion_tokens=_int(chunk.get("eval_count")),
        load_s=secs("load_duration"),
        prompt_s=secs("prompt_eval_duration"),
        eval_s=secs("eval_duration"),
        total_s=secs("total_duration"),
        num_ctx=num_ctx,
    )


def _details(entry: dict[str, Any]) -> dict[str, Any]:
    details = entry.get("details")
    return details if isinstance(details, dict) else {}


def _models(listing: dict[str, Any]) -> list[dict[str, Any]]:
    models = listing.get("models")
    return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []


class OllamaBackend:
    """A :class:`~gemmacode.backends.base.Backend` for an Ollama server, local or remote.

    ``host`` wins over ``OLLAMA_HOST``, which wins over ``http://127.0.0.1:11434``.
    ``timeout_s`` bounds each wait on the server (connecting, and the gap between two
    streamed chunks), not the whole answer; None waits forever like the ``ollama`` client.
    """

    name = "ollama"

    def __init__(self, host: str | None = None, *, timeout_s: float | None = None) -> None:
        self.host_setting = host or os.environ.get("OLLAMA_HOST") or None
        self.host = display_host(self.host_setting)
        self.timeout_s = timeout_s
        self._client: OllamaWire | None = None
        self._official: ollama.AsyncClient | None = None

    def _client_options(self) -> dict[str, Any]:
        """httpx settings for either httpx client (the wire's, when it cannot be plain HTTP,
        and the official one for pulls).

        For a plain ``http://`` server (the usual local Ollama) no TLS is involved, so the
        client gets no verifying TLS context: building one loads the CA bundle, ~30 ms of
        every review's start-up. Redirects are then not followed either, so a connection
        can never end up on an unverified TLS server (Ollama itself never redirects).
        ``https://`` servers keep full verification and the client's redirect handling.
        """
        from gemmacode.backends.clientlib import import_httpx

        httpx = import_httpx()
        options: dict[str, Any] = {"timeout": None}
        if self.timeout_s is not None:
            options["timeout"] = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 30.0))
        if self.host.startswith("http://"):
            options.update(verify=False, follow_redirects=False)
        return options

    def _get_client(self) -> OllamaWire:
        """The client for chat, show, tags and ps, made on first use: on asyncio's own
        streams for a plain ``http://`` server without a proxy (no httpx to import), else on
        httpx with :meth:`_client_options`."""
        if self._client is None:
            from gemmacode.backends.http_lite import usable
            from gemmacode.backends.ollama_wire import OllamaWire

            if usable(self.host, os.environ):
                self._client = OllamaWire.lite(
                    self.host,
                    timeout_s=self.timeout_s,
                    connect_timeout_s=None if self.timeout_s is None else min(self.timeout_s, 30.0),
                )
            else:
                self._client = OllamaWire(self.host, **self._client_options())
        return self._client

    def _get_official(self) -> ollama.AsyncClient:
        """The official ``ollama.AsyncClient`` (for pulls), made on first use."""
        if self._official is None:
            from gemmacode.backends.clientlib import import_ollama

            ollama = import_ollama()  # first: it leaves out httpx's command-line client
            self._official = ollama.AsyncClient(host=self.host, **self._client_options())
        return self._official

    async def chat(self, request: ChatRequest) -> AsyncIterator[Event]:
        """Stream the answer; closing this iterator or cancelling its task closes the stream."""
        if not request.model.strip():
            raise BackendError(
                "invalid request: the model name is empty",
                "set a model name with --model or backend.model",
            )
        client = self._get_client()
        num_ctx = request.options.num_ctx
        received: list[str] = []
        final: Final | None = None
        try:
            stream = cast(AsyncGenerator[dict[str, Any], None], client.chat(chat_payload(request)))
            try:
                async for chunk in stream:
                    message = chunk.get("message")
                    text = message.get("content") if isinstance(message, dict) else None
                    if isinstance(text, str) and text:
                        received.append(text)
                        yield Delta(text)
                    if chunk.get("done"):
                        final = _final_from(chunk, num_ctx)
            finally:
                await stream.aclose()
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            err = translate(
                exc,
                host=self.host,
                model=request.model,
                num_ctx=num_ctx,
                partial="".join(received),
                timeout_s=self.timeout_s,
            )
            if err is None:
                raise
            raise err from exc
        if final is None:
            raise StreamInterruptedError(
                f"the answer from {self.host} ended without its final record",
                "the text so far is kept; retry the request",
                partial="".join(received),
            )
        yield final

    async def _call(self, what: str, model: str, coro: Any) -> Any:
        try:
            return await coro
        except Exception as exc:
            err = translate(exc, host=self.host, model=model, timeout_s=self.timeout_s, what=what)
            if err is None:
                raise
            raise err from exc

    async def list_models(self) -> list[ModelInfo]:
        """Installed models (``/api/tags``) with their size on disk."""
        listing = await self._call("list models", "", self._get_client().tags())
        out: list[ModelInfo] = []
        for m in _models(listing):
            d = _details(m)
            out.append(
                ModelInfo(
                    name=str(m.get("model") or ""),
                    family=str(d.get("family") or ""),
                    parameter_size=str(d.get("parameter_size") or ""),
                    quantization=str(d.get("quantization_level") or ""),
                    size_bytes=_int(m.get("size")) or 0,
                    digest=str(m.get("digest") or ""),
                )
            )
        return out

    async def describe(self, model: str) -> ModelInfo:
        """Family, size, quantisation, maximum context and KV shape (``/api/show``).

        The size on disk comes from ``/api/tags``, which ``/api/show`` does not report.
        """
        client = self._get_client()
        show, tags = await asyncio.gather(
            self._call("describe", model, client.show(model)),
            self._call("list models", model, client.tags()),
        )
        raw_info = show.get("model_info")
        info: dict[str, Any] = dict(raw_info) if isinstance(raw_info, dict) else {}
        arch = info.get("general.architecture")
        ctx = info.get(f"{arch}.context_length") if isinstance(arch, str) else None
        details = _details(show)
        size = next((_int(m.get("size")) or 0 for m in _models(tags) if m.get("model") == model), 0)
        return ModelInfo(
            name=model,
            family=str(details.get("family") or ""),
            parameter_size=str(details.get("parameter_size") or ""),
            quantization=str(details.get("quantization_level") or ""),
            context_length=int(ctx) if isinstance(ctx, int) else 0,
            size_bytes=size,
            kv=_kv_arch(info),
            raw=info,
        )

    async def ps(self) -> list[LoadedModel]:
        """What the server holds in memory now (``/api/ps``); ``spilled`` flags CPU offload."""
        listing = await self._call("list loaded models", "", self._get_client().ps())
        return [
            LoadedModel(
                name=str(m.get("model") or m.get("name") or ""),
                size_bytes=_int(m.get("size")) or 0,
                vram_bytes=_int(m.get("size_vram")) or 0,
                context_length=_int(m.get("context_length")) or 0,
                expires_at=str(m.get("expires_at") or ""),
            )
            for m in _models(listing)
        ]

    async def loaded(self) -> list[LoadedModel]:
        return await self.ps()

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Ask the server to download ``model``, yielding its progress records."""
        try:
            stream = cast(
                AsyncGenerator[Any, None], await self._get_official().pull(model, stream=True)
            )
            try:
                async for p in stream:
                    yield PullProgress(
                        status=p.status or "",
                        digest=p.digest or "",
                        total=int(p.total or 0),
                        completed=int(p.completed or 0),
                    )
            finally:
                await stream.aclose()
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            err = translate(exc, host=self.host, model=model, timeout_s=self.timeout_s, what="pull")
            if err is None:
                raise
            raise err from exc

    def count_tokens(self, model: str, text: str) -> int | None:
        """Ollama has no tokenize endpoint: the caller estimates and calibrates instead."""
        return None

    async def aclose(self) -> None:
        client, self._client = self._client, None
        official, self._official = self._official, None
        try:
            if client is not None:
                await client.aclose()
        finally:
            if official is not None:
                await official.close()  # type: ignore[no-untyped-call]  # untyped in ollama 0.6


def _kv_arch(model_info: dict[str, Any]) -> KvArch | None:
    from gemmacode.backends.gguf import kv_arch_from_gguf

    return kv_arch_from_gguf(model_info)
