import os
import sys

# `python -m gemmacode` puts the current folder first on sys.path, and the repository under
# review may hold folders named like our dependencies (GitPython's own repository has `git/`):
# they would be imported instead. Drop that entry unless gemmacode itself is loaded from it.
_here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path and sys.path[0] and os.path.abspath(sys.path[0]) != _here:
    del sys.path[0]

from gemmacode.cli import main  # noqa: E402

raise SystemExit(main())
