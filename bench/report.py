"""Render the results as Markdown (pure: no Docker, no clock)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.timeline import MILESTONES

__all__ = [
    "CONTENDERS",
    "Row",
    "details",
    "headline",
    "phase_table",
    "phases",
    "render",
    "ungated",
    "where_time_goes",
]

# The headline's columns, in order, with the names the table shows.
CONTENDERS = {
    "script": "script floor",
    "compose-watch": "compose watch",
    "gaze": "gaze loop",
    "composewatch": "composewatch",
    "composewatch-rebuild": "composewatch, rebuild path",
}


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
    gated: bool = True
    median_gap_s: float = math.nan
    stalls: int = 0  # requests that took about a second: an ARP stall (or a timeout)
    milestones: Mapping[str, float] = field(default_factory=dict)  # bench.timeline, medians
    steps: Mapping[str, float] = field(default_factory=dict)  # the tool's own phases, medians
    healthy_s: float | None = None  # median from the engine's start to the first served answer


def _s(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.2f}"


def _opt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ratio(top: float | None, bottom: float | None) -> str:
    if top is None or bottom is None or math.isnan(top) or math.isnan(bottom) or bottom <= 0:
        return "—"
    return f"{top / bottom:.2f}x"


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


def _one_line(text: str, limit: int = 160) -> str:
    """An error as one table-safe line."""
    line = " ".join(text.split()).replace("|", "/")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _fixtures(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(r.fixture for r in rows))


def _find(rows: Sequence[Row], fixture: str, tool: str, gated: bool = True) -> Row | None:
    for row in rows:
        if (row.fixture, row.tool, row.gated) == (fixture, tool, gated) and row.served:
            return row
    return None


def _any(rows: Sequence[Row], fixture: str, tool: str, gated: bool = True) -> Row | None:
    """The cell's row even when nothing was served (to tell an error from a cell not run)."""
    for row in rows:
        if (row.fixture, row.tool, row.gated) == (fixture, tool, gated):
            return row
    return None


def _median(row: Row | None) -> float | None:
    return None if row is None else row.median_s


def _cell(row: Row | None, failed: Row | None = None) -> str:
    """A contender's median, with its save count when not every save was served."""
    if row is None:
        return "error" if failed is not None and failed.error else "—"
    shown = _s(row.median_s)
    return shown if row.served == row.n else f"{shown} ({row.served}/{row.n})"


def headline(rows: Sequence[Row]) -> list[str]:
    """Per fixture: each contender's median (gated poller), composewatch's ratios to the floor
    and to compose watch, and the unserved gap of a typical swap, composewatch's and the
    floor's."""
    header = [
        "fixture",
        *CONTENDERS.values(),
        "composewatch / floor",
        "composewatch / compose watch",
        "gap per swap: composewatch",
        "gap per swap: floor",
    ]
    lines = []
    for fixture in _fixtures([r for r in rows if r.gated]):
        found = {tool: _find(rows, fixture, tool) for tool in CONTENDERS}
        ours, floor = found["composewatch"], found["script"]
        lines.append(
            [
                fixture,
                *(_cell(found[tool], _any(rows, fixture, tool)) for tool in CONTENDERS),
                _ratio(_median(ours), _median(floor)),
                _ratio(_median(ours), _median(found["compose-watch"])),
                _s(None if ours is None else ours.median_gap_s),
                _s(None if floor is None else floor.median_gap_s),
            ]
        )
    return _table(header, lines)


def ungated(rows: Sequence[Row]) -> list[str]:
    """The same saves with a poller that connects at once, as a browser reloaded right after
    the save does, beside the gated figure of the same tool."""
    header = ["fixture", "tool", "median s", "p90 s", "gated median s", "gap per swap s"]
    lines = []
    for row in rows:
        if row.gated:
            continue
        gated = _find(rows, row.fixture, row.tool, gated=True)
        lines.append(
            [
                row.fixture,
                CONTENDERS.get(row.tool, row.tool),
                _cell(row if row.served else None, row),
                _s(row.p90_s),
                _s(_median(gated)),
                _s(row.median_gap_s),
            ]
        )
    return _table(header, lines) if lines else []


# Where the time between save and served goes, the same way for every tool (bench.timeline):
# the stretch up to each milestone that both tools reached.
_SEGMENTS = {
    "image": "save → image tagged (detect, context, build)",
    "started": "image → new container started (create, stop old, start)",
    "served": "started → new content served (app start-up, first answer)",
}


