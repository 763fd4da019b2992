"""How the CLI shows a core task: streamed prose on stdout, progress and notes on stderr,
exactly as the commands printed them before the core session existed."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from gemmacode.errors import GemmacodeError
from gemmacode.session.api import Task
from gemmacode.session.events import Finished, Note, PlanReady, ProseDelta, RequestStarted


def progress(text: str) -> None:
    print(f"gemmacode: {text}", file=sys.stderr, flush=True)


def write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@dataclass
class Rendered:
    finished: Finished
    planned: bool  # False: the task found nothing to do ("nothing to review")


async def render_task(task: Task, *, prose: bool, first_pass: str = "review") -> Rendered:
    """Print ``task``'s events as they come: prose deltas (when ``prose``), "chunk i of n"
    before the first pass (``first_pass``) of each part of a work split in several, and
    ``info`` notes. Result notes are left to the caller (printed after the findings).
    A task that ended in an error is raised as its one-line error."""
    planned = False
    finished: Finished | None = None
    async for event in task:
        if isinstance(event, ProseDelta):
            if prose:
                write(event.text)
        elif isinstance(event, RequestStarted):
            if event.total > 1 and event.what == first_pass:
                progress(f"chunk {event.index} of {event.total}")
        elif isinstance(event, PlanReady):
            planned = True
        elif isinstance(event, Note):
            if event.kind == "info":
                progress(event.text)
        elif isinstance(event, Finished):
            finished = event
    assert finished is not None, "a task always ends with Finished"
    if finished.outcome == "error":
        err = GemmacodeError(finished.error)
        err.exit_code = finished.exit_code
        raise err
    return Rendered(finished, planned)
