"""Render the results as Markdown (pure: no Docker, no clock)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Row", "render"]


@dataclass(frozen=True)
class Row:
    fixture: str
    tool: str
    n: int
    served: int
    median_s: float
    p90_s: float
    max_s: float
    failed_requests: int
    max_gap_s: float
    others_touched: Sequence[str] | None  # None: the fixture has no other services
    idle_cpu_percent: float | None  # None: no watcher process
    peak_rss_mib: float | None
    error: str | None = None


def _s(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


def _opt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _touched(others: Sequence[str] | None) -> str:
    if others is None:
        return "n/a"
    return ", ".join(others) if others else "no"


def _failed(row: Row) -> str:
    """Total, and per save: rows may use different numbers of saves."""
    if row.n == 0:
        return str(row.failed_requests)
    return f"{row.failed_requests} ({row.failed_requests / row.n:.0f}/save)"


def _saves(row: Row) -> str:
    return str(row.n) if row.served == row.n else f"{row.n} ({row.n - row.served} unserved)"


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return out


def render(
    meta: Mapping[str, str],
    rows: Sequence[Row],
    phases: Mapping[str, Mapping[str, float]],
    notes: Sequence[str] = (),
) -> str:
    """`meta`: header facts in order; `phases`: fixture -> composewatch phase -> median s
    (in the order the phases happen)."""
    out = ["# composewatch bench: save to served", ""]
    out += [f"- **{key}**: {value}" for key, value in meta.items()]
    out += ["", "## Save to served", ""]
    header = [
        "fixture",
        "tool",
        "median s",
        "p90 s",
        "max s",
        "failed req",
        "max gap s",
        "others touched",
        "idle CPU %",
        "peak RSS MiB",
        "saves",
    ]
    lines = []
    for r in rows:
        if r.error is not None and r.n == 0:
            lines.append([r.fixture, r.tool, f"error: {r.error}", *["—"] * 8])
            continue
        lines.append(
            [
                r.fixture,
                r.tool,
                _s(r.median_s),
                _s(r.p90_s),
                _s(r.max_s),
                _failed(r),
                f"{r.max_gap_s:.2f}",
                _touched(r.others_touched),
                _opt(r.idle_cpu_percent, 2),
                _opt(r.peak_rss_mib, 1),
                _saves(r),
            ]
        )
    out += _table(header, lines)
    if phases:
        # Phases in the order composewatch reported them, across fixtures.
        order = list(dict.fromkeys(p for by_phase in phases.values() for p in by_phase))
        out += ["", "## composewatch phases (median s, from its `Live` events)", ""]
        out += _table(
            ["fixture", *order],
            [[fx, *(_s(by.get(p, math.nan)) for p in order)] for fx, by in phases.items()],
        )
    errors = [f"{r.fixture} / {r.tool}: {r.error}" for r in rows if r.error]
    if errors or notes:
        out += ["", "## Notes", ""]
        out += [f"- {line}" for line in [*errors, *notes]]
    return "\n".join(out) + "\n"
