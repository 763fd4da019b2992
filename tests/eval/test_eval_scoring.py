"""Scoring findings against expected problems: a pure function, tested on its own."""

from __future__ import annotations

from gemmacode.eval.dataset import Expected, Totals, finding_matches, score_case
from gemmacode.review.findings.model import Finding

PATH = "app/db.py"


def f(line: int, category: str = "security", end: int | None = None, file: str = PATH) -> Finding:
    return Finding(file, line, end if end is not None else line, "high", category, "m")


SQL = Expected(25, 26, "security", "sql")
LEAK = Expected(40, 40, "resource-leak", "leak", also=("error-handling",))
NAMING = Expected(5, 5, "style", "naming")


def test_file_line_window_and_category_all_decide() -> None:
    assert finding_matches(f(25), SQL, PATH)
    assert finding_matches(f(27), SQL, PATH)  # inside the tolerance
    assert finding_matches(f(28), SQL, PATH)
    assert not finding_matches(f(29), SQL, PATH)  # beyond it
    assert finding_matches(f(23), SQL, PATH)
    assert not finding_matches(f(22), SQL, PATH)
    assert finding_matches(f(10, end=24), SQL, PATH)  # a range that reaches into the window
    assert finding_matches(f(25), SQL, PATH, tolerance=0)
    assert not finding_matches(f(27), SQL, PATH, tolerance=0)
    assert not finding_matches(f(25, "performance"), SQL, PATH)  # another category
    assert not finding_matches(f(25, "bug"), SQL, PATH)  # not accepted by this case
    assert finding_matches(f(40, "error-handling"), LEAK, PATH)  # the case also accepts it
    assert not finding_matches(f(40, "bug"), LEAK, PATH)
    assert finding_matches(f(5, "maintainability"), NAMING, PATH)  # a synonym
    assert not finding_matches(f(25, file="other.py"), SQL, PATH)
    assert finding_matches(f(25, file="db.py"), SQL, PATH)  # the base name the model saw
    assert finding_matches(f(25, file=""), SQL, PATH)


def test_pairs_are_one_to_one_and_prefer_exact_lines() -> None:
    findings = [f(27), f(25), f(26), f(40, "resource-leak"), f(90)]
    score = score_case(findings, [SQL, LEAK], path=PATH)
    assert score.matches == ((1, 0), (3, 1))
    assert score.matched == 2 and score.line_exact == 2
    assert score.unmatched == (0, 2, 4)
    assert score.missed == ()
    assert (score.expected, score.reported) == (2, 5)


def test_a_near_miss_counts_for_recall_but_not_line_accuracy() -> None:
    score = score_case([f(28)], [SQL], path=PATH)
    assert (score.matched, score.line_exact) == (1, 0)


def test_the_main_category_beats_an_accepted_one_at_the_same_line() -> None:
    findings = [f(40, "error-handling"), f(40, "resource-leak")]
    assert score_case(findings, [LEAK], path=PATH).matches == ((1, 0),)


def test_no_findings_and_no_expectations() -> None:
    s = score_case([], [SQL, LEAK], path=PATH)
    assert (s.matched, s.missed, s.unmatched) == (0, (0, 1), ())
    s = score_case([f(3)], [], path=PATH)
    assert (s.matched, s.missed, s.unmatched) == (0, (), (0,))


def test_totals_give_rates_and_none_when_undefined() -> None:
    t = Totals()
    assert t.rates()["recall"] is None and t.rates()["precision"] is None
    t.add(score_case([f(25), f(99)], [SQL, LEAK], path=PATH))
    t.add(score_case([f(28)], [SQL], path=PATH))
    t.latencies += [2.0, 4.0, 3.0]
    t.completion_tokens, t.eval_s = 300, 4.0
    rates = t.rates()
    assert rates["recall"] == round(2 / 3, 4)
    assert rates["precision"] == round(2 / 3, 4)
    assert rates["line_accuracy"] == 0.5
    assert (rates["latency_mean_s"], rates["latency_p50_s"], rates["latency_max_s"]) == (
        3.0,
        3.0,
        4.0,
    )
    assert rates["tokens_per_second"] == 75.0
