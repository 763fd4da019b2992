"""A backend for OpenAI-compatible servers: vLLM, llama.cpp's ``llama-server``, a team's
shared inference server. The way users who outgrow one machine point gemmacode at an existing
serving engine.

Streams ``/chat/completions`` as server-sent events (``data: {...}`` lines ending with
``data: [DONE]``) and asks for a final usage chunk (``stream_options.include_usage``); servers
that do not report usage give a ``Final`` without token counts. The context size cannot be set
through this API: the server's own ``--max-model-len`` / ``--ctx-size`` applies. A JSON schema
is sent in the standard ``json_schema`` form; a server that only knows llama-cpp-python's
``json_object`` + ``schema`` form gets that on a retry, remembered for later requests.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gemmacode.backends.base import ChatRequest, Delta, Event, Final, LoadedModel, ModelInfo
from gemmacode.errors import (
    AuthenticationError,
    BackendError,
    ContextOverflowError,
    GemmacodeError,
    ModelNotFoundError,
    OutOfMemoryError,
    RequestTimeoutError,
    ServerUnreachableError,
    StreamInterruptedError,
)

if TYPE_CHECKING:
    import httpx

_START_FIX = (
    "start it (vllm serve MODEL, llama-server -m FILE.gguf, "
    "or python -m llama_cpp.server --model FILE.gguf) or set backend.openai_base_url"
)


def normalise_base_url(url: str) -> str:
    """Strip a trailing slash; a bare host gets the conventional ``/v1``."""
    url = url.strip().rstrip("/")
    if urlsplit(url).path in ("", "/"):
        url += "/v1"
    return url


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def _server_message(body: bytes) -> str:
    """The error text of an error body in any of the shapes servers use."""
    try:
        data = json.loads(body)
    except ValueError:
        return _one_line(body.decode("utf-8", "replace"))
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message", data)))
        if isinstance(err, dict):
            err = err.get("message", err)
        return _one_line(str(err))
    return _one_line(str(data))


class OpenAIBackend:
    """``Backend`` over an OpenAI-compatible HTTP API (``httpx``, async).

    ``transport`` lets tests swap the network for an ``httpx.MockTransport``.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 600.0,
        api_key_env: str = "OPENAI_API_KEY",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self.api_key = api_key or None
        self.timeout_s = timeout_s
        self.api_key_env = api_key_env
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._schema_style = "json_schema"

    def _http(self) -> httpx.AsyncClient:
        from gemmacode.backends.clientlib import import_httpx

        import_httpx()  # first: it leaves out httpx's command-line client
        import httpx

        if self._client is None:
            headers = {"Accept": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0)),
                transport=self._transport,
            )
        return self._client

    def _body(self, request: ChatRequest, schema_style: str) -> dict[str, Any]:
        opts = request.options
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": opts.num_predict,
            "temperature": opts.temperature,
            "top_p": opts.top_p,
        }
        if opts.seed:
            body["seed"] = opts.seed
        if opts.stop:
            body["stop"] = list(opts.stop)
        if request.json_schema is not None:
            if schema_style == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": request.json_schema},
                }
            else:
                body["response_format"] = {"type": "json_object", "schema": request.json_schema}
        return body

    def _error(self, status: int, body: bytes, model: str) -> GemmacodeError:
        msg = _server_message(body)
        where = f"{self.base_url} (HTTP {status}: {msg})"
        low = msg.lower()
        if status in (401, 403):
            return AuthenticationError(
                f"the server at {where} rejected the API key",
                f"put a valid key in the environment variable {self.api_key_env}",
            )
        if status == 404:
            if "model" in low:
                return ModelNotFoundError(
                    f"model '{model}' is not served at {where}",
                    "set backend.model to a name that `gemmacode models` lists",
                )
            return BackendError(
                f"no chat endpoint at {where}",
                "check backend.openai_base_url (it usually ends in /v1)",
            )
        if "context length" in low or "maximum context" in low or "context window" in low:
            return ContextOverflowError(
                f"the prompt is longer than the server's context: {where}",
                "lower context.num_ctx to the server's context size",
            )
        if "out of memory" in low or "insufficient memory" in low:
            return OutOfMemoryError(
                f"the server ran out of memory: {where}", "use a smaller model or context"
            )
        return BackendError(f"the server at {where} failed the request")

    async def chat(self, request: ChatRequest) -> AsyncIterator[Event]:
        from gemmacode.backends.clientlib import import_httpx

        import_httpx()
        import httpx

        url = f"{self.base_url}/chat/completions"
        started = time.perf_counter()
        first_at: float | None = None
        parts: list[str] = []
        usage: dict[str, Any] = {}
        timings: dict[str, Any] = {}
        finish: str | None = None
        done = False
        styles = [self._schema_style]
        if request.json_schema is not None:
            styles += [s for s in ("json_schema", "json_object") if s != self._schema_style]
        try:
            for attempt, style in enumerate(styles):
                body = self._body(request, style)
                async with self._http().stream("POST", url, json=body) as resp:
                    if resp.status_code >= 400:
                        raw = await resp.aread()
                        more = attempt + 1 < len(styles)
                        if (
                            more
                            and b"response_format" in raw
                            and resp.status_code in (400, 422, 500)
                        ):
                            continue
                        raise self._error(resp.status_code, raw, request.model)
                    if request.json_schema is not None:
                        self._schema_style = style
                    async for data in _sse_data(resp):
                        if data == "[DONE]":
                            done = True
                            break
                        try:
                            chunk = json.loads(data)
                        except ValueError as exc:
                            raise StreamInterruptedError(
                                f"{url} sent a malformed event: {_one_line(data, 120)}",
                                "the answer is incomplete; retry",
                                partial="".join(parts),
                            ) from exc
                        if not isinstance(chunk, dict):
                            continue
                        if chunk.get("error") is not None:
                            raise StreamInterruptedError(
                                f"{url} failed mid-stream: "
                                f"{_server_message(json.dumps(chunk).encode())}",
                                "the answer is incomplete; retry",
                                partial="".join(parts),
                            )
                        for choice in chunk.get("choices") or []:
                            delta = choice.get("delta") or {}
                            text = delta.get("content")
                            if text:
                                if first_at is None:
                                    first_at = time.perf_counter()
                                parts.append(text)
                                yield Delta(text)
                            if choice.get("finish_reason"):
                                finish = str(choice["finish_reason"])
                        if isinstance(chunk.get("usage"), dict):
                            usage = chunk["usage"]
                        if isinstance(chunk.get("timings"), dict):
                            timings = chunk["timings"]
                break
        except httpx.ConnectError as exc:
            raise ServerUnreachableError(
                f"no OpenAI-compatible server answers at {self.base_url}", _START_FIX
            ) from exc
        except httpx.TimeoutException as exc:
            if parts:
                raise StreamInterruptedError(
                    f"{url} stopped sending for {self.timeout_s:g} s",
                    "the answer is incomplete; retry or raise backend.timeout_s",
                    partial="".join(parts),
                ) from exc
            raise RequestTimeoutError(
                f"{url} did not answer within {self.timeout_s:g} s",
                "raise backend.timeout_s or use a smaller model",
            ) from exc
        except httpx.TransportError as exc:
            raise StreamInterruptedError(
                f"the connection to {url} broke mid-stream ({type(exc).__name__})",
                "the answer is incomplete; retry",
                partial="".join(parts),
            ) from exc
        if not done and finish is None:
            raise StreamInterruptedError(
                f"{url} closed the stream before it finished",
                "the answer is incomplete; retry",
                partial="".join(parts),
            )
        yield self._final(usage, timings, finish, started, first_at)

    def _final(
        self,
        usage: dict[str, Any],
        timings: dict[str, Any],
        finish: str | None,
        started: float,
        first_at: float | None,
    ) -> Final:
        end = time.perf_counter()
        first = first_at or end
        prompt = usage.get("prompt_tokens")
        details = usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        if isinstance(timings.get("cache_n"), int):
            cached = timings["cache_n"]
        evaluated = (
            prompt - cached if isinstance(prompt, int) and isinstance(cached, int) else prompt
        )
        if isinstance(timings.get("prompt_n"), int):
            evaluated = timings["prompt_n"]
        prompt_s = first - started
        eval_s = end - first
        if isinstance(timings.get("prompt_ms"), (int, float)):
            prompt_s = timings["prompt_ms"] / 1000
        if isinstance(timings.get("predicted_ms"), (int, float)):
            eval_s = timings["predicted_ms"] / 1000
        completion = usage.get("completion_tokens", timings.get("predicted_n"))
        return Final(
            done_reason=finish or "stop",
            prompt_tokens=evaluated if isinstance(evaluated, int) else None,
            completion_tokens=completion if isinstance(completion, int) else None,
            prompt_s=prompt_s,
            eval_s=eval_s,
            total_s=end - started,
            cached_tokens=cached if isinstance(cached, int) else None,
        )

    async def _get(self, path: str) -> Any:
        from gemmacode.backends.clientlib import import_httpx

        import_httpx()
        import httpx

        url = f"{self.base_url}{path}"
        try:
            resp = await self._http().get(url)
        except httpx.ConnectError as exc:
            raise ServerUnreachableError(
                f"no OpenAI-compatible server answers at {self.base_url}", _START_FIX
            ) from exc
        except httpx.TimeoutException as exc:
            raise RequestTimeoutError(
                f"{url} did not answer within {self.timeout_s:g} s", "check the server"
            ) from exc
        if resp.status_code >= 400:
            raise self._error(resp.status_code, resp.content, "")
        try:
            return resp.json()
        except ValueError as exc:
            raise BackendError(f"{url} did not answer with JSON", _START_FIX) from exc

    async def list_models(self) -> list[ModelInfo]:
        """``GET /models``; the context size where the server tells it (vLLM's
        ``max_model_len``, llama-server's ``meta.n_ctx_train``)."""
        data = await self._get("/models")
        out: list[ModelInfo] = []
        for item in data.get("data", []) if isinstance(data, dict) else []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            meta = item["meta"] if isinstance(item.get("meta"), dict) else {}
            ctx = item.get("max_model_len", meta.get("n_ctx_train", 0))
            size = meta.get("size", 0)
            out.append(
                ModelInfo(
                    name=item["id"],
                    context_length=ctx if isinstance(ctx, int) else 0,
                    size_bytes=size if isinstance(size, int) else 0,
                    raw=item,
                )
            )
        return out

    async def describe(self, model: str) -> ModelInfo:
        models = await self.list_models()
        for info in models:
            if info.name == model:
                return info
        names = ", ".join(m.name for m in models) or "none"
        raise ModelNotFoundError(
            f"model '{model}' is not served at {self.base_url}",
            f"set backend.model to one of: {names}",
        )

    async def loaded(self) -> list[LoadedModel]:
        """This API does not say what sits in GPU memory."""
        return []

    def count_tokens(self, model: str, text: str) -> int | None:
        """No standard tokenize endpoint: the calibrated estimate applies."""
        return None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _sse_data(resp: httpx.Response) -> AsyncIterator[str]:
    """The ``data`` field of each server-sent event (multi-line data joined by newlines)."""
    lines: list[str] = []
    async for line in resp.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            lines.append(value[1:] if value.startswith(" ") else value)
    if lines:
        yield "\n".join(lines)
