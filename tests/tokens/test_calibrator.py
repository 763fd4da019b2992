"""Calibrator rules: when a count may move the factor, and what counts as silent truncation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemmacode.backends.base import Final
from gemmacode.tokens.calibration import CalibrationStore, Calibrator
from gemmacode.tokens.counter import TokenCounter


def calibrator(tmp_path: Path, factor: float | None = None) -> Calibrator:
    store = CalibrationStore(tmp_path / "calibration.json")
    if factor is not None:
        store.observe("m", 1000, int(1000 * factor))
    return Calibrator("m", TokenCounter(), store)


def test_a_stored_factor_is_loaded_into_the_counter(tmp_path: Path) -> None:
    cal = calibrator(tmp_path, 1.2)
    assert cal.counter.factor == pytest.approx(1.2)
    assert Calibrator("other", TokenCounter(), cal.store).counter.factor == 1.0


def test_fresh_load_moves_the_factor_down_and_persists(tmp_path: Path) -> None:
    cal = calibrator(tmp_path, 1.2)
    result = cal.after_request(raw=1000, final=Final(prompt_tokens=1000, load_s=2.0), num_ctx=8192)
    assert result.updated and result.factor_after < 1.2
    saved = json.loads((tmp_path / "calibration.json").read_text())
    assert saved["m"]["factor"] == pytest.approx(result.factor_after)
    assert cal.counter.factor == result.factor_after


def test_a_low_count_on_a_warm_server_may_be_a_cache_hit(tmp_path: Path) -> None:
    cal = calibrator(tmp_path, 1.2)
    result = cal.after_request(raw=1000, final=Final(prompt_tokens=700), num_ctx=8192)
    assert not result.updated and cal.counter.factor == pytest.approx(1.2)
    # Ollama reports a few milliseconds of load_duration on warm requests: not a reload.
    warm = cal.after_request(raw=1000, final=Final(prompt_tokens=700, load_s=0.003), num_ctx=8192)
    assert not warm.updated
    # A higher count is a safe lower bound: it moves the factor up even when warm.
    up = cal.after_request(raw=1000, final=Final(prompt_tokens=1400), num_ctx=8192)
    assert up.updated and up.factor_after > 1.2


def test_reported_cached_tokens_make_the_count_whole(tmp_path: Path) -> None:
    cal = calibrator(tmp_path, 1.2)
    result = cal.after_request(
        raw=1000, final=Final(prompt_tokens=100, cached_tokens=950), num_ctx=8192
    )
    assert result.actual == 1050 and result.updated
    assert result.factor_after < 1.2


def test_exact_counts_always_calibrate(tmp_path: Path) -> None:
    cal = calibrator(tmp_path)
    result = cal.after_request(
        raw=1000, final=Final(prompt_tokens=10), num_ctx=8192, shared_raw=990, exact=1100
    )
    assert result.updated and cal.counter.factor == pytest.approx(1.1)
    assert not result.truncated


def test_tiny_prompts_do_not_calibrate(tmp_path: Path) -> None:
    cal = calibrator(tmp_path)
    assert not cal.after_request(
        raw=10, final=Final(prompt_tokens=30, load_s=1), num_ctx=8192
    ).updated


def test_truncation_needs_a_large_prompt_a_big_gap_and_no_cached_prefix(tmp_path: Path) -> None:
    cal = calibrator(tmp_path)
    cut = cal.after_request(raw=7000, final=Final(prompt_tokens=4096, load_s=1.0), num_ctx=8192)
    assert cut.truncated and "7000" in cut.note and "8192" in cut.note
    # The server only cuts prompts over num_ctx: the factor rises toward 8192 / 7000.
    assert cut.updated and cal.counter.factor == pytest.approx(1.02 * 8192 / 7000, rel=1e-3)
    # A warm server, but nothing substantial shared with the previous request: still flagged.
    warm = cal.after_request(
        raw=7000, final=Final(prompt_tokens=4096), num_ctx=8192, shared_raw=300
    )
    assert warm.truncated
    # Most of the prompt shared with the previous request: the gap is the cache.
    cached = cal.after_request(
        raw=7000, final=Final(prompt_tokens=4096), num_ctx=8192, shared_raw=5000
    )
    assert not cached.truncated
    # Far from num_ctx: the server had no reason to cut.
    small = cal.after_request(raw=2000, final=Final(prompt_tokens=1000, load_s=1), num_ctx=8192)
    assert not small.truncated
    # A handful of evaluated tokens is a full cache hit from another process, not a cut.
    hit = cal.after_request(raw=7000, final=Final(prompt_tokens=12), num_ctx=8192)
    assert not hit.truncated
    # Within 85 % of the estimate: tokenizer noise.
    close = cal.after_request(raw=7000, final=Final(prompt_tokens=6100, load_s=1), num_ctx=8192)
    assert not close.truncated and close.updated


def test_a_prompt_that_fills_the_context_was_cut(tmp_path: Path) -> None:
    """Ollama's runner cuts an over-long prompt to num_ctx: with an estimate that was too
    low, the count lands at num_ctx, above the estimate, and the factor must catch up."""
    cal = calibrator(tmp_path, 0.5)
    result = cal.after_request(raw=5000, final=Final(prompt_tokens=4096, load_s=1.0), num_ctx=4096)
    assert result.truncated and "filled the whole context" in result.note
    assert cal.counter.factor > 0.5
    fine = cal.after_request(raw=3000, final=Final(prompt_tokens=3500, load_s=1.0), num_ctx=4096)
    assert not fine.truncated


def test_the_cautious_prior_comes_down_without_false_truncation_alarms(tmp_path: Path) -> None:
    """A new model starts at the 1.3x prior. Its tokenizer here needs 1.05x cl100k: a large
    warm request near num_ctx (so the cut rule is armed) must neither be flagged as cut nor be
    ignored; the factor learns the real ratio."""
    store = CalibrationStore(tmp_path / "calibration.json", prior=1.3)
    cal = Calibrator("new", store.counter_for("new"), store)
    assert cal.counter.factor == 1.3
    raw = 5000  # estimate 6500 of num_ctx 8192: near the context
    result = cal.after_request(raw=raw, final=Final(prompt_tokens=5250, load_s=0.003), num_ctx=8192)
    assert not result.truncated and result.note == ""
    assert result.updated and result.factor_after == pytest.approx(1.05)
    # A real cut is still caught while uncalibrated: the count fills the context.
    fresh = CalibrationStore(tmp_path / "other.json", prior=1.3)
    cut = Calibrator("x", fresh.counter_for("x"), fresh).after_request(
        raw=6000, final=Final(prompt_tokens=8190, load_s=0.003), num_ctx=8192
    )
    assert cut.truncated and cut.factor_after > 1.3
    # And so is one far below even the raw count (a 60% cut of a whole new prompt).
    far = CalibrationStore(tmp_path / "far.json", prior=1.3)
    short = Calibrator("y", far.counter_for("y"), far).after_request(
        raw=6000, final=Final(prompt_tokens=3000, load_s=2.0), num_ctx=8192
    )
    assert short.truncated
