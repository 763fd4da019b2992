"""The small script git runs: the hook that was there before, then the review.

It is POSIX ``sh`` with LF line endings (git for every platform runs hooks through ``sh``),
and names the interpreter that has gemmacode by its absolute path: GUI clients and IDEs run
hooks without a login shell's PATH, where neither ``gemmacode`` nor the right ``python``
would be found. In order it

1. runs the hook that was there before (kept beside it as ``<hook>.gemmacode-chained``), if
   it is executable, with the same arguments and, for pre-push, the same stdin; its failure
   stops the commit as it did before;
2. honours ``GEMMACODE_SKIP=1`` (the chained hook still runs);
3. fails open with one warning line if the interpreter has gone (a deleted virtual
   environment must not block every commit);
4. runs ``python -m gemmacode.hook run <hook>`` (``gemmacode hook run`` without building the
   whole command line's parser).

The marker line lets ``install``, ``uninstall`` and ``status`` recognise their own file.
"""

from __future__ import annotations

MARKER = "# gemmacode-hook-shim: 1"
CHAINED_SUFFIX = ".gemmacode-chained"


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def command_line(python: str, stage: str) -> str:
    """The command a hook manager (husky, lefthook, a hand-written hook) should run."""
    return f"{_sh_quote(python)} -m gemmacode.hook run {stage}"


def shim_text(python: str, stage: str) -> str:
    """The shim for ``stage`` (``pre-commit`` or ``pre-push``) running ``python``."""
    quoted = _sh_quote(python)
    chained = f'"$(dirname "$0")/{stage}{CHAINED_SUFFIX}"'
    if stage == "pre-push":  # both hooks read the pushed refs from stdin
        run_chained = (
            "input=$(cat)\n"
            f"chained={chained}\n"
            'if [ -x "$chained" ]; then\n'
            '    if [ -n "$input" ]; then printf \'%s\\n\' "$input"; fi | "$chained" "$@" '
            "|| exit $?\n"
            "fi\n"
        )
        run_review = (
            'if [ -n "$input" ]; then printf \'%s\\n\' "$input"; fi | '
            f'"$GEMMACODE_PYTHON" -m gemmacode.hook run {stage} "$@"\n'
            "exit $?\n"
        )
    else:
        run_chained = (
            f'chained={chained}\nif [ -x "$chained" ]; then\n    "$chained" "$@" || exit $?\nfi\n'
        )
        run_review = f'exec "$GEMMACODE_PYTHON" -m gemmacode.hook run {stage} "$@"\n'
    return (
        "#!/bin/sh\n"
        f"{MARKER}\n"
        f"# gemmacode's {stage} review, installed by `gemmacode hook install`; "
        "`gemmacode hook uninstall`\n"
        "# puts back exactly what was here. Bypass once: git commit --no-verify, or "
        "GEMMACODE_SKIP=1.\n"
        f"GEMMACODE_PYTHON={quoted}\n"
        f"{run_chained}"
        'case "${GEMMACODE_SKIP:-}" in\n'
        "    1|true|yes|on) echo 'gemmacode: review skipped (GEMMACODE_SKIP is set)' >&2; "
        "exit 0 ;;\n"
        "esac\n"
        'if [ ! -x "$GEMMACODE_PYTHON" ]; then\n'
        '    echo "gemmacode: warning: commit not reviewed: $GEMMACODE_PYTHON is gone; '
        'run \\`gemmacode hook install\\` again" >&2\n'
        "    exit 0\n"
        "fi\n"
        f"{run_review}"
    )


def is_shim(data: bytes) -> bool:
    return MARKER.encode() in data[:512]


def shim_python(data: bytes) -> str | None:
    """The interpreter a shim names (undoing the shell quoting), or None."""
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("GEMMACODE_PYTHON="):
            value = line[len("GEMMACODE_PYTHON=") :]
            if value.startswith("'") and value.endswith("'"):
                return value[1:-1].replace("'\\''", "'")
            return value
    return None
