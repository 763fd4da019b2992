"""The terminal UI on a scripted core that streams Markdown at a set pace, for bench_tui.py.

Every question is answered by :class:`PacedTask`: Markdown with headings, lists and code
blocks, cut into token-sized pieces (about 4 characters) sent at ``--rate`` tokens per second
for ``--seconds`` (``--rate 0``: as fast as the UI takes them, ``--tokens`` of them). The last
piece is a marker (``END-<n>``, n counting answers from 1); the moment it is handed to the UI
is written to ``--arrivals`` (one ``n handed due`` line per answer: ``time.time()`` when it
was handed over, and when a server streaming at the pace would have sent it), so the bench can
tell how long the screen took to show it. The UI pulls events as it handles them, so a UI that
falls behind delays the hand-over too: the due time is the fair reference.

    python bench/tui_scripted.py REPO --rate 500 --seconds 60 --arrivals FILE
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gemmacode.commands.tui_cmd import FRAME_RATE  # noqa: E402

os.environ.setdefault("TEXTUAL_FPS", FRAME_RATE)  # as `gemmacode tui` runs, before textual loads

from gemmacode.config import Settings  # noqa: E402
from gemmacode.session.events import Finished, PlanReady, ProseDelta, TaskEvent  # noqa: E402
from gemmacode.tui.app import make_app  # noqa: E402
from gemmacode.tui.conversations import MemoryStore  # noqa: E402
from tests.fakes.core import healthy_status, make_core, opener  # noqa: E402

SECTION = """## Step {n}: what the loop does

The function walks `items` and keeps a running **total**; the bound check is off by one
when the list is empty, so the last index is read past the end.

- the guard `if not items` returns early
- `total += item.price * item.qty` rounds late
- the result is cached per *request*

```python
def total(items: list[Item]) -> Decimal:
    result = Decimal(0)
    for i in range(len(items)):
        result += items[i].price * items[i].qty
    return result.quantize(CENT)
```

"""


def tokens() -> itertools.cycle[str]:
    """An endless answer, in pieces of about four characters as a model streams them."""
    text = "".join(SECTION.format(n=n) for n in range(1, 6))
    return itertools.cycle([text[i : i + 4] for i in range(0, len(text), 4)])


class PacedTask:
    """A Task (``gemmacode.session.api``) that streams Markdown at a pace."""

    count = 0

    def __init__(self, rate: float, seconds: float, total: int, arrivals: Path) -> None:
        PacedTask.count += 1
        self.n = PacedTask.count
        self.rate, self.seconds, self.total, self.arrivals = rate, seconds, total, arrivals
        self._cancelled = False
        self._done = False

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def done(self) -> bool:
        return self._done

    def __aiter__(self) -> AsyncIterator[TaskEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[TaskEvent]:
        yield PlanReady("scripted answer", 1, 8192)
        pieces, sent = tokens(), []
        start, start_wall = time.monotonic(), time.time()
        try:
            if self.rate > 0:
                due_total = int(self.rate * self.seconds)
                while len(sent) < due_total and not self._cancelled:
                    due = min(due_total, int((time.monotonic() - start) * self.rate) + 1)
                    while len(sent) < due:
                        sent.append(next(pieces))
                        yield ProseDelta(sent[-1])
                    await asyncio.sleep(0.002)
            else:
                for i in range(self.total):
                    sent.append(next(pieces))
                    yield ProseDelta(sent[-1])
                    if i % 64 == 0:
                        await asyncio.sleep(0)
            marker = f"\n\nEND-{self.n}\n"
            sent.append(marker)
            yield ProseDelta(marker)
            with self.arrivals.open("a") as fh:
                due = start_wall + self.seconds if self.rate > 0 else time.time()
                fh.write(f"{self.n} {time.time()} {due}\n")
            yield Finished("done", "".join(sent), (), "scripted", seconds=time.monotonic() - start)
        finally:
            self._done = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--rate", type=float, default=500.0, help="tokens per second; 0: flat out")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tokens", type=int, default=2000, help="per answer with --rate 0")
    parser.add_argument("--arrivals", type=Path, required=True)
    args = parser.parse_args()
    core = make_core(args.repo, initial=healthy_status())
    core.script = lambda label, spec: PacedTask(  # type: ignore[assignment,return-value]
        args.rate, args.seconds, args.tokens, args.arrivals
    )
    app = make_app(
        args.repo, Settings(), opener=opener(core), store=MemoryStore(), freeze_gc=True
    )  # as `gemmacode tui` runs it
    app.run()


if __name__ == "__main__":
    main()
