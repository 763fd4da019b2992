"""``gemmacode map`` end to end on small real repositories indexed by the real indexer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemmacode.cli import main
from gemmacode.repomap.build import build_map
from gemmacode.tokens.calibration import PRIOR_FACTOR
from gemmacode.tokens.counter import TokenCounter
from tests.conftest import git

MODELS = '''\
class Account:
    """A bank account."""

    def deposit(self, amount):
        self.balance += amount

    def withdraw(self, amount):
        self.balance -= amount


def open_account(owner):
    return Account()
'''

SERVICE = """\
from bank.models import Account, open_account


class TransferService:
    def transfer(self, source, target, amount):
        source.withdraw(amount)
        target.deposit(amount)


def make_service():
    account = open_account("x")
    account.deposit(1)
    return TransferService()
"""

CLI = """\
from bank.service import make_service, TransferService


def main():
    service = make_service()
    service.transfer(None, None, 1)
"""

REPORT = """\
def monthly_report(rows):
    return [r for r in rows]
"""


@pytest.fixture
def bank(git_repo: Path) -> Path:
    (git_repo / "bank").mkdir()
    (git_repo / "bank" / "models.py").write_text(MODELS)
    (git_repo / "bank" / "service.py").write_text(SERVICE)
    (git_repo / "bank" / "cli.py").write_text(CLI)
    (git_repo / "bank" / "report.py").write_text(REPORT)
    (git_repo / "README.md").write_text("# Bank\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "bank")
    return git_repo


def run_map(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["map", "--root", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_map_prints_the_outline_most_used_first(
    bank: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_map(bank, capsys, "--tokens", "2048")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "bank/models.py:"
    assert "1: class Account:" in lines
    assert "4:   def deposit(self, amount):" in lines
    assert any(line.startswith("bank/service.py") for line in lines)
    assert TokenCounter().count(out) <= 2048


def test_map_json_is_stable_and_within_budget(
    bank: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_map(bank, capsys, "--tokens", "40", "--json")
    assert code == 0
    doc = json.loads(out)
    assert list(doc) == ["root", "budget", "tokens", "files", "symbols", "text"]
    assert doc["budget"] == 40 and doc["tokens"] <= 40
    # Before any calibration the CLI counts with the configured prior factor.
    assert doc["tokens"] == TokenCounter(PRIOR_FACTOR).count(doc["text"])
    first = doc["symbols"][0]
    assert list(first) == ["file", "name", "kind", "scope", "line", "end_line", "signature"]
    assert doc["files"][0] in doc["text"]
    _, again, _ = run_map(bank, capsys, "--tokens", "40", "--json")
    assert again == out


def test_focus_and_question_lean_the_map(bank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, plain, _ = run_map(bank, capsys, "--tokens", "30", "--json")
    _, asked, _ = run_map(bank, capsys, "--tokens", "30", "--json", "--question", "monthlyReport?")
    assert json.loads(asked)["symbols"][0]["name"] == "monthly_report"
    assert "monthly_report" not in json.loads(plain)["text"]
    code, focused, _ = run_map(
        bank, capsys, "--tokens", "60", "--json", "--focus", str(bank / "bank" / "cli.py")
    )
    assert code == 0
    names = [s["name"] for s in json.loads(focused)["symbols"]]
    assert names.index("make_service") < names.index("open_account")


def test_map_errors_are_one_line(bank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_map(bank, capsys, "--tokens", "8")
    assert code == 2 and err.count("\n") == 1 and "--tokens 8 is too small" in err
    code, _, err = run_map(bank, capsys, "--focus", str(bank / "nope.py"))
    assert code == 2 and err.count("\n") == 1 and "is not an indexed file" in err


def test_map_on_a_real_index_matches_the_library(bank: Path) -> None:
    from gemmacode.config import load_settings
    from gemmacode.index.indexer import open_index

    settings = load_settings(bank, {}, {})
    index = open_index(bank, settings.index)
    m = build_map(index, TokenCounter(), 2048)
    assert {s.name for s in m.symbols} >= {"Account", "deposit", "TransferService", "main"}
    assert m.tokens == TokenCounter().count(m.text) <= 2048
    assert m.files[0] == "bank/models.py"


def test_map_of_this_repository(tmp_path: Path) -> None:
    """A real repository indexed for real: within budget, at least 90% full, repeatable."""
    from gemmacode.config import load_settings
    from gemmacode.index.indexer import open_index

    root = Path(__file__).resolve().parents[2]
    index = open_index(root, load_settings(root, {}, {}).index, cache_dir=tmp_path / "idx")
    counter = TokenCounter()
    for tokens in (256, 1024, 2048):
        m = build_map(index, counter, tokens)
        assert 0.9 * tokens <= m.tokens == counter.count(m.text) <= tokens
        assert build_map(index, TokenCounter(), tokens, cache_dir=tmp_path / "map") == m
    asked = build_map(index, counter, 512, question="how does build_map fit the budget?")
    assert asked.symbols[0].name == "build_map"
    assert asked.files[0] == "gemmacode/repomap/build.py"


def test_tag_tuples_match_the_decoded_records_and_give_the_same_map(bank: Path) -> None:
    """The map ranks from plain tag tuples and builds ``Symbol`` objects only for the files it
    shows; that path must agree with the decoded records, field for field."""
    from gemmacode.config import load_settings
    from gemmacode.index.indexer import open_index
    from gemmacode.repomap.build import tags_from_records

    settings = load_settings(bank, {}, {})
    fresh = open_index(bank, settings.index)
    lazy = build_map(fresh, TokenCounter(), 300, question="transfer deposit")
    assert fresh.tag_tuples() == tags_from_records(fresh.files)  # decodes them all now
    decoded = open_index(bank, settings.index)

    class Records:  # only the decoded records: the slow, object-based path
        files = decoded.files

    assert build_map(Records(), TokenCounter(), 300, question="transfer deposit") == lazy
    assert decoded.tags_of("no/such/file.py") == ([], [])


def test_map_command_leaves_the_garbage_collector_as_it_found_it(
    bank: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command pauses the collector while it works; in-process callers get it back."""
    import gc

    assert gc.isenabled()
    code, _, _ = run_map(bank, capsys, "--tokens", "64")
    assert code == 0 and gc.isenabled()
