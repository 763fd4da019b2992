"""The hook's exit codes, in one place (docs/hook.md has the same table), and its bypass.

- 0: the commit (or push) goes ahead: no blocking finding, ``hook.mode = "warn"``, a bypass,
  nothing to review, or the review could not run and ``hook.strict`` is off (fail open,
  with one warning line);
- 1: findings block it;
- 2: a usage or configuration error (a bad ``.gemmacode.toml``, an unreadable baseline);
- 3: ``hook.strict`` is on and the review could not run (no server, model missing, the
  deadline passed).

``GEMMACODE_SKIP=1`` (or true, yes, on) skips the review: exit 0 without reading anything.
"""

from collections.abc import Mapping

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_USAGE = 2
EXIT_NOT_REVIEWED = 3

SKIP_VALUES = ("1", "true", "yes", "on")


def skip_requested(env: Mapping[str, str]) -> bool:
    """Whether ``GEMMACODE_SKIP`` asks to skip the review."""
    return env.get("GEMMACODE_SKIP", "").strip().lower() in SKIP_VALUES
