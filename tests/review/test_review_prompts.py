"""Prompt templates: shipped in the package, rendered with focus/extra only when asked, and
overridable from the user's config folder."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from gemmacode.errors import ConfigError
from gemmacode.review import prompts

VALUES = {
    "system": {},
    "review_file": {"target": "app.py", "focus": "", "extra": ""},
    "review_diff": {"target": "staged changes (2 files)", "focus": "", "extra": ""},
    "question": {"question": "What does parse() return?"},
    "merge": {"target": "app.py", "findings": '{"findings": []}'},
    "extract": {"lead": "List every problem.", "example_file": "app.py"},
}


def test_every_template_is_shipped_and_renders() -> None:
    assert set(VALUES) == set(prompts.NAMES)
    for name in prompts.NAMES:
        assert resources.files("gemmacode.prompts").joinpath(f"{name}.md").is_file()
        text = prompts.render(name, **VALUES[name])
        assert "$" not in text and text.endswith("\n") and len(text) < 1200
    assert "staged changes (2 files)" in prompts.render("review_diff", **VALUES["review_diff"])
    # the output format is shown by example, in the shape the schema asks for
    extract = prompts.render("extract", **VALUES["extract"])
    assert '{"findings": [{"file": "app.py", "line": 12' in extract


def test_focus_and_extra_are_injected_only_when_asked() -> None:
    assert prompts.focus_text([]) == "" and prompts.extra_text("  ") == ""
    text = prompts.render(
        "review_file",
        target="a.py",
        focus=prompts.focus_text(["security", "performance"]),
        extra=prompts.extra_text("We use SQLAlchemy; never raw SQL."),
    )
    assert "Focus on security: injection" in text and "and on performance:" in text
    assert "Project instructions: We use SQLAlchemy; never raw SQL." in text


def test_user_override_wins(tmp_path: Path) -> None:
    folder = Path(os.environ["GEMMACODE_CONFIG_DIR"]) / "prompts"
    folder.mkdir(parents=True)
    (folder / "review_file.md").write_text("Look hard at $target, then stop.$focus$extra\n")
    assert prompts.render("review_file", target="x.py", focus="", extra="") == (
        "Look hard at x.py, then stop.\n"
    )
    assert "senior software engineer" in prompts.render("system")  # others stay shipped


def test_bad_override_placeholder_is_a_one_line_error() -> None:
    folder = Path(os.environ["GEMMACODE_CONFIG_DIR"]) / "prompts"
    folder.mkdir(parents=True)
    (folder / "question.md").write_text("Answer $question about $repo_name\n")
    with pytest.raises(ConfigError) as info:
        prompts.render("question", question="why?")
    assert "question.md" in str(info.value) and "\n" not in str(info.value)


def test_shipped_templates_are_read_as_files_or_through_the_resource_loader(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shipped = {
        n: resources.files("gemmacode.prompts").joinpath(f"{n}.md").read_text()
        for n in prompts.NAMES
    }
    assert {n: prompts.load(n) for n in prompts.NAMES} == shipped
    # a plain folder is read directly: the resource loader (and zipfile) is not imported
    code = (
        "import sys\n"
        "from gemmacode.review import prompts\n"
        "prompts.load('system')\n"
        "print(sorted(m for m in ('importlib.resources', 'zipfile') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    # not a plain folder (a zip, say): the resource loader reads the same text
    import importlib.util

    real = importlib.util.find_spec

    def elsewhere(name: str, package: str | None = None) -> Any:
        spec = real(name, package)
        if name == "gemmacode.prompts" and spec is not None:
            spec = copy.copy(spec)  # the module's own spec stays as it is
            spec.submodule_search_locations = [str(tmp_path / "not-a-folder")]
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", elsewhere)
    assert {n: prompts.load(n) for n in prompts.NAMES} == shipped
