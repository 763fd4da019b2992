"""The calibration store's linear model: learning from (text, count) pairs, fallback, storage.

The last test uses Gemma's own tokenizer (the Gemma 3 270M GGUF) on this repository's code.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemmacode.backends.base import Final
from gemmacode.tokens import classes as tc
from gemmacode.tokens.calibration import PRIOR_FACTOR, CalibrationStore, Calibrator
from gemmacode.tokens.counter import TokenCounter
from gemmacode.tokens.encoding import features, raw_count

ROOT = Path(__file__).resolve().parents[2]
NAMES = tc.feature_names()
# A made-up tokenizer that is exactly linear in the classes: a token per tiktoken token, but
# one per digit, a second one for a newline or an underscore glued to text, and word pieces
# that merge half the time.
FLAGS = {"ws_head", "lead_punct", "digit_mixed"}
TRUE = {n: 0.0 if n in FLAGS else 1.0 for n in tc.CLASSES}
TRUE.update({"newline_tail": 1.0, "underscore": 1.0, "'l'>'l'": -0.5})


def true_count(text: str) -> int:
    vec = features(text)
    return round(sum(TRUE.get(n, 0.0) * v for n, v in zip(NAMES, vec, strict=True)))


def texts(n: int, seed: int = 0) -> list[str]:
    """Varied code-like snippets (numbers, words, punctuation, indentation)."""
    out = []
    for i in range(seed, seed + n):
        lines = [
            f"def handler_{i}(request, limit={i * 7919 % 100000}):",
            f"    values = [{', '.join(str(i * k) for k in range(1 + i % 9))}]",
            f"    if request.path.startswith('/api/v{i % 4}'):",
            f"        return {{'status': {200 + i % 5}, 'items': values[:{i % 13}]}}",
            "    # algorithms in interoperability" * (i % 3),
        ]
        out.append("\n".join(lines[: 2 + i % 4]) + "\n")
    return out


def test_fallback_until_enough_observations_then_the_linear_model(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path / "c.json", min_text_samples=20)
    train = texts(60)
    for i, text in enumerate(train[:19]):
        store.observe("m", raw_count(text), true_count(text))
        assert store.observe_text("m", text, true_count(text)) == i + 1
        assert store.weights("m") is None
    assert store.counter_for("m").weights is None
    assert store.counter_for("m").factor == store.factor("m") != 1.0
    for text in train[19:]:
        store.observe_text("m", text, true_count(text))
    counter = store.counter_for("m")
    assert counter.weights is not None
    held_out = texts(30, seed=1000)
    linear = [abs(counter.count(t) - true_count(t)) / true_count(t) for t in held_out]
    factor = [
        abs(math.ceil(raw_count(t) * store.factor("m")) - true_count(t)) / true_count(t)
        for t in held_out
    ]
    errors = [abs(counter.count(t) - true_count(t)) for t in held_out]
    assert max(errors) <= 2, "a tokenizer linear in the classes is learnt almost exactly"
    assert max(linear) < max(factor)
    # Without data at all: the prior factor (erring high, never under-counting Gemma).
    assert store.counter_for("other").weights is None
    assert store.counter_for("other").factor == store.prior == PRIOR_FACTOR


def test_counts_that_cannot_belong_to_the_text_are_ignored(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path / "c.json", min_text_samples=1)
    text = texts(1)[0]
    assert store.observe_text("m", text, raw_count(text) * 3) == 0  # a cut or a cache hit
    assert store.observe_text("m", text, 0) == 0
    assert store.observe_text("m", "", 10) == 0
    assert store.text_samples("m") == 0 and store.weights("m") is None
    assert store.observe_text("m", text, raw_count(text)) == 1
    assert store.weights("m") is not None


def test_messages_are_summed_and_counted(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path / "c.json", min_text_samples=1)
    system, user = "You review code.", texts(1)[0]
    store.observe_text("m", [system, user], raw_count(system) + raw_count(user) + 8)
    saved = json.loads((tmp_path / "c.json").read_text())["m"]["linear"]
    assert saved["n"] == 1 and saved["version"] == tc.FEATURES_VERSION
    actual = raw_count(system) + raw_count(user) + 8
    xty = saved["xty"]
    assert xty[tc.RAW] == pytest.approx((raw_count(system) + raw_count(user)) / actual)
    assert xty[tc.MESSAGE] == pytest.approx(2 / actual)


def test_the_linear_model_persists_and_bad_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    store = CalibrationStore(path, min_text_samples=5)
    store.observe("m", 100, 120)
    for text in texts(8):
        store.observe_text("m", text, true_count(text), save=False)
    store.save()
    again = CalibrationStore(path, min_text_samples=5)
    assert again.weights("m") == pytest.approx(store.weights("m"))
    assert again.factor("m") == pytest.approx(1.2) and again.text_samples("m") == 8
    # Refitting from the loaded statistics gives the same weights: the sums are complete.
    text = texts(1, seed=77)[0]
    store.observe_text("m", text, true_count(text))
    again.observe_text("m", text, true_count(text))
    assert again.weights("m") == pytest.approx(store.weights("m"))
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temporary file left
    # A different feature version or a damaged section: the factor survives, the fit is gone.
    doc = json.loads(path.read_text())
    doc["m"]["linear"]["version"] = "older"
    path.write_text(json.dumps(doc))
    assert CalibrationStore(path).text_samples("m") == 0
    assert CalibrationStore(path).factor("m") == pytest.approx(store.factor("m"))
    doc["m"]["linear"] = {"version": tc.FEATURES_VERSION, "xtx": [1, 2], "xty": "x", "n": 1}
    path.write_text(json.dumps(doc))
    assert CalibrationStore(path).weights("m") is None
    # The old format (a factor only) still loads.
    path.write_text(json.dumps({"m": {"factor": 1.3, "samples": 4}}))
    assert CalibrationStore(path).factor("m") == 1.3


def test_calibrator_estimates_with_the_linear_model_and_lifts_it_after_a_cut(
    tmp_path: Path,
) -> None:
    store = CalibrationStore(tmp_path / "c.json", min_text_samples=10)
    for text in texts(40):
        store.observe_text("m", text, true_count(text))
    counter = TokenCounter()
    cal = Calibrator("m", counter, store)
    assert counter.weights is not None
    sent = texts(3, seed=500)
    raw = sum(raw_count(t) for t in sent)
    exact = sum(true_count(t) for t in sent)
    ok = cal.after_request(raw=raw, final=Final(), num_ctx=8192, exact=exact, texts=sent)
    assert ok.linear and ok.updated and store.text_samples("m") == 41
    assert ok.estimated == sum(counter.count(t) for t in sent)
    # A cut: the server evaluated a full context although the estimate said the prompt fit.
    num_ctx = int(ok.estimated * 1.05)
    cut = cal.after_request(
        raw=raw, final=Final(prompt_tokens=num_ctx, load_s=1.0), num_ctx=num_ctx, texts=sent
    )
    assert cut.truncated and store.text_samples("m") == 41  # a bound never feeds the fit
    assert sum(counter.count(t) for t in sent) >= num_ctx
    assert counter.lift > 1.0
    # The next count that feeds the fit resets the lift.
    cal.after_request(raw=raw, final=Final(), num_ctx=8192, exact=exact, texts=sent)
    assert counter.lift == 1.0 and store.text_samples("m") == 42


@pytest.fixture(scope="module")
def gemma() -> Iterator[object]:
    from gemmacode.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend()
    yield backend
    asyncio.run(backend.aclose())


def test_on_gemmas_tokenizer_the_classes_beat_one_factor(tmp_path: Path, gemma: object) -> None:
    count_tokens = gemma.count_tokens  # type: ignore[attr-defined]
    chunks: list[str] = []
    for path in sorted((ROOT / "gemmacode").rglob("*.py")):
        lines = path.read_text("utf-8").splitlines(keepends=True)
        chunks += ["".join(lines[i : i + 30]) for i in range(0, len(lines), 30)]
    chunks = [c for c in chunks if raw_count(c) >= 50]
    train, test = chunks[0::2], chunks[1::2]
    store = CalibrationStore(tmp_path / "c.json", min_text_samples=30)
    ratios = []
    for text in train:
        gemma_count = count_tokens("gemma3-270m", text)
        ratios.append(gemma_count / raw_count(text))
        store.observe_text("gemma3-270m", text, gemma_count, save=False)
    counter = store.counter_for("gemma3-270m")
    assert counter.weights is not None
    truth = [count_tokens("gemma3-270m", t) for t in test]
    linear = sorted(abs(counter.count(t) - g) / g for t, g in zip(test, truth, strict=True))
    factor = sorted(ratios)[len(ratios) // 2]  # the best single factor: the median ratio
    single = sorted(
        abs(math.ceil(raw_count(t) * factor) - g) / g for t, g in zip(test, truth, strict=True)
    )
    p95 = int(0.95 * len(test))
    assert linear[p95] < single[p95]
    assert linear[p95] < 0.08


def test_a_session_feeds_the_messages_it_sent_to_the_linear_model(tmp_path: Path) -> None:
    from gemmacode.context.model_session import ModelSession
    from tests.context.test_model_session import ScaledBackend, collect, parts, pinned

    store = CalibrationStore(tmp_path / "c.json", min_text_samples=3)
    backend = ScaledBackend(answers=lambda r: "ok", scale=1.25, exact=True)
    session = ModelSession(backend, pinned(16384), calibration=store)
    assert session.counter.weights is None
    for i in range(3):
        asyncio.run(collect(session, parts(f"question {i}?", code=texts(1, seed=i)[0] * 20)))
    assert store.text_samples(session.model_name) == 3
    assert session.counter.weights is not None
    assert session.describe()["token_estimator"] == "token classes"
    # A new session on the same store starts with the fitted model.
    reloaded = CalibrationStore(tmp_path / "c.json", min_text_samples=3)
    again = ModelSession(backend, pinned(16384), calibration=reloaded)
    assert again.counter.weights == pytest.approx(session.counter.weights)
    # With the default threshold, three requests are too few: the factor still applies.
    default = ModelSession(backend, pinned(16384), calibration=CalibrationStore(store.path))
    assert default.counter.weights is None and default.counter.factor != 1.0
