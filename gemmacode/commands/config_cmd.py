"""``gemmacode config``: print every setting in force (TOML), or ``--keys`` to document them."""

from __future__ import annotations

import argparse
import dataclasses
import json

from gemmacode.commands.common import add_root_flag, settings_for
from gemmacode.config import PROJECT_FILE, USER_FILE, describe, user_cache_dir, user_config_dir

HELP = "show the settings in force"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_root_flag(p)
    p.add_argument("--keys", action="store_true", help="list every key with its documentation")
    p.add_argument("--paths", action="store_true", help="print the config and cache folders")


def run(args: argparse.Namespace) -> int:
    if args.keys:
        for key, doc, default in describe():
            print(f"{key} = {json.dumps(default)}  # {doc}")
        return 0
    root, settings = settings_for(args)
    if args.paths:
        print(f"user config: {user_config_dir() / USER_FILE}")
        print(f"project config: {root / PROJECT_FILE}")
        print(f"cache: {user_cache_dir()}")
        return 0
    for section, values in dataclasses.asdict(settings).items():
        print(f"[{section}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value)}")
        print()
    return 0
