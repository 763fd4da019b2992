"""Context packing on real git diffs: enclosing definitions, related code, budgets, name lists."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gemmacode.config import IndexSettings, Settings
from gemmacode.context.model_session import ModelSession
from gemmacode.index.indexer import open_index
from gemmacode.index.tags import extract_tags
from gemmacode.review.engine import ReviewOptions, code_budget, review_plan
from gemmacode.review.packing import pack_diff
from gemmacode.review.plan import plan_target
from gemmacode.review.related import GrepRelated, change_names, memo_tags
from gemmacode.review.targets import DiffTarget, resolve_target
from gemmacode.tokens.calibration import CalibrationStore
from gemmacode.tokens.counter import TokenCounter
from tests.conftest import git
from tests.fakes.backend import FakeBackend


def _commit_all(root: Path, msg: str = "c") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", msg)


def _function(name: str, body_lines: int, call: str = "") -> str:
    body = "".join(f"    total += {i}  # step {i}\n" for i in range(body_lines))
    extra = f"    {call}\n" if call else ""
    return f"def {name}(x):\n    total = x\n{body}{extra}    return total\n\n\n"


def _staged(root: Path) -> DiffTarget:
    target = resolve_target(None, cwd=root, staged=True)
    assert isinstance(target, DiffTarget)
    return target


def test_hunk_is_extended_to_its_enclosing_function(git_repo: Path) -> None:
    text = _function("first", 30) + _function("second", 30)
    (git_repo / "calc.py").write_text(text)
    _commit_all(git_repo)
    (git_repo / "calc.py").write_text(text.replace("total += 15  # step 15", "total -= 15", 1))
    git(git_repo, "add", "calc.py")
    plan = pack_diff(_staged(git_repo), counter=TokenCounter(), budget=4000, tags_fn=extract_tags)
    (unit,) = plan.units
    assert unit.ranges == {"calc.py": [(1, 33)]}  # the whole of first(), nothing of second()
    assert "lines 1-33, in first" in unit.code
    assert " 1   def first(x):" in unit.code
    assert "18 +     total -= 15" in unit.code
    assert "   -     total += 15  # step 15" in unit.code
    assert "def second" not in unit.code
    # Too big to show whole: the hunk stays as git cut it (3 lines of context).
    small = pack_diff(_staged(git_repo), counter=TokenCounter(), budget=300, tags_fn=extract_tags)
    assert small.units[0].ranges == {"calc.py": [(15, 21)]}


def test_related_definitions_from_the_index(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "util.py").write_text(_function("normalise", 3) + _function("unrelated", 3))
    (git_repo / "app.py").write_text(
        "from util import normalise\n\n\n"
        + _function("handle", 4)
        + _function("main", 2, "handle(1)")
    )
    _commit_all(git_repo)
    changed = (git_repo / "app.py").read_text().replace("total += 2  # step 2", "normalise(x)")
    (git_repo / "app.py").write_text(changed)
    git(git_repo, "add", "app.py")
    index = open_index(git_repo, IndexSettings(), cache_dir=tmp_path / "idx")
    plan = pack_diff(
        _staged(git_repo), counter=TokenCounter(), budget=3000, tags_fn=extract_tags, index=index
    )
    (unit,) = plan.units
    assert "util.py lines 1-" in unit.related and "normalise (called by the change)" in unit.related
    assert "def main(x):" in unit.related and "calls handle" in unit.related
    assert "unrelated" not in unit.related
    assert unit.ranges == {"app.py": [(4, 11)]}  # related code is context, not reviewed lines
    # The command line's source (git grep + a few tag parses) finds the same related code.
    tags = memo_tags(extract_tags)
    target = _staged(git_repo)
    grep = GrepRelated(git_repo, tags)
    grep.start(*change_names(target, tags))
    via_grep = pack_diff(target, counter=TokenCounter(), budget=3000, tags_fn=tags, index=grep)
    assert via_grep.units[0].related == unit.related
    tight = pack_diff(
        _staged(git_repo),
        counter=TokenCounter(),
        budget=unit.code_tokens + 40,
        tags_fn=extract_tags,
        index=index,
    )
    assert tight.units[0].related_tokens <= 40


def test_deleted_files_listed_by_name_only_when_space_is_short(git_repo: Path) -> None:
    (git_repo / "gone.py").write_text("".join(f"LEGACY_{i} = {i}\n" for i in range(12)))
    (git_repo / "keep.py").write_text(_function("a", 10) + _function("b", 40))
    _commit_all(git_repo)
    git(git_repo, "rm", "-q", "gone.py")
    (git_repo / "keep.py").write_text(_function("b", 40))  # a() removed: deletion-only hunk
    for i in range(8):
        (git_repo / f"new{i}.py").write_text(_function(f"f{i}", 20 + 2 * i))
    git(git_repo, "add", "-A")
    counter = TokenCounter()
    roomy = pack_diff(_staged(git_repo), counter=counter, budget=20000, tags_fn=extract_tags)
    (unit,) = roomy.units
    assert "gone.py (deleted, +0 -" in unit.code and "- LEGACY_0 = 0" in unit.code
    assert not unit.names and not roomy.left_out
    short = pack_diff(_staged(git_repo), counter=counter, budget=1200, tags_fn=extract_tags)
    assert len(short.units) > 1
    names = short.units[0].names
    assert "gone.py (deleted)" in names and "keep.py lines 1-3 (lines removed)" in names
    assert all("LEGACY_0" not in u.code for u in short.units)
    assert ("gone.py (deleted)", "listed by name only: space is short") in short.left_out
    assert all(u.code_tokens + counter.count(u.names) <= 1200 for u in short.units)
    # Largest change first: new7.py opens the first request.
    assert short.units[0].code.startswith("### new7.py (added")


def test_big_diff_never_exceeds_num_ctx_and_reports_progress(
    git_repo: Path, tmp_path: Path
) -> None:
    for i in range(12):
        (git_repo / f"m{i}.py").write_text(_function(f"f{i}", 25 + i))
    _commit_all(git_repo)
    for i in range(12):
        text = (git_repo / f"m{i}.py").read_text()
        (git_repo / f"m{i}.py").write_text(text.replace("# step", "# changed step"))
    git(git_repo, "add", "-A")
    settings = Settings()
    settings.context.num_ctx = 1024
    settings.sampling.num_predict = 200

    def answer(request: object) -> str:
        if getattr(request, "json_schema", None):
            return (
                '{"findings": [{"file": "m0.py", "line": 3, "severity": "low",'
                ' "category": "style", "message": "step comment"}]}'
            )
        return "- m0.py line 3 [low, style]: step comment."

    backend = FakeBackend(answers=answer)
    session = ModelSession(backend, settings, calibration=CalibrationStore(tmp_path / "c.json"))
    progress: list[str] = []
    opts = ReviewOptions(on_progress=progress.append)

    async def go() -> None:
        await session.prepare()
        plan, label = plan_target(_staged(git_repo), session, opts)
        assert len(plan.units) >= 3
        result = await review_plan(session, plan, label, opts)
        assert [f.file for f in result.findings] == ["m0.py"]
        assert progress == [
            f"chunk {i} of {len(plan.units)}" for i in range(1, len(plan.units) + 1)
        ]

    asyncio.run(go())
    assert backend.requests and backend.max_prompt_seen <= 1024
    for request in backend.requests:
        assert request.options.num_ctx == 1024
        assert request.estimated_prompt_tokens is not None
        assert request.estimated_prompt_tokens <= session.budget().prompt_tokens
    assert code_budget(session, "diff", "x", ReviewOptions()) > 0


def test_lock_generated_and_minified_files_are_left_out_with_a_note(git_repo: Path) -> None:
    (git_repo / "app.py").write_text(_function("f", 3))
    (git_repo / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    (git_repo / "api_pb2.py").write_text("# @generated by protoc. DO NOT EDIT!\nX = 1\n")
    (git_repo / "vendor.js").write_text("var a=" + "1+" * 3000 + "1;\n")
    git(git_repo, "add", "-A")
    plan = pack_diff(_staged(git_repo), counter=TokenCounter(), budget=4000, tags_fn=extract_tags)
    shown = {path for unit in plan.units for path in unit.ranges}
    assert shown == {"app.py"}
    why = {what.split(" ")[0]: reason for what, reason in plan.left_out}
    assert why == {
        "package-lock.json": "lock file, not reviewed",
        "api_pb2.py": "generated file, not reviewed",
        "vendor.js": "minified, not reviewed",
    }
