"""The embedded backend with the real Gemma 3 270M: Gemma's own tokenizer and metadata.

Gemma 3 270M is a base model, so its answers are not reviews: these tests use it for
mechanics only (token counts, the chat template llama.cpp applies, metadata, cache reuse).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gemmacode.backends.base import ChatOptions, ChatRequest, Delta, Final, Message
from gemmacode.backends.embedded import EmbeddedBackend, gemma3_270m_path
from gemmacode.tokens.encoding import raw_count

MODEL = "gemma3-270m"
PYTHON = "def add(a, b):\n    return a + b\n"
RUST = (
    "fn main() {\n"
    "    let xs: Vec<u32> = (0..10).map(|x| x * x).collect();\n"
    '    println!("{:?}", xs);\n'
    "}\n"
)


@pytest.fixture(scope="module")
def backend() -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend()
    yield b
    asyncio.run(b.aclose())


def prompt_tokens(backend: EmbeddedBackend, text: str) -> tuple[str, Final]:
    """The whole prompt as the model saw it: evaluated plus reused-from-cache tokens."""

    async def go() -> tuple[str, Final]:
        parts: list[str] = []
        final: Final | None = None
        request = ChatRequest(
            MODEL, (Message("user", text),), ChatOptions(num_ctx=1024, num_predict=4, seed=3)
        )
        async for ev in backend.chat(request):
            if isinstance(ev, Delta):
                parts.append(ev.text)
            else:
                final = ev
        assert final is not None
        return "".join(parts), final

    return asyncio.run(go())


def test_count_tokens_matches_what_gemma_evaluates(backend: EmbeddedBackend) -> None:
    """Prompt size minus the counted text is the same chat-template overhead for any text:
    the count is exactly Gemma's own tokenization of the text."""
    overheads = []
    for text in (PYTHON, RUST, PYTHON + RUST):
        _, final = prompt_tokens(backend, text)
        assert final.prompt_tokens is not None and final.cached_tokens is not None
        counted = backend.count_tokens(MODEL, text)
        assert counted is not None
        overheads.append(final.prompt_tokens + final.cached_tokens - counted)
    assert len(set(overheads)) == 1, overheads
    assert (
        0 < overheads[0] < 16
    )  # <bos><start_of_turn>user\n ... <end_of_turn>\n<start_of_turn>model\n


def test_gemma_tokenizer_is_not_tiktoken(backend: EmbeddedBackend) -> None:
    gemma = backend.count_tokens(MODEL, RUST)
    smol = backend.count_tokens("smollm2", RUST)
    assert gemma is not None and smol is not None
    assert len({gemma, smol, raw_count(RUST)}) >= 2, "three tokenizers, not one"
    assert backend.count_tokens(MODEL, "") == 0


def test_base_model_streams_with_gemmas_chat_format(backend: EmbeddedBackend) -> None:
    text, final = prompt_tokens(backend, "def mul(a, b):")
    assert final.completion_tokens == 4 and final.done_reason == "length"
    assert text, "a base model still continues the text"
    assert asyncio.run(backend.loaded())[0].name == MODEL


def test_describe_reads_the_gguf_metadata(backend: EmbeddedBackend) -> None:
    info = asyncio.run(backend.describe(MODEL))
    assert info.family == "gemma3"
    assert info.parameter_size == "270M"
    assert info.quantization == "Q4_K_M"
    assert info.context_length == 32768
    assert info.size_bytes == gemma3_270m_path().stat().st_size
    assert info.kv is not None and info.kv.sliding_window == 512
    assert info.kv.sliding_kv > 0 and info.kv.global_kv > 0
    assert info.raw["gemma3.block_count"] == 18  # numbers typed like Ollama's model_info


def test_switching_models_reloads(backend: EmbeddedBackend) -> None:
    prompt_tokens(backend, PYTHON)

    async def smol() -> Final:
        request = ChatRequest(
            "smollm2", (Message("user", "Hi"),), ChatOptions(num_ctx=1024, num_predict=2)
        )
        finals = [ev async for ev in backend.chat(request) if isinstance(ev, Final)]
        return finals[0]

    final = asyncio.run(smol())
    assert final.load_s > 0 and final.cached_tokens == 0
    assert asyncio.run(backend.loaded())[0].name == "smollm2"
