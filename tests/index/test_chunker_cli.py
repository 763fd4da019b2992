"""``gemmacode chunks PATH`` end to end: human lines, stable JSON, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemmacode.cli import main

SOURCE = "".join(
    f"def handler_{i}(request):\n    value = request.get({i})\n    return value * {i}\n\n\n"
    for i in range(30)
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["chunks", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_chunks_rebuild_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "views.py"
    path.write_bytes(SOURCE.encode() + b"x = '\xff'\r\n")
    code, out, _ = run(capsys, str(path), "--budget", "64", "--json", "--root", str(tmp_path))
    assert code == 0
    doc = json.loads(out)
    assert list(doc) == ["file", "language", "budget", "tokens", "chunks"]
    assert doc["file"] == "views.py" and doc["language"] == "python" and doc["budget"] == 64
    chunks = doc["chunks"]
    assert list(chunks[0]) == [
        "start_line",
        "end_line",
        "start_byte",
        "end_byte",
        "scope",
        "tokens",
        "text",
    ]
    assert "".join(c["text"] for c in chunks) == path.read_bytes().decode("utf-8", "replace")
    assert all(0 < c["tokens"] <= 64 for c in chunks)
    assert doc["tokens"] == sum(c["tokens"] for c in chunks)
    # Cuts fall between definitions: each chunk starts with one.
    assert len(chunks) > 1 and all(c["text"].startswith("def handler_") for c in chunks[:-1])


def test_human_output_lists_line_ranges_and_scopes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Raw tiktoken counts (no prior factor) keep the expected layout easy to check by hand.
    monkeypatch.setenv("GEMMACODE_CONTEXT_TOKEN_PRIOR", "1.0")
    path = tmp_path / "big.py"
    path.write_text(
        "class Big:\n" + "".join(f"    def m{i}(self):\n        return {i}\n" for i in range(40))
    )
    code, out, _ = run(capsys, str(path), "--budget", "40", "--root", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("big.py (python): ") and "budget 40 tokens" in lines[0]
    assert all(line.startswith("  lines ") for line in lines[1:])
    # Three methods per chunk: the class is their scope; the last method alone is its own.
    assert lines[1].split() == ["lines", "1-7", "36", "tokens", "Big"]
    assert lines[-1].split() == ["lines", "80-81", "11", "tokens", "Big.m39"]


def test_default_budget_comes_from_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMMACODE_CHUNKS_TOKENS", "48")
    path = tmp_path / "notes.md"
    path.write_text(("Some words here.\n" * 30 + "\n") * 4)
    code, out, _ = run(capsys, str(path), "--json", "--root", str(tmp_path))
    doc = json.loads(out)
    assert code == 0 and doc["budget"] == 48 and doc["language"] == "text"
    assert all(c["tokens"] <= 48 for c in doc["chunks"])


def test_shebang_scripts_are_parsed_as_their_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tool"
    path.write_text("#!/usr/bin/env python3\ndef main():\n    pass\n")
    _, out, _ = run(capsys, str(path), "--json", "--root", str(tmp_path))
    assert json.loads(out)["language"] == "python"


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" * 10)
    cases = [
        ([str(tmp_path / "missing.py")], "no such file"),
        ([str(tmp_path)], "is a directory"),
        ([str(tmp_path / "ok.py"), "--budget", "15"], "--budget 15 is too small"),
        ([str(tmp_path / "blob.bin")], "looks binary"),
    ]
    for args, message in cases:
        code, out, err = run(capsys, *args, "--root", str(tmp_path))
        assert code == 2 and out == ""
        assert err.startswith("gemmacode: error: ") and message in err and err.count("\n") == 1


def test_an_empty_file_has_no_chunks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.py").write_text("")
    code, out, _ = run(capsys, str(tmp_path / "empty.py"), "--json", "--root", str(tmp_path))
    assert code == 0 and json.loads(out)["chunks"] == []
    code, out, _ = run(capsys, str(tmp_path / "empty.py"), "--root", str(tmp_path))
    assert code == 0 and "0 chunks" in out
