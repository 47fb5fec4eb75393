"""Pure: what `bench.remote` measured per save and per cell, and the Markdown made of it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.measure import percentile

__all__ = ["TOOLS", "Cell", "Save", "render"]

TOOLS = ("composewatch", "composewatch-rebuild", "compose", "compose-watch")


@dataclass
class Save:
    served_s: float | None  # save -> marker served (the poller); None: never served
    failed: int = 0  # requests unanswered (or 5xx) from the write until quiet: the swap's gap
    stalls: int = 0  # requests that took 0.9 s or more (an ARP retry, bench.measure.STALL_S)
    live_s: float | None = None  # composewatch's since_save_s
    how: str = ""  # composewatch's Live.how, or what failed
    timings: list[tuple[str, float]] = field(default_factory=list)  # composewatch's Live phases
    sent: int | None = None  # relay bytes to the engine, write -> quiet (ssh only)
    received: int | None = None  # relay bytes from the engine, same span
    sent_to_live: int | None = None  # relay bytes to the engine, write -> Live
    quiet_sent: int | None = None  # relay bytes in the second before the write
    session: list[str] = field(default_factory=list)  # composewatch's "context: ..." lines
    said: list[str] = field(default_factory=list)  # the tool's error lines, if any


@dataclass
class Cell:
    tool: str
    engine: str  # local | ssh
    start_s: float | None = None  # the first `up`: start -> served
    start_sent: int | None = None  # ... and the bytes it sent (ssh)
    saves: list[Save] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fmt_s(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f} s"


def fmt_b(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value / 1e6:.2f} MB" if value >= 1e6 else f"{value / 1e3:.1f} kB"


def median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return percentile(known, 50) if known else None


def _ratio(cells: dict[tuple[str, str], Cell], tool: str, attr: str) -> str | None:
    local, ssh = cells.get((tool, "local")), cells.get((tool, "ssh"))
    if local is None or ssh is None:
        return None
    a = median([getattr(s, attr) for s in local.saves])
    b = median([getattr(s, attr) for s in ssh.saves])
    return f"{b / a:.2f}x" if a and b else None


def _row(c: Cell) -> str:
    served = [s.served_s for s in c.saves if s.served_s is not None]
    hows = sorted({s.how for s in c.saves if s.how})
    ssh = c.engine == "ssh"
    quiet = max((s.quiet_sent or 0 for s in c.saves), default=None) if ssh else None
    return (
        f"| {c.tool} | {c.engine} | {len(served)}/{len(c.saves)} "
        f"| {fmt_s(median(served))} ({fmt_s(max(served, default=None))}) "
        f"| {fmt_s(median([s.live_s for s in c.saves]))} | {', '.join(hows) or '-'} "
        f"| {sum(s.failed for s in c.saves)} | {sum(s.stalls for s in c.saves)} "
        f"| {fmt_b(median([s.sent for s in c.saves]))} "
        f"({fmt_b(median([s.sent_to_live for s in c.saves]))}) "
        f"| {fmt_b(median([s.received for s in c.saves]))} | {fmt_b(quiet)} "
        f"| {fmt_b(c.start_sent)}, {fmt_s(c.start_s)} |"
    )


def _phases(c: Cell) -> str | None:
    names: list[str] = []
    for save in c.saves:
        names += [name for name, _ in save.timings if name not in names]
    if not names:
        return None
    shown = []
    for name in names:
        values = [v for s in c.saves for n, v in s.timings if n == name]
        shown.append(f"{name} {fmt_s(median(values))}")
    return f"- {c.tool} on {c.engine}, composewatch's phases (medians): {', '.join(shown)}"


def render(
    cells: Sequence[Cell], tar: dict[str, Any] | None, context_bytes: int, extra: Sequence[str]
) -> str:
    lines = [
        f"Build context: {context_bytes / 1e6:.1f} MB. Medians over the saves; *sent* is what the "
        "clients sent through ssh (the relay's count, encryption included), from the write until "
        "the tool is quiet, and in brackets until composewatch's `Live`.",
        "",
        "| tool | engine | served | save → served (max) | composewatch save → live | how "
        "| failed req | 1 s stalls | sent per save (to live) | received per save | quiet 1 s "
        "| first up: sent, served |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[_row(c) for c in cells],
        "",
    ]
    by = {(c.tool, c.engine): c for c in cells}
    for tool in TOOLS:
        served, live = _ratio(by, tool, "served_s"), _ratio(by, tool, "live_s")
        if served:
            also = f", save → live {live}" if live else ""
            lines.append(f"- {tool}: ssh / local, save → served {served}{also}")
    lines += [p for p in (_phases(c) for c in cells) if p]
    if tar:
        lines.append(
            f"- a tar per save (classic `docker build` over ssh, one build): "
            f"{fmt_b(tar['sent'])} sent, {fmt_s(tar['seconds'])}"
        )
    sessions = sorted({line for c in cells for s in c.saves for line in s.session})
    lines += [f"- composewatch's session said: {line}" for line in sessions]
    for c in cells:
        said = sorted({line for s in c.saves for line in s.said})
        lines += [
            f"- {c.tool} on {c.engine} said (not a failure unless a save was not served): {x}"
            for x in said
        ]
    lines += [f"- {line}" for line in extra]
    for c in cells:
        lines += [f"- note ({c.tool}, {c.engine}): {n[:500]}" for n in c.notes]
    return "\n".join(lines) + "\n"
