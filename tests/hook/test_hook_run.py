"""The hook's decisions, run in-process on real repositories with a scripted core."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from gemmacode.errors import ModelNotFoundError
from gemmacode.hook.exits import EXIT_BLOCKED, EXIT_NOT_REVIEWED, EXIT_OK, EXIT_USAGE
from gemmacode.hook.speeds import Speed, SpeedStore
from gemmacode.session.events import Reloading
from tests.conftest import git
from tests.hook.conftest import EMBEDDED, ScriptedCore, finding, run_in_process


def _stage_change(repo: Path, line: int = 5, text: str = "x5 = eval(input())") -> None:
    lines = (repo / "app.py").read_text().splitlines()
    lines[line - 1] = text
    (repo / "app.py").write_text("\n".join(lines) + "\n")
    git(repo, "add", "app.py")


def _snapshot(repo: Path) -> dict[str, str]:
    """Every file under the work tree and .git/index, by content hash."""
    out = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and (not rel.startswith(".git/") or rel == ".git/index"):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_clean_commit_passes(repo: Path) -> None:
    _stage_change(repo)
    core = ScriptedCore([])
    ran = run_in_process(repo, core, env=EMBEDDED)
    assert ran.code == EXIT_OK
    assert "review passed: no findings" in ran.output
    spec = core.specs[0]
    assert (spec.kind, spec.prose) == ("staged", False)
    assert core.settings is not None
    assert (core.settings.sampling.temperature, core.settings.sampling.seed) == (0.1, 42)
    assert core.settings.sampling.num_predict == 512


def test_high_finding_on_a_changed_line_blocks_and_says_how_to_get_past(repo: Path) -> None:
    _stage_change(repo)
    core = ScriptedCore([finding("app.py", 5, "high", "eval of user input")])
    before = _snapshot(repo)
    ran = run_in_process(repo, core, env=EMBEDDED)
    assert ran.code == EXIT_BLOCKED
    assert "app.py:5: high: eval of user input\n    fix: do the good thing\n" in ran.output
    assert "commit blocked: 1 finding at or above high on changed lines" in ran.output
    assert "--no-verify" in ran.output and "GEMMACODE_SKIP=1" in ran.output
    assert _snapshot(repo) == before  # index and work tree byte-identical


def test_finding_below_the_threshold_is_shown_and_passes(repo: Path) -> None:
    _stage_change(repo)
    core = ScriptedCore([finding("app.py", 5, "medium", "odd name")])
    ran = run_in_process(repo, core, env=EMBEDDED)
    assert ran.code == EXIT_OK
    assert "app.py:5: medium: odd name  (not blocking)" in ran.output
    ran = run_in_process(repo, core, env={**EMBEDDED, "GEMMACODE_HOOK_FAIL_ON": "medium"})
    assert ran.code == EXIT_BLOCKED  # (a cached review: only the decision changed)
    assert "(cached review)" in ran.output


def test_finding_on_an_unchanged_line_does_not_block(repo: Path) -> None:
    _stage_change(repo, 5)
    core = ScriptedCore([finding("app.py", 12, "critical", "old problem")])
    ran = run_in_process(repo, core, env=EMBEDDED)
    assert ran.code == EXIT_OK
    assert "app.py:12: critical: old problem  (not blocking)" in ran.output
    assert "1 on lines this commit does not change" in ran.output


def test_warn_mode_reports_without_blocking(repo: Path) -> None:
    _stage_change(repo)
    core = ScriptedCore([finding("app.py", 5)])
    ran = run_in_process(repo, core, env={**EMBEDDED, "GEMMACODE_HOOK_MODE": "warn"})
    assert ran.code == EXIT_OK
    assert "hook.mode = warn: not blocking" in ran.output


def test_skip_variable_and_mode_off_do_nothing(repo: Path) -> None:
    _stage_change(repo)
    core = ScriptedCore([finding("app.py", 5)])
    ran = run_in_process(repo, core, env={**EMBEDDED, "GEMMACODE_SKIP": "1"})
    assert (ran.code, core.opened) == (EXIT_OK, 0)
    assert "skipped" in ran.output
    ran = run_in_process(repo, core, env={**EMBEDDED, "GEMMACODE_HOOK_MODE": "off"})
    assert (ran.code, ran.output, core.opened) == (EXIT_OK, "", 0)


def test_inline_ignore_accepts_a_finding(repo: Path) -> None:
    _stage_change(repo, 5, "x5 = eval(input())  # gemmacode: ignore (trusted input)")
    core = ScriptedCore([finding("app.py", 5)])
    ran = run_in_process(repo, core, env=EMBEDDED)
    assert ran.code == EXIT_OK
    assert "1 ignored inline" in ran.output


def test_baseline_accepts_known_findings_so_only_new_ones_block(repo: Path) -> None:
    _stage_change(repo)
    known = finding("app.py", 5, "high", "eval of user input")
    core = ScriptedCore([known])
    assert run_in_process(repo, core, env=EMBEDDED).code == EXIT_BLOCKED
    from gemmacode.hook.baseline_cmd import write_current_baseline
    from gemmacode.hook.gitio import hook_context
    from gemmacode.hook.output import Printer
    from gemmacode.hook.run import HookIO

    said: list[str] = []
    env = {**os.environ, **EMBEDDED}
    io = HookIO(repo, env, Printer(said.append), opener=core.opener())
    assert write_current_baseline(hook_context(repo, env), replace=False, io=io) == EXIT_OK
    assert core.opened == 1  # the blocked commit's review was cached
    doc = json.loads((repo / ".gemmacode-baseline.json").read_text())
    assert [e["message"] for e in doc["accepted"]] == ["eval of user input"]
    assert run_in_process(repo, core, env=EMBEDDED).code == EXIT_OK
    # The same finding moved down two lines (code inserted above it): still accepted.
    lines = (repo / "app.py").read_text().splitlines()
    (repo / "app.py").write_text("\n".join(["y = 1", "z = 2", *lines]) + "\n")
    git(repo, "add", "app.py")
    moved = ScriptedCore([finding("app.py", 7, "high", "user input reaches eval")])
    ran = run_in_process(repo, moved, env=EMBEDDED)
    assert ran.code == EXIT_OK and "1 in the baseline" in ran.output
    _stage_change(repo, 1, "y = __import__('os').system(z)")
    new = ScriptedCore([finding("app.py", 1, "high", "new problem"), moved.findings[0]])
    ran = run_in_process(repo, new, env=EMBEDDED)
    assert ran.code == EXIT_BLOCKED and "1 in the baseline" in ran.output


def test_cache_hit_does_not_ask_the_model_again(repo: Path) -> None:
    _stage_change(repo)
    core = ScriptedCore([finding("app.py", 5)])
    assert run_in_process(repo, core, env=EMBEDDED).code == EXIT_BLOCKED
    ran = run_in_process(repo, core, env=EMBEDDED)
    assert (ran.code, core.opened) == (EXIT_BLOCKED, 1)
    cache = repo / ".git" / "gemmacode" / "hook"
    entries = list(cache.glob("*.json"))
    assert len(entries) == 1
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(entries[0].stat().st_mode) == 0o600
    # other content, another model or another seed: a new review
    _stage_change(repo, 6, "x6 = 66")
    run_in_process(repo, core, env=EMBEDDED)
    run_in_process(repo, core, env={**EMBEDDED, "GEMMACODE_HOOK_SEED": "7"})
    assert core.opened == 3


def test_nothing_reviewable_never_opens_the_core(repo: Path) -> None:
    (repo / "README.md").write_text("# hello\n")
    (repo / "package-lock.json").write_text("{}\n")
    (repo / "logo.png").write_bytes(b"\x89PNG\0\0")
    git(repo, "add", "-A")
    core = ScriptedCore([finding("README.md", 1)])
    ran = run_in_process(repo, core, env=EMBEDDED)
    assert (ran.code, core.opened) == (EXIT_OK, 0)
    assert "nothing to review" in ran.output
    assert "package-lock.json (lockfile)" in ran.output
    ran = run_in_process(repo, core, env={**EMBEDDED, "GEMMACODE_HOOK_REVIEW_DOCS": "true"})
    assert core.opened == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_fails_open_with_one_warning_and_strict_blocks(repo: Path) -> None:
    _stage_change(repo)
    core = ScriptedCore([finding("app.py", 5)])
    env = {"GEMMACODE_BACKEND_HOST": f"http://127.0.0.1:{_closed_port()}"}
    ran = run_in_process(repo, core, env=env)
    assert ran.code == EXIT_OK and core.opened == 0
    assert ran.output.count("\n") == 1
    assert ran.output.startswith("gemmacode: warning: commit not reviewed: no model server at")
    ran = run_in_process(repo, core, env={**env, "GEMMACODE_HOOK_STRICT": "1"})
    assert ran.code == EXIT_NOT_REVIEWED
    assert "commit blocked: not reviewed" in ran.output


def test_model_missing_fails_open_and_strict_blocks(repo: Path) -> None:
    _stage_change(repo)
    missing = ModelNotFoundError("model 'scripted' is not installed", "ollama pull scripted")
    core = ScriptedCore([], open_error=missing)
    ran = run_in_process(repo, core, env=EMBEDDED)
    assert ran.code == EXIT_OK
    assert "warning: commit not reviewed: model 'scripted' is not installed; ollama pull" in (
        ran.output
    )
    strict = run_in_process(repo, core, env={**EMBEDDED, "GEMMACODE_HOOK_STRICT": "true"})
    assert strict.code == EXIT_NOT_REVIEWED


def test_deadline_cuts_the_review_keeps_what_was_found_and_names_the_rest(repo: Path) -> None:
    _stage_change(repo)
    low = finding("app.py", 5, "low", "first part's finding")
    core = ScriptedCore([low, finding("app.py", 6, "high")], requests=2, delay_s=0.0)
    env = {**EMBEDDED, "GEMMACODE_HOOK_TIMEOUT_S": "3", "GEMMACODE_HOOK_CONNECT_TIMEOUT_S": "1"}
    core.delay_s = 1.6  # part 1 answers at 1.6 s, part 2 would at 3.2 s: past the deadline
    ran = run_in_process(repo, core, env=env)
    assert ran.code == EXIT_OK
    assert "app.py:5: low: first part's finding" in ran.output
    assert "not reviewed: parts 2-2 of 2" in ran.output
    assert "warning: commit not reviewed: only part of the change was reviewed" in ran.output
    assert not list((repo / ".git" / "gemmacode" / "hook").glob("*.json"))  # not cached
    core2 = ScriptedCore([finding("app.py", 5)], delay_s=5.0)
    strict = {**env, "GEMMACODE_HOOK_STRICT": "1"}
    assert run_in_process(repo, core2, env=strict).code == EXIT_NOT_REVIEWED


def test_request_is_sized_to_the_deadline_from_measured_speeds(repo: Path, tmp_path: Path) -> None:
    _stage_change(repo)
    cache_dir = Path(os.environ["GEMMACODE_CACHE_DIR"])
    store = SpeedStore(cache_dir / "speeds.json")
    key = SpeedStore.key("embedded", "local", "scripted")
    store._data[key] = Speed(prompt_tps=100.0, eval_tps=10.0, load_s=0.0, answer_tokens=100)
    store.save()
    core = ScriptedCore([])
    env = {**EMBEDDED, "GEMMACODE_HOOK_TIMEOUT_S": "30"}
    assert run_in_process(repo, core, env=env).code == EXIT_OK
    cap = core.specs[0].max_prompt_tokens
    # ~29.5 s left: 0.8 * 29.5 - 100/10 s of answer = ~13.6 s of prompt at 100 tokens/s
    assert cap is not None and 1250 <= cap <= 1400
    # A host too slow for even a small review is not asked at all.
    store._data[key] = Speed(prompt_tps=5.0, eval_tps=1.0, answer_tokens=200)
    store.save()
    _stage_change(repo, 7, "x7 = 70")
    slow = ScriptedCore([])
    ran = run_in_process(repo, slow, env=env)
    assert (ran.code, slow.opened) == (EXIT_OK, 0)
    assert "the smallest useful review takes about" in ran.output
    # (nothing is learnt from a review that was not run)
    saved = json.loads((cache_dir / "speeds.json").read_text())
    assert saved[key]["samples"] == 0


def test_speeds_are_learnt_from_finished_requests(repo: Path) -> None:
    _stage_change(repo)
    core = ScriptedCore([])
    run_in_process(repo, core, env=EMBEDDED)
    saved = json.loads((Path(os.environ["GEMMACODE_CACHE_DIR"]) / "speeds.json").read_text())
    speed = saved["embedded local scripted"]
    assert speed["prompt_tps"] == pytest.approx(2000.0)  # 800 tokens in 0.4 s
    assert speed["eval_tps"] == pytest.approx(100.0)


def test_loading_is_said_once(repo: Path) -> None:
    _stage_change(repo)
    core = ScriptedCore([], status_event=Reloading("scripted", 8192))
    ran = run_in_process(repo, core, env=EMBEDDED)
    assert ran.output.count("loading scripted") == 1


def test_bad_config_is_one_line_with_the_fix_and_exit_2(repo: Path) -> None:
    _stage_change(repo)
    (repo / ".gemmacode.toml").write_text("[hook]\nfail_on = 'severe'\n")
    ran = run_in_process(repo, ScriptedCore([]), env=EMBEDDED)
    assert ran.code == EXIT_USAGE
    assert "hook.fail_on" in ran.output and "--no-verify" in ran.output


def test_relative_index_file_is_read_from_where_git_started_the_hook(repo: Path) -> None:
    """A temporary index (git commit PATH / -a) named relatively is the one reviewed."""
    _stage_change(repo, 5, "x5 = 'staged in the real index'")
    tmp_index = repo / ".git" / "next-index-test.lock"
    env = {**os.environ, "GIT_INDEX_FILE": str(tmp_index)}
    import shutil
    import subprocess

    shutil.copyfile(repo / ".git" / "index", tmp_index)
    (repo / "app.py").write_text((repo / "app.py").read_text().replace("x9 = 9", "x9 = 'tmp'"))
    subprocess.run(["git", "-C", str(repo), "add", "app.py"], env=env, check=True)
    seen: list[str] = []

    def answer(spec: object) -> list[object]:
        from gemmacode.session.api import ReviewSpec

        assert isinstance(spec, ReviewSpec) and spec.index_file is not None
        out = subprocess.run(
            ["git", "-C", str(repo), "diff", "--cached"],
            env={**os.environ, "GIT_INDEX_FILE": str(spec.index_file)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        seen.append(out)
        return [finding("app.py", 9)]

    core = ScriptedCore(answer)  # type: ignore[arg-type]
    ran = run_in_process(
        repo, core, env={**EMBEDDED, "GIT_INDEX_FILE": ".git/next-index-test.lock"}
    )
    assert core.specs[0].index_file == tmp_index
    assert "x9 = 'tmp'" in seen[0]
    assert ran.code == EXIT_BLOCKED  # line 9 is changed in the temporary index only
