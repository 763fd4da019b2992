"""The model recommendation: the seed's matrix checked against real Q4 sizes, per GPU size."""

from __future__ import annotations

import pytest

from gemmacode.context.kvcache import kv_cache_bytes
from gemmacode.context.recommend import (
    BY_TAG,
    GB,
    GIB,
    MIB,
    MIN_USEFUL_CTX,
    footprint,
    largest_ctx,
    recommend,
    seed_choice,
)


def test_architecture_table_matches_field_notes_worked_example() -> None:
    e4b = BY_TAG["gemma4:e4b"]
    # FIELD_NOTES: E4B, f16, batch 512: 16 KiB per token + ~40 MiB fixed
    per_token = kv_cache_bytes(e4b.kv, 65536) - kv_cache_bytes(e4b.kv, 32768)
    assert per_token == 32768 * 16 * 1024
    fixed = kv_cache_bytes(e4b.kv, 32768) - 32768 * 16 * 1024
    assert 38 * MIB < fixed < 42 * MIB
    # ... so 1 GiB of free VRAM holds about 63K tokens of context
    assert largest_ctx(0, e4b.kv, GIB, margin=0) == 49152  # the ladder step below 63K
    assert 62_000 < (GIB - fixed) / (16 * 1024) < 64_500


def test_q4_weights_are_field_notes_sizes() -> None:
    sizes = {tag: round(v.weights / GB, 1) for tag, v in BY_TAG.items()}
    assert sizes == {"gemma4:e2b": 2.9, "gemma4:e4b": 4.5, "gemma4:26b": 14.4, "gemma4:31b": 17.5}


@pytest.mark.parametrize(
    ("gib", "model", "fits", "seed"),
    [
        (2, "gemma4:e2b", False, "gemma4:e2b"),  # nothing fits: E2B spills least
        (4, "gemma4:e2b", True, "gemma4:e4b"),  # GTX 1650: E4B would spill
        (6, "gemma4:e4b", True, "gemma4:e4b"),
        (8, "gemma4:e4b", True, "gemma4:26b"),
        (12, "gemma4:e4b", True, "gemma4:26b"),  # the MoE's 14.4 GB do not fit 12
        (16, "gemma4:26b", True, "gemma4:31b"),
        (20, "gemma4:31b", True, "gemma4:31b"),
        (24, "gemma4:31b", True, "gemma4:31b"),
        (80, "gemma4:31b", True, "gemma4:31b"),
    ],
)
def test_recommendation_per_gpu_size(gib: int, model: str, fits: bool, seed: str) -> None:
    rec = recommend(gib * GIB)
    assert (rec.model, rec.fits, rec.seed_model) == (model, fits, seed)
    chosen = BY_TAG[rec.model]
    if fits:
        assert footprint(chosen, MIN_USEFUL_CTX) <= gib * GIB
        assert rec.max_ctx >= MIN_USEFUL_CTX
        assert footprint(chosen, rec.max_ctx) <= gib * GIB
        bigger = [v for v in BY_TAG.values() if v.weights > chosen.weights]
        assert all(footprint(v, MIN_USEFUL_CTX) > gib * GIB for v in bigger)
    else:
        assert rec.max_ctx == 0 and "spills" in rec.reason


def test_four_gib_card_says_why_not_e4b() -> None:
    rec = recommend(4 * GIB)
    assert rec.alternative == "gemma4:e4b"
    assert "spills" in rec.alternative_reason
    [note] = rec.notes
    assert "3.8 GB" in note and "4.5 GB" in note and "spills" in note


def test_twelve_gib_card_corrects_the_moe_claim() -> None:
    rec = recommend(12 * GIB)
    assert rec.alternative == "gemma4:26b"
    [note] = rec.notes
    assert "all experts" in note and "14.4 GB" in note


def test_sixteen_gib_card_corrects_the_31b_claim() -> None:
    [note] = recommend(16 * GIB).notes
    assert "17.5 GB" in note and "16 GB card spills" in note


def test_no_notes_where_the_seed_and_the_sizes_agree() -> None:
    for gib in (6, 24):
        assert recommend(gib * GIB).notes == []
    assert recommend(24 * GIB).alternative == ""  # nothing bigger to suggest


def test_no_gpu_and_edge() -> None:
    cpu = recommend(None)
    assert (cpu.model, cpu.fits, cpu.alternative) == ("gemma4:e2b", False, "gemma4:e4b")
    assert "no GPU" in cpu.reason
    edge = recommend(8 * GIB, edge=True)
    assert edge.model == "gemma4:e2b" and "edge" in edge.reason


def test_quantized_kv_cache_buys_context_not_a_bigger_model() -> None:
    f16 = recommend(6 * GIB)
    q8 = recommend(6 * GIB, kv_type="q8_0")
    assert f16.model == q8.model == "gemma4:e4b"
    assert q8.max_ctx > f16.max_ctx


def test_seed_matrix_taken_literally() -> None:
    assert seed_choice(None) == "gemma4:e2b"
    assert seed_choice(3 * GIB) == "gemma4:e2b"
    assert seed_choice(4 * GIB) == "gemma4:e4b"
    assert seed_choice(int(3.9 * GB)) == "gemma4:e4b"  # a "4 GB" card as NVML reports it
    assert seed_choice(8 * GIB) == seed_choice(12 * GIB) == "gemma4:26b"
    assert seed_choice(16 * GIB) == seed_choice(48 * GIB) == "gemma4:31b"
    assert seed_choice(48 * GIB, edge=True) == "gemma4:e2b"
