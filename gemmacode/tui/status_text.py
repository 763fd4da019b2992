"""The status bar's words: a :class:`~gemmacode.session.events.Status` snapshot as text.

Pure functions of the snapshot (no widget, no clock), so tests check the wording directly and
the widget only chooses how many lines it has. Every segment says what a user needs to act
on: where the model runs, how much GPU memory is used and how it moved, the context size the
next request will use and why it will change, what the last request cost, and the warnings
that mean an answer may be wrong (a prompt the server cut, a model spilled to the CPU).

Styles are plain ANSI colour names so the bar reads the same on 16-colour terminals, and
every warning carries a word as well as a colour (``NO_COLOR`` leaves only the words).
"""

from __future__ import annotations

from rich.text import Text

from gemmacode.session.api import IndexProgress
from gemmacode.session.events import (
    ContextApplied,
    ContextPending,
    ContextSize,
    GpuSample,
    RequestStats,
    ServerState,
    Status,
)

GIB = 1024**3
GB = 1_000_000_000
SPARK = "▁▂▃▄▅▆▇█"
SEP = " │ "


def gib(n: int) -> str:
    return f"{n / GIB:.1f}"


def sparkline(values: tuple[int, ...], total: int, width: int = 8) -> str:
    """The last ``width`` readings as block characters scaled to ``total`` (0 = empty)."""
    if not values or total <= 0:
        return ""
    out = []
    for v in values[-width:]:
        share = min(1.0, max(0.0, v / total))
        out.append(SPARK[min(len(SPARK) - 1, int(share * len(SPARK)))])
    return "".join(out)


def server_text(server: ServerState | None, *, short: bool = False) -> Text:
    """``ollama 127.0.0.1:11434 │ gemma4:e4b``; ``short``: the model alone."""
    if server is None:
        return Text("connecting…", style="dim")
    if not server.reachable:
        host = server.host.removeprefix("http://")
        where = "no server" if short else f"{server.backend} {host}: not reachable"
        return Text(where, style="bold red")
    host = server.host.removeprefix("http://")
    text = Text("" if short else f"{server.backend} {host}{SEP}")
    if server.model_present is False:
        text.append(f"{server.model}: not installed", style="bold red")
    else:
        text.append(server.model, style="bold")
    return text


def memory_text(sample: GpuSample | None, history: tuple[int, ...], *, short: bool = False) -> Text:
    """``GPU 3.1/8.0 GiB ▂▃▅``, ``CPU only (no NVIDIA driver)``, ``remote: 5.1 GB in VRAM``."""
    if sample is None or sample.kind == "none":
        note = f" ({sample.note})" if sample and sample.note and not short else ""
        return Text(f"memory: unknown{note}", style="dim")
    if sample.kind == "remote":
        text = Text(f"remote: {sample.vram / GB:.1f} GB in VRAM")
        if not short:
            text.append(" (from /api/ps)", style="dim")
        return text
    if sample.kind == "cpu":
        text = Text("CPU only")
        if sample.note and not short:
            # the monitor's note can be long ("... (NVML Shared Library Not Found); using
            # system RAM figures"): its first clause is the reason
            reason = sample.note.split(" (")[0].split(";")[0]
            text.append(f" ({reason})", style="dim")
        return text
    text = Text(f"GPU {gib(sample.used)}/{gib(sample.total)}" + ("" if short else " GiB"))
    spark = sparkline(history, sample.total, 4 if short else 8)
    if spark:
        text.append(f" {spark}", style="cyan")
    return text


def context_text(
    context: ContextSize | None,
    pending: ContextPending | None,
    *,
    short: bool = False,
) -> Text:
    """``ctx 8192`` (``pinned`` when the user fixed it) and the pending change with its reason:
    ``next request 4096: free VRAM fell to 1.9 GiB``."""
    if context is None:
        return Text("ctx auto", style="dim")  # until the server answers (check_server)
    text = Text(f"ctx {context.num_ctx}")
    if context.pinned:
        text.append(" pinned", style="magenta")
    if pending is not None and pending.next != context.num_ctx:
        if short:
            text.append(f"→{pending.next}", style="yellow")
        else:
            text.append(f"{SEP}next request {pending.next}: {pending.reason}", style="yellow")
    return text


def reload_text(status: Status) -> Text:
    """A reload in progress, else what the last context change cost."""
    if status.reloading is not None:
        r = status.reloading
        return Text(f"reloading {r.model} at {r.num_ctx}…", style="yellow")
    change: ContextApplied | None = status.last_change
    if change is None:
        return Text("")
    cost = f"{change.load_s:.1f} s" if change.load_s is not None else "not measured"
    return Text(f"last reload {change.before}→{change.after}: {cost}", style="dim")


def request_text(stats: RequestStats | None) -> Text:
    """The fill of the last request's prompt budget and its speed."""
    if stats is None:
        return Text("")
    used = stats.prompt_tokens if stats.prompt_tokens is not None else stats.estimated_tokens
    fill = used / stats.budget_tokens if stats.budget_tokens else 0.0
    style = "red" if fill > 1.0 else "yellow" if fill > 0.9 else ""
    text = Text(f"fill {used}/{stats.budget_tokens} ({fill:.0%})", style=style)
    if stats.tokens_per_s is not None:
        text.append(f"{SEP}{stats.tokens_per_s:.1f} tok/s")
    return text


def warning_text(status: Status) -> Text:
    """What makes an answer suspect: a prompt the server cut, a model spilled to the CPU."""
    text = Text("")
    if status.prompt_cut is not None:
        cut = status.prompt_cut
        text.append(
            f"⚠ prompt cut: ~{cut.sent_estimate} sent, {cut.evaluated} read", style="bold red"
        )
    if status.spilled is not None:
        sp = status.spilled
        if text:
            text.append(SEP)
        text.append(
            f"⚠ spilled to CPU: {gib(sp.vram)} of {gib(sp.size)} GiB in VRAM", style="bold red"
        )
    return text


def index_text(progress: IndexProgress | None, summary: str = "") -> Text:
    if progress is None:
        return Text(summary, style="dim")
    if progress.total == 0:
        return Text("indexing: listing files…", style="yellow")
    return Text(f"indexing {progress.done}/{progress.total}", style="yellow")


def join(parts: list[Text]) -> Text:
    out = Text("")
    for part in (p for p in parts if p.plain):
        if out.plain:
            out.append(SEP, style="dim")
        out.append_text(part)
    return out


def status_lines(
    status: Status, *, index: Text | None = None, busy: Text | None = None, lines: int = 2
) -> list[Text]:
    """The bar as ``lines`` lines (1 on small terminals: the essentials, shortened)."""
    short = lines == 1
    where = server_text(status.server, short=short)
    memory = memory_text(status.memory, status.memory_history, short=short)
    context = context_text(status.context, status.pending, short=short)
    warnings = warning_text(status)
    if short:
        return [join([where, memory, context, warnings, busy or Text(""), index or Text("")])]
    first = join([where, context])
    second = join(
        [
            memory,
            warnings,
            busy or Text(""),
            reload_text(status),
            request_text(status.last_request),
            index or Text(""),
        ]
    )
    return [first, second]
