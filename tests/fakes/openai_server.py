"""A local HTTP server that speaks the OpenAI chat-completions wire format, for backend tests.

``POST /v1/chat/completions`` with ``stream: true`` answers with chunked server-sent events:
a role chunk, one ``data: {...}`` chunk per piece of text, a chunk with ``finish_reason``, a
usage chunk when ``stream_options.include_usage`` asks for it (as OpenAI and vLLM do), then
``data: [DONE]``. ``GET /v1/models`` lists the models. Knobs reproduce what real servers do
wrong or differently: a required API key (401), an unknown model (404), an error event or a
dropped connection mid-stream, a slow first byte, no usage at all, and llama-cpp-python's
server, which rejects ``response_format.type == "json_schema"``. ``generate`` may be backed
by a real ``llama_cpp.Llama`` (:func:`llama_generator`) so the tokens and counts are real.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (pieces of text, finish_reason, usage) for one request body
Generated = tuple[list[str], str, dict[str, Any]]
DEFAULT_ANSWER = ["The ", "division ", "fails ", "on ", "an ", "empty ", "list."]


def scripted(pieces: list[str], prompt_tokens: int = 42, cached: int = 0) -> Callable[..., Any]:
    def generate(body: dict[str, Any]) -> Generated:
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        if cached:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        return list(pieces), "stop", usage

    return generate


def llama_generator(llm: Any) -> Callable[[dict[str, Any]], Generated]:
    """Answer with a real model: real text, split into its real tokens, and real usage."""
    lock = threading.Lock()

    def generate(body: dict[str, Any]) -> Generated:
        kwargs: dict[str, Any] = {
            "messages": body["messages"],
            "max_tokens": body.get("max_tokens", 16),
            "temperature": body.get("temperature", 0.2),
            "top_p": body.get("top_p", 0.95),
            "seed": body.get("seed"),
        }
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            kwargs["response_format"] = {
                "type": "json_object",
                "schema": fmt["json_schema"]["schema"],
            }
        with lock:
            out = llm.create_chat_completion(**kwargs)
            text = out["choices"][0]["message"]["content"] or ""
            ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            pieces = [llm.detokenize([i]).decode("utf-8", "replace") for i in ids]
        return pieces, str(out["choices"][0]["finish_reason"]), dict(out["usage"])

    return generate


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up (cancel, timeout) is normal here, not a server error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class FakeOpenAI:
    models: list[str] = field(default_factory=lambda: ["smollm2"])
    generate: Callable[[dict[str, Any]], Generated] = field(
        default_factory=lambda: scripted(DEFAULT_ANSWER)
    )
    api_key: str | None = None
    report_usage: bool = True
    fail_after: int | None = None  # send an error event after this many text chunks
    drop_after: int | None = None  # cut the connection after this many text chunks
    first_byte_delay_s: float = 0.0
    json_object_only: bool = False  # llama-cpp-python's server: no "json_schema" type
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if not fake._authorised(self):
                    return
                if self.path.rstrip("/") != "/v1/models":
                    return fake._json(self, 404, {"error": {"message": "Not Found"}})
                data = [{"id": m, "object": "model", "max_model_len": 8192} for m in fake.models]
                fake._json(self, 200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
                if not fake._authorised(self):
                    return
                if self.path != "/v1/chat/completions":
                    return fake._json(self, 404, {"error": {"message": "Not Found"}})
                fake._chat(self, body)

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- responses ------------------------------------------------------------------------

    def _authorised(self, h: BaseHTTPRequestHandler) -> bool:
        if self.api_key is None or h.headers.get("Authorization") == f"Bearer {self.api_key}":
            return True
        self._json(h, 401, {"error": {"message": "Incorrect API key provided", "code": 401}})
        return False

    @staticmethod
    def _json(h: BaseHTTPRequestHandler, status: int, obj: Any) -> None:
        raw = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)

    def _chat(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if body.get("model") not in self.models:
            msg = f"The model `{body.get('model')}` does not exist."
            return self._json(h, 404, {"error": {"message": msg, "code": "model_not_found"}})
        fmt = body.get("response_format")
        if self.json_object_only and isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            msg = (
                "1 validation error: ('body', 'response_format', 'type') "
                "Input should be 'text' or 'json_object'"
            )
            return self._json(h, 500, {"error": {"message": msg}})
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": body["model"]}
        try:
            if self.first_byte_delay_s:
                time.sleep(self.first_byte_delay_s)
            pieces, finish, usage = self.generate(body)
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            self._event(h, {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
            for n, piece in enumerate(pieces):
                if self.drop_after is not None and n == self.drop_after:
                    h.wfile.flush()
                    h.close_connection = True
                    return  # no terminating chunk: the client sees a cut connection
                if self.fail_after is not None and n == self.fail_after:
                    self._event(h, {"error": {"message": "CUDA error: out of memory"}})
                    break
                delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                self._event(h, {**base, "choices": [delta]})
            else:
                self._event(
                    h, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
                )
                wants_usage = (body.get("stream_options") or {}).get("include_usage")
                if self.report_usage and wants_usage:
                    self._event(h, {**base, "choices": [], "usage": usage})
                self._write(h, b"data: [DONE]\n\n")
            self._write(h, b"")
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    def _event(self, h: BaseHTTPRequestHandler, obj: Any) -> None:
        self._write(h, b"data: " + json.dumps(obj).encode() + b"\n\n")

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, data: bytes) -> None:
        h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        h.wfile.flush()
