"""``python -m gemmacode.hook run [pre-commit|pre-push]``: what the installed shim runs.

The same as ``gemmacode hook run``, without building the whole command line's parser (one
sub-parser per command, tens of milliseconds of every commit). Once the verdict is printed
and every file is written (the run has closed what it opened), the process ends without the
interpreter's teardown of every module it loaded, which a commit would otherwise wait for.
"""

import os
import sys

from gemmacode.hook.entry import main

code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
