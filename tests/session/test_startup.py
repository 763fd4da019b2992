"""Start-up tuning lives in one module with one entry point: the short commands (``review``,
``ask``, ``map``) go through ``gemmacode.session.startup.prewarm`` and close it, and no other
module of the package spawns the tokenizer helper, pauses the collector or starts warming
threads on its own."""

from __future__ import annotations

import ast
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemmacode.cli import main
from gemmacode.session import startup
from tests.conftest import git
from tests.fakes.ollama_server import FakeOllama

PACKAGE = Path(__file__).resolve().parents[2] / "gemmacode"

# Modules allowed each kind of trick, and why it is not start-up tuning there.
ALLOWED = {
    "gc": {
        "session/startup.py": "the entry point",
        # indexing's bulk allocation, paused in worker processes and the UI's background
        # refresh as much as in a command: throughput, not start-up
        "index/workers.py": "the indexer's gc_paused",
    },
    "thread": {
        "session/startup.py": "the entry point",
        "gpu/monitor.py": "a live session's sampling thread",
        # a finished request's prompt counted while the answer streams: the request path
        "context/model_session.py": "the prompt counts beside the answer",
    },
    "helper": {"session/startup.py": "the entry point"},
}
GC_CALLS = {"disable", "enable", "freeze", "unfreeze", "collect", "set_threshold"}


def _tricks(tree: ast.AST) -> set[str]:
    """Which kinds of start-up trick a module's code performs."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "gc" and node.func.attr in GC_CALLS:
                found.add("gc")
            if isinstance(owner, ast.Name) and owner.id == "threading":
                if node.func.attr == "Thread":
                    found.add("thread")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("TokenizerHelper", "Thread"):
                found.add("helper" if node.func.id == "TokenizerHelper" else "thread")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "TokenizerHelper":
                found.add("helper")  # a constructor of its own, say TokenizerHelper.start()
        if isinstance(node, ast.Constant) and node.value == "gemmacode.tokens.helper":
            found.add("helper")  # a command line that starts the helper process
    return found


def test_no_module_outside_startup_does_its_own_start_up_trick() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for kind in _tricks(ast.parse(path.read_text(), str(path))):
            if rel not in ALLOWED[kind]:
                offenders.append(f"{rel}: {kind}")
    assert offenders == [], "start-up tricks belong in gemmacode/session/startup.py"


def test_the_scan_sees_each_trick() -> None:
    """The check above can fail: each kind of trick is found where it is written."""
    assert _tricks(ast.parse("import gc\ngc.disable()\n")) == {"gc"}
    assert _tricks(ast.parse("import threading\nthreading.Thread(target=f).start()\n")) == {
        "thread"
    }
    spawn = "subprocess.Popen([sys.executable, '-m', 'gemmacode.tokens.helper'])"
    assert _tricks(ast.parse(spawn)) == {"helper"}
    assert _tricks(ast.parse("TokenizerHelper(proc)")) == {"helper"}
    assert _tricks(ast.parse("TokenizerHelper.start()")) == {"helper"}
    assert _tricks(ast.parse("gc.isenabled()\nthreading.Lock()\n")) == set()


@pytest.fixture
def prewarms(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Each prewarm a command makes: its arguments, whether the collector was running while
    the command worked (``gc_on_at_work``) and whether it was closed."""
    made: list[dict[str, Any]] = []
    real = startup.prewarm

    def recording(settings: Any, **kw: Any) -> startup.Prewarm:
        warm = real(settings, **kw)
        record: dict[str, Any] = {"kw": kw, "closed": False}
        made.append(record)
        close = warm.close

        def closing() -> None:
            record["closed"] = True
            close()

        warm.close = closing  # type: ignore[method-assign]
        return warm

    monkeypatch.setattr(startup, "prewarm", recording)
    yield made


def _commands_import_prewarm_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command modules hold ``prewarm`` by name: point them at the recording one."""
    from gemmacode.commands import ask_cmd, map_cmd, review_cmd

    for module in (ask_cmd, map_cmd, review_cmd):
        monkeypatch.setattr(module, "prewarm", startup.prewarm)


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / "app.py").write_text(
        "def total(items):\n    return sum(i.price for i in items)\n\n\n"
        "def report(items):\n    return f'total {total(items)}'\n"
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "base")
    return git_repo


def test_map_goes_through_prewarm_with_the_collector_paused(
    repo: Path,
    prewarms: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gemmacode.repomap import build

    _commands_import_prewarm_afresh(monkeypatch)
    seen: list[bool] = []
    real_build = build.build_map

    def recording(*args: Any, **kw: Any) -> Any:
        seen.append(gc.isenabled())
        return real_build(*args, **kw)

    monkeypatch.setattr(build, "build_map", recording)
    assert gc.isenabled()
    assert main(["map", "--root", str(repo), "--tokens", "64"]) == 0
    assert "def total" in capsys.readouterr().out
    assert [(p["kw"], p["closed"]) for p in prewarms] == [
        ({"client": False, "pause_gc": True}, True)
    ]
    assert seen == [False]  # paused while the map was built
    assert gc.isenabled() and gc.get_freeze_count() == 0  # given back as it was


def test_ask_goes_through_prewarm(
    repo: Path,
    prewarms: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _commands_import_prewarm_afresh(monkeypatch)
    monkeypatch.chdir(repo)
    assert main(["ask", "what does total do?", "--explain-context", "--num-ctx", "4096"]) == 0
    assert "def total(items):" in capsys.readouterr().out
    with FakeOllama(answer="It adds the prices.") as server:
        assert main(["ask", "what does total do?", "--host", server.host]) == 0
        assert len(server.bodies("/api/chat")) == 1
    assert capsys.readouterr().out == "It adds the prices.\n"
    # planning with a pinned size needs no client library; the real question does
    assert [(p["kw"], p["closed"]) for p in prewarms] == [
        ({"client": False, "pause_gc": True}, True),
        ({"client": True, "pause_gc": True}, True),
    ]
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_an_empty_question_is_refused_before_anything_starts(
    repo: Path, prewarms: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _commands_import_prewarm_afresh(monkeypatch)
    monkeypatch.chdir(repo)
    assert main(["ask", "  "]) == 2
    assert prewarms == []


def test_without_a_helper_the_tables_load_in_the_background(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from gemmacode.config import load_settings
    from gemmacode.tokens import encoding

    monkeypatch.setattr(encoding, "_helper", None)
    monkeypatch.setattr(encoding, "_encoding", None)
    monkeypatch.setattr(sys, "executable", "")  # an embedded interpreter: nothing to spawn
    warm = startup.prewarm(load_settings(None, {}, {"context.num_ctx": 8192}), client=False)
    try:
        assert warm._helper is None and encoding._helper is None
    finally:
        warm.close()  # waits for the loading thread
    assert encoding.loaded()
