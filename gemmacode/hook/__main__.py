"""``python -m gemmacode.hook run [pre-commit|pre-push]``: what the installed shim runs.

The same as ``gemmacode hook run``, without building the whole command line's parser (one
sub-parser per command, tens of milliseconds of every commit).
"""

import sys

from gemmacode.hook.entry import main

raise SystemExit(main(sys.argv[1:]))
