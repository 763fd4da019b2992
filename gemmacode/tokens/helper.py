"""The tokenizer in a helper process, so that loading it does not stall a short command.

Building tiktoken's ``cl100k_base`` tables takes ~0.1 s of compiled code that holds Python's
interpreter lock from start to end, so a thread cannot load it beside the rest of a review's
start-up: everything else waits. A short command (``review``, ``ask``, ``map``) therefore
has :func:`gemmacode.session.startup.prewarm` (the one place for start-up tricks) start
``python -m gemmacode.tokens.helper`` first thing; it loads the tables on another core while
the command reads the diff and talks to the server, then counts over a pipe (~50 us a text).
This module only speaks the protocol, on both ends. The counts are the same function's
(:func:`gemmacode.tokens.encoding.raw_count` and
:func:`~gemmacode.tokens.encoding.sparse_features` run in the helper), so nothing else changes.

If the helper cannot start, dies or answers nonsense, :class:`TokenizerHelper` says so by
returning None and the caller counts in-process instead; a helper whose parent goes away
reads end-of-file and exits.

Protocol, all integers unsigned 32-bit little-endian: once its tables are built the helper
writes :data:`HELLO` (so anything else that reached its standard output first, say from a
``sitecustomize``, is caught rather than read as a count); then a request is one kind byte
(``c`` for a count, ``f`` for the token-class features), the length of the UTF-8 text
(surrogates passed through), the text; the answer to ``c`` is the count, to ``f`` the number
of pairs and then each (position, count).
"""

from __future__ import annotations

import struct
import sys
import threading
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

_U32 = struct.Struct("<I")
_HEAD = struct.Struct("<cI")
COUNT, FEATURES = b"c", b"f"
HELLO = b"gemmacode-tokens-1\n"


class TokenizerHelper:
    """The client end of a running helper process (``proc``, with pipes for standard input
    and output); :meth:`count` and :meth:`features` return None once it is unusable (after
    which they never try it again)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc: subprocess.Popen[bytes] | None = proc
        self._lock = threading.Lock()
        self._greeted = False

    @property
    def alive(self) -> bool:
        return self._proc is not None

    def _ask(self, kind: bytes, text: str) -> IO[bytes] | None:
        """Send one request; the stream to read its answer from (the lock is held)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            return None
        if not self._greeted:
            if proc.stdout.read(len(HELLO)) != HELLO:
                raise ValueError("the tokenizer helper did not greet")
            self._greeted = True
        data = text.encode("utf-8", "surrogatepass")
        proc.stdin.write(_HEAD.pack(kind, len(data)) + data)
        proc.stdin.flush()
        return proc.stdout

    def _u32(self, stream: IO[bytes]) -> int:
        raw = stream.read(4)
        if len(raw) != 4:
            raise EOFError("the tokenizer helper stopped")
        return int(_U32.unpack(raw)[0])

    def count(self, text: str) -> int | None:
        """The raw tiktoken count of ``text``, or None if the helper is unusable."""
        with self._lock:
            try:
                stream = self._ask(COUNT, text)
                return None if stream is None else self._u32(stream)
            except (OSError, ValueError, EOFError):
                self._stop()
                return None

    def features(self, text: str) -> dict[int, int] | None:
        """:func:`gemmacode.tokens.encoding.sparse_features` of ``text``, or None if unusable."""
        with self._lock:
            try:
                stream = self._ask(FEATURES, text)
                if stream is None:
                    return None
                n = self._u32(stream)
                raw = stream.read(8 * n)
                if len(raw) != 8 * n:
                    raise EOFError("the tokenizer helper stopped")
                values = struct.unpack(f"<{2 * n}I", raw)
                return dict(zip(values[::2], values[1::2], strict=True))
            except (OSError, ValueError, EOFError, struct.error):
                self._stop()
                return None

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # Killed, not asked to finish: it holds nothing worth saving (a helper still building
        # its tables may leave a temporary file, which the next one clears), and neither its
        # tables nor its interpreter are worth the ~0.1 s of tearing them down.
        proc.kill()
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        proc.wait()

    def close(self) -> None:
        """End the helper at once, whatever it is doing."""
        with self._lock:
            self._stop()


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer requests until end-of-file; the tables are loaded before the first read."""
    from gemmacode.tokens.encoding import raw_count, sparse_features

    raw_count("warm")
    answers.write(HELLO)
    answers.flush()
    while True:
        head = requests.read(_HEAD.size)
        if len(head) != _HEAD.size:
            return
        kind, length = _HEAD.unpack(head)
        data = requests.read(length)
        if len(data) != length:
            return
        text = data.decode("utf-8", "surrogatepass")
        if kind == COUNT:
            answers.write(_U32.pack(raw_count(text)))
        elif kind == FEATURES:
            pairs = sorted(sparse_features(text).items())
            flat = [v for pair in pairs for v in pair]
            answers.write(_U32.pack(len(pairs)) + struct.pack(f"<{len(flat)}I", *flat))
        else:
            return
        answers.flush()


def main() -> None:
    """Serve on standard input and output; whatever else prints goes to standard error.

    At end-of-file (its command died without killing it) the process ends at once
    (``os._exit``): tearing down the interpreter and its tables takes ~0.1 s for nothing.
    """
    import os

    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        serve(sys.stdin.buffer, answers)
        answers.flush()
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
