"""A scripted in-process Backend for engine and TUI tests.

It records every request and answers from a script, chunking the text into deltas. It checks
the one rule the real servers cannot tell us about: the prompt must fit ``num_ctx``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from gemmacode.backends.base import ChatRequest, Delta, Event, Final, LoadedModel, ModelInfo
from gemmacode.tokens.encoding import raw_count


@dataclass
class FakeBackend:
    """``answers`` is a list of strings (or a function of the request) used in order."""

    answers: list[str] | Callable[[ChatRequest], str] = field(default_factory=list)
    models: list[ModelInfo] = field(
        default_factory=lambda: [ModelInfo("gemma4:e4b", "gemma4", context_length=131072)]
    )
    delay_s: float = 0.0
    name: str = "fake"
    requests: list[ChatRequest] = field(default_factory=list)
    max_prompt_seen: int = 0

    async def chat(self, request: ChatRequest) -> AsyncIterator[Event]:  # type: ignore[override]
        self.requests.append(request)
        prompt = sum(raw_count(m.content) for m in request.messages)
        self.max_prompt_seen = max(self.max_prompt_seen, prompt)
        if prompt > request.options.num_ctx:
            raise AssertionError(
                f"prompt of {prompt} tokens sent with num_ctx {request.options.num_ctx}"
            )
        if callable(self.answers):
            text = self.answers(request)
        else:
            text = self.answers.pop(0) if self.answers else ""
        pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
        for piece in pieces:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield Delta(piece)
        yield Final(
            prompt_tokens=prompt, completion_tokens=raw_count(text), num_ctx=request.options.num_ctx
        )

    async def list_models(self) -> list[ModelInfo]:
        return list(self.models)

    async def describe(self, model: str) -> ModelInfo:
        for m in self.models:
            if m.name == model:
                return m
        from gemmacode.errors import ModelNotFoundError

        raise ModelNotFoundError(f"model '{model}' not found", f"run: ollama pull {model}")

    async def loaded(self) -> list[LoadedModel]:
        return []

    def count_tokens(self, model: str, text: str) -> int | None:
        return None

    async def aclose(self) -> None:
        return None
