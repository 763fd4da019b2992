"""The quality harness: review known cases, score the findings against planted bugs.

A dataset is a JSON file (or a folder holding ``cases.json``)::

    {"name": "my-set", "cases": [
      {"id": "py-sql", "path": "app/db.py", "language": "python",
       "source": "sources/py-sql.txt",            # or "code": "...inline text..."
       "diff_source": "sources/py-sql.diff",      # optional ("diff" inline): review the change
       "expected": [{"line": 25, "end_line": 26, "category": "security",
                     "also": ["bug"], "description": "query built with an f-string"}]}]}

``language`` defaults from the path's extension; ``source`` is relative to the JSON file.
A case with a diff is reviewed as a change (the diff of ``path``, whose new side is the
code), as ``gemmacode review --diff`` would; its expected lines must lie in the diff's hunks.
Scoring (:func:`score_case`, pure) pairs findings with expected problems one to one: a pair
matches when the file is the case's, the finding's lines overlap the expected range widened
by ``tolerance`` lines, and the finding's category is the expected one, one the case also
accepts (``also``: a race is a ``concurrency`` problem and a ``bug``), or a synonym
(``style``/``maintainability``). Recall is matched / expected,
precision matched / reported, line accuracy the share of matches whose first line lies inside
the expected range itself. :mod:`gemmacode.eval.report` runs a model over the cases and reports.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from gemmacode.errors import DatasetError
from gemmacode.index.languages import LANGUAGES, language_for
from gemmacode.review.findings.model import CATEGORIES, Finding
from gemmacode.review.findings.vocabulary import categories_match

TOLERANCE = 2


@dataclass(frozen=True)
class Expected:
    line: int
    end_line: int
    category: str
    description: str = ""
    also: tuple[str, ...] = ()  # other categories that honestly describe the same problem

    def accepts(self, category: str) -> bool:
        return category in self.also or categories_match(category, self.category)


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    language: str
    code: str
    expected: tuple[Expected, ...]
    summary: str = ""
    diff: str = ""  # a unified diff of ``path`` whose new side is ``code``; "" for a file case


@dataclass(frozen=True)
class Dataset:
    name: str
    origin: str  # where it was read from, for the report
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class CaseScore:
    """How one case went. ``matches`` pairs (finding index, expected index)."""

    expected: int
    reported: int
    matches: tuple[tuple[int, int], ...]
    line_exact: int
    missed: tuple[int, ...]  # indexes of expected problems no finding matched
    unmatched: tuple[int, ...]  # indexes of findings that matched nothing

    @property
    def matched(self) -> int:
        return len(self.matches)


def shipped_dataset_path() -> Path:
    """The starter set inside the installed package."""
    return Path(str(resources.files("gemmacode.eval").joinpath("data/cases.json")))


def load_dataset(path: Path | None = None) -> Dataset:
    """Read and check a dataset; ``None`` is the shipped starter set. Raises DatasetError."""
    file = shipped_dataset_path() if path is None else path
    if file.is_dir():
        file = file / "cases.json"
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DatasetError(
            f"no eval dataset at {file}", "pass a JSON file or a folder with cases.json"
        ) from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"eval dataset {file} cannot be read: {err}", "fix the JSON") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list) or not doc["cases"]:
        raise DatasetError(
            f"eval dataset {file} has no cases", 'write {"cases": [...]} with at least one case'
        )
    cases: list[Case] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["cases"]):
        where = f"eval dataset {file}, case {i + 1}"
        case = _case(raw, file.parent, where)
        if case.id in seen:
            raise DatasetError(f"{where}: duplicate id {case.id!r}", "give every case its own id")
        seen.add(case.id)
        cases.append(case)
    return Dataset(str(doc.get("name") or file.stem), str(file), tuple(cases))


def _case(raw: Any, base: Path, where: str) -> Case:
    def bad(what: str, fix: str) -> DatasetError:
        return DatasetError(f"{where}: {what}", fix)

    if not isinstance(raw, dict):
        raise bad("is not an object", "write each case as a JSON object")
    cid, path = raw.get("id"), raw.get("path")
    if not isinstance(cid, str) or not cid or not isinstance(path, str) or not path:
        raise bad("needs a string 'id' and 'path'", 'add "id" and "path" (the file name shown)')
    where = f"{where} ({cid})"

    def text(inline: str, from_file: str, what: str) -> str | None:
        """``raw[inline]``, else the file ``raw[from_file]`` names (relative to the dataset)."""
        if isinstance(raw.get(inline), str):
            return str(raw[inline])
        if not isinstance(raw.get(from_file), str):
            return None
        try:
            return (base / str(raw[from_file])).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise bad(f"{what} {raw[from_file]!r} cannot be read", "check the path") from err

    code = text("code", "source", "source")
    if code is None:
        raise bad("has neither 'code' nor 'source'", "add the code inline or a source file")
    language = raw.get("language") or language_for(path)
    if language not in LANGUAGES:
        raise bad(f"unknown language {language!r}", f"use one of: {', '.join(LANGUAGES)}")
    n_lines = len(code.splitlines())
    if not isinstance(raw.get("expected", []), list):
        raise bad("'expected' is not a list", "write a list of {line, end_line, category}")
    expected = []
    for e in raw.get("expected", []):
        e = e if isinstance(e, dict) else {}
        line = e.get("line")
        end = e.get("end_line", line)
        if not (isinstance(line, int) and isinstance(end, int) and 1 <= line <= end <= n_lines):
            raise bad(
                f"expected finding {e!r} is not a line range inside the code (1-{n_lines})",
                "give 'line' and 'end_line' within the code",
            )
        also = e.get("also", [])
        for category in [e.get("category"), *(also if isinstance(also, list) else [also])]:
            if category not in CATEGORIES:
                raise bad(
                    f"expected category {category!r} is unknown",
                    f"use one of: {', '.join(CATEGORIES)}",
                )
        description = str(e.get("description", ""))
        expected.append(Expected(line, end, e["category"], description, tuple(also)))
    diff = text("diff", "diff_source", "diff") or ""
    if diff:
        problem = diff_problem(diff, path, code, expected)
        if problem:
            raise bad(problem, "make the diff's new side the case's code, with the bug in a hunk")
    summary = str(raw.get("summary", ""))
    return Case(cid, path, language, code, tuple(expected), summary, diff)


def diff_problem(diff: str, path: str, code: str, expected: Sequence[Expected]) -> str:
    """Why ``diff`` cannot stand for a change that produced ``code``, or "" when it can."""
    from gemmacode.review.diff import parse_diff

    files = parse_diff(diff)
    if len(files) != 1 or files[0].new_path != path:
        return f"the diff must change exactly {path} (it changes {[f.path for f in files]})"
    lines = code.splitlines()
    hunks = files[0].hunks
    for h in hunks:
        new_side = [line[1:] for line in h.lines if line.startswith((" ", "+"))]
        if new_side != lines[h.new_start - 1 : h.new_start - 1 + len(new_side)]:
            return f"hunk {h.header} does not match the code's lines"
    for e in expected:
        if not any(a <= e.end_line and e.line <= b for a, b in (h.new_range for h in hunks)):
            return f"expected lines {e.line}-{e.end_line} are outside every hunk"
    return ""


def finding_matches(f: Finding, e: Expected, path: str, tolerance: int = TOLERANCE) -> bool:
    """The matching rule in the module docstring, for one pair."""
    same_file = f.file in ("", path) or path.endswith("/" + f.file)
    near = f.line <= e.end_line + tolerance and f.end_line >= e.line - tolerance
    return same_file and near and e.accepts(f.category)


def score_case(
    findings: Sequence[Finding],
    expected: Sequence[Expected],
    *,
    path: str,
    tolerance: int = TOLERANCE,
) -> CaseScore:
    """Pair findings with expected problems one to one, closest and most exact pairs first."""
    candidates = []
    for i, f in enumerate(findings):
        for j, e in enumerate(expected):
            if finding_matches(f, e, path, tolerance):
                inside = e.line <= f.line <= e.end_line
                distance = 0 if inside else min(abs(f.line - e.line), abs(f.line - e.end_line))
                candidates.append((not inside, f.category != e.category, distance, i, j))
    used_f: set[int] = set()
    used_e: set[int] = set()
    matches: list[tuple[int, int]] = []
    exact = 0
    for outside, _cat, _dist, i, j in sorted(candidates):
        if i in used_f or j in used_e:
            continue
        used_f.add(i)
        used_e.add(j)
        matches.append((i, j))
        exact += not outside
    return CaseScore(
        expected=len(expected),
        reported=len(findings),
        matches=tuple(sorted(matches)),
        line_exact=exact,
        missed=tuple(j for j in range(len(expected)) if j not in used_e),
        unmatched=tuple(i for i in range(len(findings)) if i not in used_f),
    )


@dataclass
class Totals:
    """Sums over cases and the rates they give; a rate is None when undefined (0/0)."""

    cases: int = 0
    expected: int = 0
    reported: int = 0
    matched: int = 0
    line_exact: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    eval_s: float = 0.0

    def add(self, score: CaseScore) -> None:
        self.cases += 1
        self.expected += score.expected
        self.reported += score.reported
        self.matched += score.matched
        self.line_exact += score.line_exact

    def rates(self) -> dict[str, float | None]:
        def ratio(a: float, b: float) -> float | None:
            return round(a / b, 4) if b else None

        lat = sorted(self.latencies)
        return {
            "recall": ratio(self.matched, self.expected),
            "precision": ratio(self.matched, self.reported),
            "line_accuracy": ratio(self.line_exact, self.matched),
            "latency_mean_s": round(sum(lat) / len(lat), 3) if lat else None,
            "latency_p50_s": round(lat[len(lat) // 2], 3) if lat else None,
            "latency_max_s": round(lat[-1], 3) if lat else None,
            "tokens_per_second": (
                round(self.completion_tokens / self.eval_s, 1) if self.eval_s else None
            ),
        }
