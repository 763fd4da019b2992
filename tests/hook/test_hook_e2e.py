"""End to end: real ``git commit`` runs trigger the installed hook, which reviews through the
real core against the fake Ollama server (tests/fakes/ollama_server.py) answering with a
known findings document; assertions are on the exit, the output, and what was sent."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmacode.hook.gitio import hook_context
from gemmacode.hook.install import install
from tests.conftest import git
from tests.fakes.ollama_server import FakeOllama
from tests.hook.conftest import commit_all
from tests.hook.test_hook_commit import commit, commit_env, head_count


class Answers:
    """The fake server's findings answer, set per test; every prompt it was sent."""

    def __init__(self) -> None:
        self.findings: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> str:
        return json.dumps({"findings": self.findings})


def planted(file: str, line: int, severity: str = "high", msg: str = "eval of input") -> dict:
    return {
        "file": file,
        "line": line,
        "end_line": line,
        "severity": severity,
        "category": "security",
        "message": msg,
        "suggestion": "parse the input instead",
    }


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def server(answers: Answers) -> Iterator[FakeOllama]:
    with FakeOllama(answer=answers, load_s=0.01) as fake:
        yield fake


def env_for(server: FakeOllama, **extra: str) -> dict[str, str]:
    return commit_env(OLLAMA_HOST=server.host, **extra)


def prompts(server: FakeOllama) -> list[str]:
    return [
        "\n".join(m["content"] for m in body["messages"]) for body in server.bodies("/api/chat")
    ]


CODE = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(1, 11))


@pytest.fixture
def hooked(git_repo: Path) -> Path:
    """A repository with ``app.py`` (ten small functions) committed and the hook installed."""
    (git_repo / "app.py").write_text(CODE)
    commit_all(git_repo)
    install(hook_context(git_repo, commit_env()), "pre-commit", python=sys.executable)
    return git_repo


def edit(repo: Path, old: str, new: str, path: str = "app.py") -> None:
    (repo / path).write_text((repo / path).read_text().replace(old, new, 1))


def line_of(repo: Path, text: str, path: str = "app.py") -> int:
    return (repo / path).read_text().splitlines().index(text) + 1


def test_clean_commit_passes_with_the_hooks_sampling(
    hooked: Path, server: FakeOllama, answers: Answers
) -> None:
    edit(hooked, "return x + 3", "return x + 33")
    git(hooked, "add", "app.py")
    code, out = commit(hooked, "-m", "clean", env=env_for(server))
    assert code == 0, out
    assert "review passed: no findings" in out
    assert "loading gemma4:e4b" in out  # nothing was in memory
    (body,) = server.bodies("/api/chat")  # one constrained pass, no prose
    assert body["format"]["required"] == ["findings"] and body["think"] is False
    assert (body["options"]["temperature"], body["options"]["seed"]) == (0.1, 42)
    assert "return x + 33" in prompts(server)[0]


def test_planted_high_finding_blocks_low_passes_unchanged_line_passes(
    hooked: Path, server: FakeOllama, answers: Answers
) -> None:
    edit(hooked, "return x + 3", "return eval(input())")
    git(hooked, "add", "app.py")
    changed = line_of(hooked, "    return eval(input())")
    answers.findings = [planted("app.py", changed)]
    code, out = commit(hooked, "-m", "risky", env=env_for(server))
    assert code == 1, out
    assert f"app.py:{changed}: high: eval of input\n    fix: parse the input instead" in out
    assert "commit blocked: 1 finding at or above high on changed lines" in out
    assert head_count(hooked) == 1
    edit(hooked, "return x + 4", "return x + 44")  # new content: a new review
    git(hooked, "add", "app.py")
    answers.findings = [planted("app.py", changed, "low")]
    code, out = commit(hooked, "-m", "low", env=env_for(server))
    assert code == 0 and f"app.py:{changed}: low: eval of input  (not blocking)" in out
    edit(hooked, "return x + 5", "return x + 55")
    git(hooked, "add", "app.py")
    context = line_of(hooked, "def f5(x):")  # shown as context, not changed
    answers.findings = [planted("app.py", context, "critical")]
    code, out = commit(hooked, "-m", "old", env=env_for(server))
    assert code == 0 and "(not blocking)" in out, out
    assert head_count(hooked) == 3


