"""One real review end to end: the CLI, a staged diff, the embedded SmolLM2-135M-Instruct model
(llama.cpp), the schema-constrained findings pass and anchoring. A 135M model cannot review
code; this proves the plumbing, not the quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemmacode.cli import main
from tests.conftest import git

BEFORE = (
    "def total(items):\n"
    "    result = 0\n"
    "    for i in range(len(items)):\n"
    "        result += items[i]\n"
    "    return result\n"
)


@pytest.mark.slow
def test_staged_review_with_the_embedded_model(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "calc.py").write_text(BEFORE)
    git(git_repo, "add", "calc.py")
    git(git_repo, "commit", "-q", "-m", "c")
    (git_repo / "calc.py").write_text(BEFORE.replace("len(items)", "len(items) + 1"))
    git(git_repo, "add", "calc.py")
    monkeypatch.chdir(git_repo)
    monkeypatch.setenv("GEMMACODE_SAMPLING_NUM_PREDICT", "48")
    monkeypatch.setenv("GEMMACODE_SAMPLING_TEMPERATURE", "0.1")
    code = main(
        [
            "review",
            "--staged",
            "--backend",
            "embedded",
            "--model",
            "smollm2",
            "--num-ctx",
            "2048",
            "--no-prose",
            "--json",
            "--fail-on",
            "never",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    assert doc["model"] == "smollm2"
    assert doc["stats"]["requests"] == 1
    assert doc["stats"]["prompt_tokens"] and doc["stats"]["prompt_tokens"] > 100
    for finding in doc["findings"]:  # whatever the model says, it points at reviewed lines
        assert finding["file"] == "calc.py" and 1 <= finding["line"] <= 5