def _segments(milestones: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    previous = 0.0
    for name in _SEGMENTS:
        if name in milestones:
            out[name] = milestones[name] - previous
            previous = milestones[name]
    return out


def phases(rows: Sequence[Row]) -> list[str]:
    """Per fixture: every gated tool's milestones, the floor's and composewatch's own phases,
    and where composewatch's time differs from the floor's."""
    out: list[str] = []
    for fixture in _fixtures([r for r in rows if r.gated]):
        present = [
            (tool, row) for tool in CONTENDERS if (row := _find(rows, fixture, tool)) is not None
        ]
        if not present:
            continue
        out += ["", f"### {fixture}", ""]
        out += _table(
            ["tool (median s from the save)", *MILESTONES],
            [
                [CONTENDERS[tool], *(_s(row.milestones.get(m)) for m in MILESTONES)]
                for tool, row in present
            ],
        )
        for tool in ("script", "composewatch"):
            row = _find(rows, fixture, tool)
            if row is not None and row.steps:
                steps = ", ".join(f"{name} {_s(s)}" for name, s in row.steps.items())
                out += ["", f"{CONTENDERS[tool]}'s own phases (median s): {steps}"]
        ours, floor = _find(rows, fixture, "composewatch"), _find(rows, fixture, "script")
        if ours is not None and floor is not None:
            out += ["", *phase_table(ours, floor)]
            out += ["", *where_time_goes(ours, floor)]
    return out


# The phases side by side: (name, composewatch's steps summed, the floor's steps summed).
_PHASES = (
    ("detect (event + quiet period)", ("detect",), ()),
    ("context", ("context",), ("context",)),
    ("build", ("build",), ("build",)),
    ("stop old", ("stop",), ("stop",)),
    ("create + start new", ("create", "start"), ("run",)),
)


def _sum(steps: Mapping[str, float], names: Sequence[str]) -> float | None:
    found = [steps[name] for name in names if name in steps]
    return sum(found) if found else None


def phase_table(ours: Row, floor: Row) -> list[str]:
    """composewatch's phases against the floor's (medians): what each tool timed itself, and
    the start-up the client saw (engine start to first answer) for both."""
    lines = []
    for label, mine, theirs in _PHASES:
        a = _sum(ours.steps, mine)
        b = 0.0 if not theirs else _sum(floor.steps, theirs)
        if label == "context" and b is None and "build" in floor.steps:
            shown_b = "in build"  # the CLI sends the context inside `docker build`
        else:
            shown_b = _s(b)
        delta = "—" if a is None or b is None else f"{a - b:+.2f}"
        lines.append([label, _s(a), shown_b, delta])
    a, b = ours.healthy_s, floor.healthy_s
    delta = "—" if a is None or b is None else f"{a - b:+.2f}"
    lines.append(["started → served (app start-up)", _s(a), _s(b), delta])
    delta = f"{ours.median_s - floor.median_s:+.2f}" if ours.served and floor.served else "—"
    lines.append(["save → served", _s(ours.median_s), _s(floor.median_s), delta])
    return _table(["phase (median s)", "composewatch", "script floor", "difference"], lines)


def where_time_goes(ours: Row, floor: Row) -> list[str]:
    """composewatch against the floor, stretch by stretch (median milestones)."""
    mine, theirs = _segments(ours.milestones), _segments(floor.milestones)
    common = [name for name in _SEGMENTS if name in mine and name in theirs]
    if not common:
        return []
    total = ours.median_s - floor.median_s
    lines = [f"composewatch - floor: {total:+.2f} s in all (medians of save to served)."]
    for name in common:
        delta = mine[name] - theirs[name]
        lines.append(
            f"- {_SEGMENTS[name]}: composewatch {mine[name]:.2f} s, floor {theirs[name]:.2f} s "
            f"({delta:+.2f} s)"
        )
    return lines


def details(rows: Sequence[Row]) -> list[str]:
    header = [
        "fixture",
        "tool",
        "poller",
        "median s",
        "p90 s",
        "max s",
        "failed req",
        "gap per swap s",
        "max gap s",
        "1 s stalls",
        "others touched",
        "idle CPU %",
        "peak RSS MiB",
        "saves",
    ]
    lines = []
    for r in rows:
        poller = "gated" if r.gated else "ungated"
        if r.error is not None and r.n == 0:
            lines.append([r.fixture, r.tool, poller, "error (see Errors)", *["—"] * 10])
            continue
        lines.append(
            [
                r.fixture,
                r.tool,
                poller,
                _s(r.median_s),
                _s(r.p90_s),
                _s(r.max_s),
                _failed(r),
                _s(r.median_gap_s),
                f"{r.max_gap_s:.2f}",
                str(r.stalls),
                _touched(r.others_touched),
                _opt(r.idle_cpu_percent, 2),
                _opt(r.peak_rss_mib, 1),
                _saves(r),
            ]
        )
    return _table(header, lines)


def render(meta: Mapping[str, str], rows: Sequence[Row], notes: Sequence[str] = ()) -> str:
    """`meta`: header facts in order; `rows`: one per fixture x tool x poller."""
    out = ["# composewatch bench: save to served", ""]
    out += [f"- **{key}**: {value}" for key, value in meta.items()]
    out += ["", "## Save to served, gated poller (median s)", "", *headline(rows)]
    table = ungated(rows)
    if table:
        out += ["", "## Ungated poller: a browser reloaded right after the save", "", *table]
    out += ["", "## Where the time goes", *phases(rows)]
    out += ["", "## All figures", "", *details(rows)]
    if notes:
        out += ["", "## Notes", ""]
        out += [f"- {line}" for line in notes]
    failed = [r for r in rows if r.error]
    if failed:
        out += ["", "## Errors"]
    for r in failed:
        poller = "" if r.gated else " (ungated)"
        error = str(r.error)
        out += ["", f"{r.fixture} / {r.tool}{poller}: {_one_line(error)}"]
        if "\n" in error.strip():
            out += ["", "```", *error.strip().splitlines()[-15:], "```"]
    return "\n".join(out) + "\n"