def test_cache_hit_sends_nothing_the_second_time(
    hooked: Path, server: FakeOllama, answers: Answers
) -> None:
    edit(hooked, "return x + 3", "return eval(input())")
    git(hooked, "add", "app.py")
    answers.findings = [planted("app.py", line_of(hooked, "    return eval(input())"))]
    assert commit(hooked, "-m", "one", env=env_for(server))[0] == 1
    sent = len(server.bodies("/api/chat"))
    code, out = commit(hooked, "-m", "a better message", env=env_for(server))
    assert code == 1 and "(cached review)" in out
    assert len(server.bodies("/api/chat")) == sent


def test_partial_staging_reviews_only_the_staged_lines(
    hooked: Path, server: FakeOllama, answers: Answers
) -> None:
    edit(hooked, "return x + 2", "return x + 222  # staged")
    edit(hooked, "return x + 9", "return x + 999  # not staged")
    subprocess.run(
        ["git", "add", "-p", "app.py"],
        cwd=hooked,
        input="y\nn\n",
        text=True,
        env=commit_env(),
        capture_output=True,
        check=True,
    )
    code, out = commit(hooked, "-m", "part", env=env_for(server))
    assert code == 0, out
    sent = "\n".join(prompts(server))
    assert "x + 222  # staged" in sent and "not staged" not in sent and "x + 999" not in sent


def test_commit_a_and_commit_path_review_the_temporary_index(
    hooked: Path, server: FakeOllama, answers: Answers
) -> None:
    edit(hooked, "return x + 6", "return x + 666  # only in the work tree")
    answers.findings = [
        planted("app.py", line_of(hooked, "    return x + 666  # only in the work tree"))
    ]
    code, out = commit(hooked, "-a", "-m", "all", env=env_for(server))
    assert code == 1, out  # the change is in the temporary index, so it is reviewed
    assert "x + 666" in "\n".join(prompts(server))
    edit(hooked, "return x + 7", "return x + 777  # path commit")
    answers.findings = []
    code, out = commit(hooked, "-m", "path", "app.py", env=env_for(server))
    assert code == 0, out
    last = prompts(server)[-1]
    assert "x + 777  # path commit" in last and "x + 666" in last
    assert git(hooked, "status", "--porcelain") == ""


def test_first_commit_amend_and_merge(git_repo: Path, server: FakeOllama, answers: Answers) -> None:
    install(hook_context(git_repo, commit_env()), "pre-commit", python=sys.executable)
    (git_repo / "app.py").write_text(CODE)
    git(git_repo, "add", "app.py")
    answers.findings = [planted("app.py", 2)]
    code, out = commit(git_repo, "-m", "first", env=env_for(server))
    assert code == 1 and "app.py:2: high" in out  # no HEAD: everything is new
    answers.findings = []
    assert commit(git_repo, "-m", "first", env=env_for(server, GEMMACODE_SKIP="1"))[0] == 0
    code, out = commit(git_repo, "--amend", "-m", "first, reworded", env=env_for(server))
    assert code == 0 and "nothing to review" in out, out
    # a merge: only what the merge itself writes can block, not what the branch brings
    git(git_repo, "checkout", "-q", "-b", "side")
    edit(git_repo, "return x + 2", "return x + 2 + side()")
    edit(git_repo, "return x + 8", "return x + 8 + from_side()")
    commit_all(git_repo, "side")
    git(git_repo, "checkout", "-q", "main")
    edit(git_repo, "return x + 2", "return x + 2 + main()")
    commit_all(git_repo, "main")
    merged = subprocess.run(
        ["git", "merge", "side"], cwd=git_repo, env=commit_env(), capture_output=True, check=False
    )
    assert merged.returncode != 0  # a conflict in f2
    text = CODE.replace("return x + 2", "return x + 2 + both()")
    (git_repo / "app.py").write_text(text.replace("return x + 8", "return x + 8 + from_side()"))
    git(git_repo, "add", "app.py")
    resolved = line_of(git_repo, "    return x + 2 + both()")
    brought = line_of(git_repo, "    return x + 8 + from_side()")
    answers.findings = [
        planted("app.py", resolved, msg="in the resolution"),
        planted("app.py", brought, msg="from the branch"),
    ]
    code, out = commit(git_repo, "--no-edit", env=env_for(server))
    assert code == 1 and f"app.py:{resolved}: high: in the resolution\n" in out, out
    assert f"app.py:{brought}: high: from the branch  (not blocking)" in out
    assert "commit blocked: 1 finding" in out


