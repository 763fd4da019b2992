"""The hook's exit codes, in one place (docs/hook.md has the same table).

- 0: the commit (or push) goes ahead: no blocking finding, ``hook.mode = "warn"``, a bypass,
  nothing to review, or the review could not run and ``hook.strict`` is off (fail open,
  with one warning line);
- 1: findings block it;
- 2: a usage or configuration error (a bad ``.gemmacode.toml``, an unreadable baseline);
- 3: ``hook.strict`` is on and the review could not run (no server, model missing, the
  deadline passed).
"""

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_USAGE = 2
EXIT_NOT_REVIEWED = 3
