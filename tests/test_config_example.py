"""The commented example must document every setting, so it cannot drift from the code."""

from __future__ import annotations

import tomllib
from pathlib import Path

from gemmacode.config import describe

ROOT = Path(__file__).resolve().parent.parent


def test_example_user_file_lists_every_key_with_its_default() -> None:
    doc = tomllib.loads((ROOT / ".config-example" / "config.toml").read_text())
    for key, _, default in describe():
        section, name = key.split(".")
        assert doc[section][name] == default, key