def test_worktree_and_submodule_commits(
    hooked: Path, tmp_path: Path, server: FakeOllama, answers: Answers
) -> None:
    wt = tmp_path / "wt"
    git(hooked, "worktree", "add", "-q", str(wt), "-b", "side")
    edit(wt, "return x + 3", "return eval(input())")
    git(wt, "add", "app.py")
    answers.findings = [planted("app.py", line_of(wt, "    return eval(input())"))]
    code, out = commit(wt, "-m", "wt", env=env_for(server))
    assert code == 1 and "commit blocked" in out, out
    assert list((hooked / ".git" / "worktrees" / "wt" / "gemmacode" / "hook").glob("*.json"))
    sub = tmp_path / "lib"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    (sub / "lib.py").write_text(CODE)
    commit_all(sub, "lib")
    git(hooked, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "lib")
    inner = hooked / "lib"
    install(hook_context(inner, commit_env()), "pre-commit", python=sys.executable)
    edit(inner, "return x + 8", "return eval(input())", "lib.py")
    git(inner, "add", "lib.py")
    answers.findings = [planted("lib.py", line_of(inner, "    return eval(input())", "lib.py"))]
    code, out = commit(inner, "-m", "sub", env=env_for(server))
    assert code == 1 and "lib.py:" in out, out


