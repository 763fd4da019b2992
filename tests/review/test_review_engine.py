"""The review engine through a real ModelSession and a scripted backend: passes, anchoring,
map-reduce with progress, and the merge pass."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gemmacode.backends.base import ChatRequest
from gemmacode.config import Settings
from gemmacode.context.model_session import ModelSession
from gemmacode.index.chunker import chunk_text
from gemmacode.review.engine import (
    ReviewOptions,
    code_budget,
    merge_findings,
    review_plan,
    review_snippet,
)
from gemmacode.review.findings.model import FINDINGS_SCHEMA, Finding
from gemmacode.review.packing import bin_sections
from gemmacode.review.sections import code_sections
from gemmacode.tokens.calibration import CalibrationStore
from tests.fakes.backend import FakeBackend

CODE = "\n".join(
    [
        "def last(items):",
        "    i = 0",
        "    while i <= len(items):",
        "        i += 1",
        "    return items[i]",
    ]
)


def _session(
    tmp_path: Path, answers: list[str] | Callable[[ChatRequest], str], num_ctx: int = 2048
) -> tuple[ModelSession, FakeBackend]:
    settings = Settings()
    settings.context.num_ctx = num_ctx
    settings.sampling.num_predict = 200
    backend = FakeBackend(answers=answers)
    store = CalibrationStore(tmp_path / "calibration.json")
    return ModelSession(backend, settings, calibration=store), backend


def _findings(*items: dict[str, object]) -> str:
    return json.dumps({"findings": list(items)})


def test_prose_then_constrained_findings_anchored_to_real_lines(tmp_path: Path) -> None:
    prose = "- Line 103 [high, bug]: the loop reads one past the end. Fix: use <."
    extraction = _findings(
        {
            "file": "calc.py",
            "line": 103,
            "severity": "high",
            "category": "bug",
            "message": "reads past the end",
        },
        {
            "file": "calc.py",
            "line": 400,
            "severity": "low",
            "category": "style",
            "message": "invented line",
        },
    )
    session, backend = _session(tmp_path, [prose, extraction])
    streamed: list[str] = []
    result = asyncio.run(
        review_snippet(
            session,
            path="calc.py",
            text=CODE,
            language="python",
            first_line=101,
            on_text=streamed.append,
        )
    )
    assert "".join(streamed).strip() == prose and result.prose == prose
    assert [(f.file, f.line, f.severity) for f in result.findings] == [("calc.py", 103, "high")]
    assert any("calc.py:400" in n and "outside the reviewed lines" in n for n in result.notes)
    first, second = backend.requests
    assert first.json_schema is None and second.json_schema == FINDINGS_SCHEMA
    assert first.messages[0].role == "system"
    user = first.messages[1].content
    assert "103      while i <= len(items):" in user and "Review the code above: calc.py" in user
    assert "Your review:\n" + prose in second.messages[1].content
    assert len(result.finals) == 2 and result.model == "gemma4:e4b"


def test_no_prose_is_one_constrained_request(tmp_path: Path) -> None:
    answer = _findings(
        {"line": 3, "severity": "medium", "category": "bug", "message": "off by one"}
    )
    session, backend = _session(tmp_path, [answer])
    result = asyncio.run(
        review_snippet(session, path="calc.py", text=CODE, language="python", prose=False)
    )
    (request,) = backend.requests
    assert request.json_schema == FINDINGS_SCHEMA
    assert "Review the code above (calc.py)" in request.messages[1].content
    assert [(f.file, f.line) for f in result.findings] == [("calc.py", 3)]
    assert result.prose == ""


def test_cut_off_json_is_repaired_not_lost(tmp_path: Path) -> None:
    cut = '{"findings": [{"line": 2, "severity": "high", "category": "bug", "message": "i starts'
    done = '{"line": 5, "severity": "low", "category": "bug", "message": "x"}'
    answer = '{"findings": [' + done + ", " + cut[len('{"findings": [') :]
    session, _ = _session(tmp_path, [answer])
    result = asyncio.run(
        review_snippet(session, path="calc.py", text=CODE, language="python", prose=False)
    )
    assert [f.line for f in result.findings] == [5]
    assert any("cut off" in n for n in result.notes)


def test_focus_and_extra_only_when_asked(tmp_path: Path) -> None:
    session, backend = _session(tmp_path, ["No problems found."] * 2)
    result = asyncio.run(review_snippet(session, path="a.py", text=CODE, language="python"))
    plain = backend.requests[0].messages[1].content
    assert "Focus on" not in plain and "Project instructions" not in plain
    # "No problems found." alone needs no extraction pass
    assert len(backend.requests) == 1 and result.findings == [] and len(result.finals) == 1
    asyncio.run(
        review_snippet(session, path="a.py", text=CODE, language="python", focus=["security"])
    )
    focused = backend.requests[1].messages[1].content
    assert "Focus on security: injection" in focused


def test_map_reduce_with_progress_and_merge_pass(tmp_path: Path) -> None:
    text = "\n\n".join(
        f"def f{i}(x):\n" + "".join(f"    x = x * {j} + {i}\n" for j in range(12)) + "    return x"
        for i in range(40)
    )

    def answer(request: ChatRequest) -> str:
        content = request.messages[-1].content
        if "Merge them into one list" in content:
            return _findings(
                {
                    "file": "big.py",
                    "line": 2,
                    "severity": "high",
                    "category": "bug",
                    "message": "merged",
                }
            )
        if request.json_schema:
            line = int(content.split("### big.py (python)\n")[1].split()[0])
            return _findings(
                {
                    "file": "big.py",
                    "line": line,
                    "severity": "high",
                    "category": "bug",
                    "message": f"at {line}",
                }
            )
        return "- Line 1 [high, bug]: something."

    session, backend = _session(tmp_path, answer, num_ctx=2048)
    progress: list[str] = []
    opts = ReviewOptions(on_progress=progress.append)

    async def go() -> None:
        await session.prepare()
        budget = code_budget(session, "file", "big.py", opts)
        sections = code_sections("big.py", text, "python", 1, session.counter, budget, chunk_text)
        plan = bin_sections("file", sections, session.counter, budget)
        assert len(plan.units) >= 3
        result = await review_plan(session, plan, "big.py", opts)
        n = len(plan.units)
        assert progress == [f"chunk {i} of {n}" for i in range(1, n + 1)]
        assert len(backend.requests) == 2 * n + 1  # prose + findings per chunk, one merge
        merge = backend.requests[-1]
        assert (
            merge.json_schema == FINDINGS_SCHEMA
            and '"message": "at 1"' in merge.messages[1].content
        )
        assert [f.message for f in result.findings] == ["merged"]
        # every chunk's request fits, with the same system prompt in front (prompt cache)
        systems = {r.messages[0].content for r in backend.requests}
        assert len(systems) == 1

    asyncio.run(go())
    assert backend.max_prompt_seen <= 2048


def test_merge_falls_back_to_dedupe_when_it_cannot_fit(tmp_path: Path) -> None:
    session, backend = _session(tmp_path, [], num_ctx=512)
    findings = [
        Finding("a.py", i, i, "medium", "bug", f"problem number {i} " + "detail " * 12)
        for i in range(1, 40)
    ] + [Finding("a.py", 1, 1, "medium", "bug", "problem number 1 " + "detail " * 12)]
    notes: list[str] = []

    async def go() -> list[Finding]:
        await session.prepare()
        return await merge_findings(
            session, findings, {"a.py": [(1, 100)]}, "a.py", ReviewOptions(), notes, []
        )

    merged = asyncio.run(go())
    assert not backend.requests
    assert len(merged) == 39
    assert any("without a model pass" in n for n in notes)


def test_code_budget_refuses_a_context_too_small(tmp_path: Path) -> None:
    from gemmacode.errors import ContextOverflowError

    session, _ = _session(tmp_path, [], num_ctx=256)
    with pytest.raises(ContextOverflowError) as info:
        code_budget(session, "file", "a.py", ReviewOptions())
    assert "raise --num-ctx" in str(info.value)


def test_a_copy_of_the_format_example_is_dropped(tmp_path: Path) -> None:
    copied = _findings(
        {
            "line": 12,
            "severity": "high",
            "category": "bug",
            "message": "items[i + 1] reads past the end of the list",
        },
        {"line": 3, "severity": "medium", "category": "bug", "message": "loop runs once too often"},
    )
    session, _ = _session(tmp_path, [copied])
    result = asyncio.run(
        review_snippet(session, path="calc.py", text=CODE, language="python", prose=False)
    )
    assert [f.message for f in result.findings] == ["loop runs once too often"]
    assert any("copied from the example" in n for n in result.notes)
