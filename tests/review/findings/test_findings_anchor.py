"""Line checks and de-duplication: no finding is shown against code the model did not see."""

from __future__ import annotations

from gemmacode.review.findings.anchor import anchor, dedupe
from gemmacode.review.findings.model import Finding


def f(file: str, line: int, end: int | None = None, msg: str = "m", sev: str = "high") -> Finding:
    return Finding(file, line, end if end is not None else line, sev, "bug", msg)


def test_findings_inside_the_ranges_are_kept_unchanged() -> None:
    ranges = {"a.py": [(10, 20), (40, 45)]}
    kept, dropped = anchor([f("a.py", 10), f("a.py", 20), f("a.py", 41, 44)], ranges)
    assert kept == [f("a.py", 10), f("a.py", 20), f("a.py", 41, 44)]
    assert dropped == []


def test_a_range_sticking_out_is_clamped_into_the_reviewed_lines() -> None:
    kept, _ = anchor([f("a.py", 8, 12), f("a.py", 18, 30)], {"a.py": [(10, 20)]})
    assert [(k.line, k.end_line) for k in kept] == [(10, 12), (18, 20)]


def test_near_misses_move_to_the_nearest_edge_far_ones_are_dropped() -> None:
    ranges = {"a.py": [(10, 20)]}
    kept, dropped = anchor([f("a.py", 22), f("a.py", 7), f("a.py", 30), f("a.py", 1)], ranges)
    assert [(k.line, k.end_line) for k in kept] == [(20, 20), (10, 10)]
    assert [(d.line, reason) for d, reason in dropped] == [
        (30, "line 30 is outside the reviewed lines 10-20 of a.py"),
        (1, "line 1 is outside the reviewed lines 10-20 of a.py"),
    ]


def test_equally_near_two_ranges_is_ambiguous_and_dropped() -> None:
    kept, dropped = anchor([f("a.py", 15)], {"a.py": [(1, 13), (17, 30)]})
    assert kept == []
    assert dropped[0][1] == "line 15 is outside the reviewed lines 1-13, 17-30 of a.py"


def test_file_less_finding_goes_to_the_only_reviewed_file() -> None:
    kept, dropped = anchor([f("", 3)], {"src/x.py": [(1, 9)]})
    assert [(k.file, k.line) for k in kept] == [("src/x.py", 3)]
    kept, dropped = anchor([f("", 3)], {"x.py": [(1, 9)], "y.py": [(1, 9)]})
    assert kept == [] and dropped[0][1] == "no file is not among the reviewed files"


def test_file_names_by_suffix_or_diff_prefix_are_resolved_when_unique() -> None:
    ranges = {"src/app/config.py": [(1, 50)], "src/util.py": [(1, 50)], "lib/util.py": [(1, 5)]}
    kept, dropped = anchor(
        [
            f("config.py", 2),
            f("b/src/app/config.py", 3),
            f("./src/app/config.py", 4),
            f("app/config.py", 5),
            f("util.py", 6),
            f("other.py", 7),
        ],
        ranges,
    )
    assert [(k.file, k.line) for k in kept] == [("src/app/config.py", n) for n in (2, 3, 4, 5)]
    assert [(d.file, r) for d, r in dropped] == [
        ("util.py", "file 'util.py' is not among the reviewed files"),
        ("other.py", "file 'other.py' is not among the reviewed files"),
    ]


def test_slack_is_configurable() -> None:
    ranges = {"a.py": [(10, 20)]}
    assert anchor([f("a.py", 22)], ranges, slack=0)[0] == []
    assert anchor([f("a.py", 26)], ranges, slack=6)[0] == [f("a.py", 20)]


def test_dedupe_merges_overlapping_similar_findings_keeping_the_most_severe() -> None:
    a = f("a.py", 10, 12, "user input reaches the SQL query unescaped", "medium")
    b = f("a.py", 11, 11, "User input reaches the SQL query unescaped!", "high")
    c = f("a.py", 11, 11, "the cursor is never closed", "low")  # same place, other problem
    d = f("b.py", 11, 11, "user input reaches the SQL query unescaped", "high")  # other file
    e = f("a.py", 30, 30, "user input reaches the SQL query unescaped", "high")  # elsewhere
    assert dedupe([a, b, c, d, e]) == [b, c, d, e]


def test_dedupe_on_equal_severity_keeps_the_longer_message_in_first_seen_order() -> None:
    a = f("a.py", 5, 5, "off by one in the loop")
    b = f("a.py", 5, 6, "off by one in the loop bound")
    z = f("a.py", 1, 1, "unrelated")
    assert dedupe([a, z, b]) == [b, z]