def _tree_and_index(repo: Path) -> dict[str, str]:
    out = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and (not rel.startswith(".git/") or rel == ".git/index"):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_hook_run_leaves_index_and_work_tree_byte_identical(
    hooked: Path, server: FakeOllama, answers: Answers
) -> None:
    edit(hooked, "return x + 3", "return eval(input())")
    git(hooked, "add", "app.py")
    edit(hooked, "return x + 4", "return x + 4  # unstaged")
    os.utime(hooked / "app.py", (1, 1))  # a stale stat cache git would love to refresh
    answers.findings = [planted("app.py", line_of(hooked, "    return eval(input())"))]
    before = _tree_and_index(hooked)
    run = subprocess.run(
        [sys.executable, "-m", "gemmacode", "hook", "run", "pre-commit"],
        cwd=hooked,
        env=env_for(server),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert _tree_and_index(hooked) == before


def test_deadline_fails_open_with_a_note_and_strict_blocks(
    hooked: Path, server: FakeOllama, answers: Answers
) -> None:
    server.token_delay_s = 0.5  # a very slow model: the answer cannot arrive in time
    answers.findings = [planted("app.py", 6)]
    edit(hooked, "return x + 3", "return eval(input())")
    git(hooked, "add", "app.py")
    env = env_for(server, GEMMACODE_HOOK_TIMEOUT_S="4", GEMMACODE_HOOK_CONNECT_TIMEOUT_S="1")
    code, out = commit(hooked, "-m", "slow", env={**env, "GEMMACODE_HOOK_STRICT": "1"})
    assert code != 0 and "commit blocked: not reviewed" in out, out
    code, out = commit(hooked, "-m", "slow", env=env)
    assert code == 0, out
    assert "warning: commit not reviewed" in out and "deadline" in out


def test_an_already_loaded_model_is_not_reloaded_at_another_size(
    hooked: Path, server: FakeOllama, answers: Answers
) -> None:
    import httpx

    body = {
        "model": "gemma4:e4b",
        "messages": [{"role": "user", "content": "warm up"}],
        "options": {"num_ctx": 12288},
        "stream": False,
    }
    httpx.post(f"{server.host}/api/chat", json=body, timeout=10)  # the TUI's session, say
    edit(hooked, "return x + 3", "return x + 33")
    git(hooked, "add", "app.py")
    code, out = commit(hooked, "-m", "x", env=env_for(server))
    assert code == 0, out
    assert "loading" not in out
    hook_request = server.bodies("/api/chat")[-1]
    assert hook_request["options"]["num_ctx"] == 12288


@pytest.mark.slow
def test_one_commit_with_the_real_embedded_model(hooked: Path) -> None:
    """SmolLM2-135M in-process: real tokens, a real constrained answer (its findings are not
    a review; the mechanics are what is checked), real speeds learnt; then the commit reads
    the same review back from the cache."""
    edit(hooked, "return x + 3", "return eval(input())")
    git(hooked, "add", "app.py")
    env = commit_env(
        GEMMACODE_BACKEND_KIND="embedded",
        GEMMACODE_BACKEND_MODEL="smollm2",
        GEMMACODE_HOOK_NUM_PREDICT="96",  # a short answer: 2 shared cores are slow
        GEMMACODE_HOOK_TIMEOUT_S="180",
    )
    run = subprocess.run(
        [sys.executable, "-m", "gemmacode", "hook", "run", "pre-commit"],
        cwd=hooked,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    out = run.stderr
    assert "warning" not in out and "not reviewed" not in out, out
    assert run.returncode == (1 if "commit blocked" in out else 0), out
    verdict = [line for line in out.splitlines() if line.startswith("gemmacode: ")]
    assert verdict[-1].startswith(("gemmacode: review passed", "gemmacode: fix it")), out
    speeds = json.loads((Path(os.environ["GEMMACODE_CACHE_DIR"]) / "speeds.json").read_text())
    learnt = speeds["embedded local smollm2"]
    assert learnt["samples"] >= 1 and learnt["eval_tps"] > 0 and learnt["prompt_tps"] > 0
    code, again = commit(hooked, "-m", "embedded", env=env)
    assert code == run.returncode and "(cached review)" in again, again


def test_a_slow_host_gets_requests_sized_to_the_deadline(
    hooked: Path, server: FakeOllama, answers: Answers
) -> None:
    """Speeds measured earlier on this host (100 prompt tokens/s, 20 answer tokens/s): with
    a 30 s deadline each request is capped near (0.8 * ~29 s - 5 s) * 100 = ~1,800 prompt
    tokens, so a change larger than that is reviewed in parts that each finish in time."""
    cache = Path(os.environ["GEMMACODE_CACHE_DIR"])
    cache.mkdir(parents=True, exist_ok=True)
    key = f"ollama {server.host} gemma4:e4b"
    speed = {"prompt_tps": 100.0, "eval_tps": 20.0, "load_s": 0.0, "answer_tokens": 100.0}
    (cache / "speeds.json").write_text(json.dumps({key: {**speed, "samples": 5}}))
    body = "".join(f"    total += compute_{i}(x, y, z)  # step {i}\n" for i in range(120))
    (hooked / "big.py").write_text("".join(f"def g{k}(x, y, z):\n{body}\n\n" for k in range(6)))
    git(hooked, "add", "big.py")
    code, out = commit(hooked, "-m", "big", env=env_for(server, GEMMACODE_HOOK_TIMEOUT_S="30"))
    assert code == 0, out
    assert len(server.streams) >= 2  # reviewed in parts
    assert max(s.prompt_tokens for s in server.streams) <= 2000


HELPERS = """
import sys
from gemmacode.tokens.helper import TokenizerHelper

started, counted_by = [], set()
real_init, real_count = TokenizerHelper.__init__, TokenizerHelper.count


def init(self, proc):  # the client end of each helper process started (session/startup.py)
    real_init(self, proc)
    started.append(self)


def count(self, text):
    counted_by.add(id(self))
    return real_count(self, text)


TokenizerHelper.__init__ = init
TokenizerHelper.count = count

from gemmacode.review import related

searches, real_search = [], related.GrepRelated.start


def search(self, names, languages=()):
    if not any(s is self for s in searches):
        searches.append(self)
    real_search(self, names, languages)


related.GrepRelated.start = search
from gemmacode.hook.entry import main

code = main(["run", "pre-commit"])
first = {id(started[0])} if started else set()
alive = any(h.alive for h in started)
print("RESULT", code, len(started), counted_by <= first, bool(counted_by), alive)
print("SEARCHES", len(searches))
"""


@pytest.mark.parametrize("case", ["review", "nothing-reviewable", "server-down"])
def test_the_helper_starts_first_and_related_code_is_searched_once(
    hooked: Path, server: FakeOllama, case: str
) -> None:
    env = env_for(server)
    if case == "nothing-reviewable":
        (hooked / "NOTES.md").write_text("notes\n")
        git(hooked, "add", "NOTES.md")
    else:
        edit(hooked, "return x + 3", "return x + 33")
        git(hooked, "add", "app.py")
    if case == "server-down":
        env = commit_env()  # a closed port
    out = subprocess.run(
        [sys.executable, "-c", HELPERS],
        cwd=hooked,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
    )
    result = next(line for line in out.stdout.splitlines() if line.startswith("RESULT"))
    # one helper, started before anything else, counted every token of the review (none when
    # nothing is reviewed), and is gone when the hook returns
    reviewed = case == "review"
    assert result == f"RESULT 0 1 True {reviewed} False", out.stderr
    # the diff read early (session/early.py) is the one reviewed: one search, not two; no
    # search at all when nothing is reviewed or no server answers
    assert f"SEARCHES {int(reviewed)}" in out.stdout
    assert bool(server.bodies("/api/chat")) == reviewed
