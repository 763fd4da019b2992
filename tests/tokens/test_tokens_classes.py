"""Token-class vectors from one tiktoken pass, and the counter that weighs them."""

from __future__ import annotations

import pytest

from gemmacode.tokens import classes as tc
from gemmacode.tokens.counter import TokenCounter
from gemmacode.tokens.encoding import encode, features, raw_count

NAMES = tc.feature_names()


def named(vec: list[int] | tuple[int, ...]) -> dict[str, int]:
    return {n: v for n, v in zip(NAMES, vec, strict=True) if v}


def test_vector_counts_every_token_and_every_neighbour_pair() -> None:
    text = "def foo_bar(self, x=12345):\n        return self._cache[x]\n"
    vec = features(text)
    assert len(vec) == tc.SIZE == len(NAMES)
    assert vec[tc.RAW] == raw_count(text)
    transitions = sum(vec[tc.TRANSITIONS_AT : tc.MESSAGE])
    assert transitions == raw_count(text) - 1
    assert vec[tc.MESSAGE] == 0  # only observations of whole requests count messages


def test_classes_follow_what_gemma_splits_differently() -> None:
    # Gemma splits numbers into digits: the digit class counts digits, not tokens.
    assert named(features("1234567890"))["digit"] == 10
    # tiktoken glues a newline to the punctuation before it; Gemma does not.
    assert named(features("f(x):\n"))["newline_tail"] == 1
    # An opening bracket glued to a word, a leading underscore: one tiktoken token, two Gemma.
    assert named(features("(self"))["mixed"] == 1
    assert named(features("_bar"))["underscore"] == 1
    # Word case and leading spaces are told apart.
    got = named(features(" get HTTP Response"))
    assert got["w_lower_short"] == 1 and got["w_upper"] == 1 and got["w_capital"] == 1
    # A character split into partial UTF-8 byte tokens is marked as such.
    assert "partial" in named(features("Ş"))


def test_transitions_record_the_kinds_on_both_sides_of_a_join() -> None:
    ids = encode("algorithms")
    if len(ids) > 1:  # word pieces: a lower-to-lower join Gemma tends to merge
        assert named(features("algorithms"))["'l'>'l'"] == len(ids) - 1
    got = named(features("a, b"))
    assert got["'l'>'p'"] == 1 and got["'p'>' '"] == 1


def test_same_vector_whether_ids_are_new_or_already_in_the_table() -> None:
    text = "ünïcode — 日本語 and ascii 42\n\tdone"
    assert features(text) == features(text)
    assert features("") == [0] * tc.SIZE


def test_counter_without_weights_is_the_factor_path() -> None:
    text = "x = compute(1, 2)\n" * 20
    assert TokenCounter().count(text) == raw_count(text)
    assert TokenCounter(1.25).count(text) == -(-raw_count(text) * 5 // 4)


def test_counter_with_weights_uses_the_linear_model_and_keeps_its_cache() -> None:
    text = "for i in range(10):\n    total += values[i] * 2048\n"
    weights = [0.0] * tc.SIZE
    for i in range(1, tc.TRANSITIONS_AT):
        weights[i] = 1.0
    weights[NAMES.index("digit")] = 1.5
    counter = TokenCounter(1.0, weights)
    vec = counter.vector(text)
    expected = sum(w * v for w, v in zip(weights, vec, strict=True))
    expected = min(max(expected, 0.5 * vec[0]), 2.0 * vec[0])
    assert counter.count(text) == -(-expected // 1)
    misses = counter.misses
    # New weights change the count but never re-tokenize a known text.
    doubled = [2 * w for w in weights]
    before = counter.signature
    counter.weights = doubled
    assert counter.signature != before
    assert counter.count(text) == min(-(-2 * expected // 1), 2 * vec[0])
    assert counter.misses == misses and counter.hits >= 1
    # Weights are kept within 0.5x..2x of the raw count, whatever they say.
    counter.weights = [0.0] * tc.SIZE
    assert counter.count(text) == -(-vec[0] // 2)
    counter.weights = None
    assert counter.count(text) == vec[0]


def test_bad_weights_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenCounter(1.0, [1.0, 2.0])
    with pytest.raises(ValueError):
        TokenCounter(0.0)


def test_solve_matches_a_known_system() -> None:
    matrix = [[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]]
    x = [1.0, -2.0, 3.0]
    rhs = [sum(a * b for a, b in zip(row, x, strict=True)) for row in matrix]
    assert tc.solve(matrix, rhs) == pytest.approx(x)
    with pytest.raises(ValueError):
        tc.solve([[0.0, 0.0], [0.0, 0.0]], [1.0, 1.0])
