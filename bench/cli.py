"""`python -m bench`: parse the options, run every fixture x tool, write the report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.projects import FIXTURES
from bench.report import Row, render
from bench.runner import RunResult, run_one
from bench.tools import COMPOSE, TOOLS

RESULTS = Path(__file__).resolve().parent / "results"
# Tools that stop the old container gracefully, so they wait out the stop timeout (10 s) on a
# fixture whose PID 1 ignores SIGTERM (flask, five): that is the real figure; --slow-saves can
# cap their saves to keep a run short.
GRACEFUL = {"compose-watch", "gaze"}


def _csv(choices: dict[str, Any]) -> Any:
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip() and n.strip() != "none"]
        unknown = [n for n in names if n not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(unknown)} (choose from {', '.join(choices)})"
            )
        return names

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--saves", type=int, default=10, help="saves per cell")
    parser.add_argument(
        "--slow-saves",
        type=int,
        default=None,
        metavar="N",
        help="cap for compose-watch and gaze on fixtures whose PID 1 ignores SIGTERM "
        "(flask, five): every save waits out the 10 s stop timeout (default: --saves)",
    )
    parser.add_argument("--fixtures", type=_csv(FIXTURES), default=list(FIXTURES))
    parser.add_argument(
        "--tools", type=_csv(TOOLS), default=list(TOOLS), help="tools with the gated poller"
    )
    parser.add_argument(
        "--ungated",
        type=_csv(TOOLS),
        default=["script", "composewatch"],
        metavar="TOOLS",
        help="tools also run with the ungated poller, as a browser reloaded right after the "
        "save (composewatch's ARP refresh shows there); 'none' for none",
    )
    parser.add_argument(
        "--skip",
        type=lambda text: {c.strip() for c in text.split(",") if c.strip()},
        default=set(),
        metavar="CELLS",
        help="cells to leave out, as fixture/tool or fixture/tool/ungated "
        "(e.g. flask/gaze,five/compose-watch)",
    )
    parser.add_argument(
        "--idle-s", type=float, default=5.0, help="idle CPU/RSS window (0: not measured)"
    )
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        default=None,
        metavar="JSON",
        help="write the report from the JSON of earlier runs (cells of later files replace "
        "the same cells of earlier ones), without running anything",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the cells the options select and an estimate of the run time, then exit",
    )
    parser.add_argument("--deadline-s", type=float, default=60.0, help="per save")
    parser.add_argument(
        "--settle-s",
        type=float,
        default=1.0,
        help="keep polling this long after served, and until the tool is idle",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.md")
    parser.add_argument(
        "--json",
        nargs="?",
        type=Path,
        const=RESULTS / "latest.json",
        default=None,
        metavar="PATH",
        help="also dump the raw numbers (default path: bench/results/latest.json)",
    )
    return parser.parse_args(argv)


def _version(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def _composewatch_tree() -> Path:
    """Where the composewatch that runs lives (the venv's editable install, which need not be
    this checkout's), asked as the watcher finds it: from outside any checkout."""
    find = "import importlib.util as u; print(u.find_spec('composewatch').origin)"
    done = subprocess.run(
        [sys.executable, "-c", find], cwd="/", capture_output=True, text=True, check=False
    )
    origin = done.stdout.strip()
    if done.returncode != 0 or not origin:
        return Path(__file__).resolve().parent.parent
    return Path(origin).resolve().parent.parent


def code_state() -> str:
    """The last commit that touched composewatch/, plus whether its working tree differs (it is
    an editable install, so uncommitted edits run too). Commits elsewhere do not count."""
    tree = _composewatch_tree()
    last = ["git", "-C", str(tree), "log", "-1", "--format=%h", "--", "composewatch"]
    head = _version(last)
    if head == "unknown":
        return f"{tree}/composewatch (not a git checkout)"
    status = ["git", "-C", str(tree), "status", "--porcelain", "--", "composewatch"]
    dirty = subprocess.run(status, capture_output=True, text=True).stdout.strip()
    where = "" if tree == Path(__file__).resolve().parent.parent else f" in {tree}"
    return head + where + (" + uncommitted changes in composewatch/" if dirty else "")


def _meta(args: argparse.Namespace, wall_s: float, code: tuple[str, str]) -> dict[str, str]:
    at_start, at_end = code
    changed = (
        ""
        if at_start == at_end
        else f" at the start, {at_end} at the end: the code CHANGED DURING THE RUN, so rows "
        "may not be comparable (each row's state is in the JSON)"
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}",
        "docker": "engine " + _version(["docker", "version", "--format", "{{.Server.Version}}"]),
        "compose": _version([str(COMPOSE), "version", "--short"]) + " (binary called directly)",
        "composewatch": at_start + changed,
        "saves": f"{args.saves} per cell"
        + (
            f" ({args.slow_saves} for compose-watch and gaze on flask and five, whose PID 1 "
            "ignores SIGTERM: every save waits out the 10 s stop timeout)"
            if args.slow_saves is not None and args.slow_saves < args.saves
            else ""
        ),
        "run time": f"{wall_s / 60:.1f} min",
    }


def legend(args: argparse.Namespace) -> list[str]:
    return [
        "latency: from just before the write to the first HTTP answer carrying the new marker "
        f"(polled every 20 ms on 127.0.0.1, 1 s timeout, {args.deadline_s:g} s deadline per "
        "save).",
        "gated poller: no request while the target service has a container created but not "
        "yet started and none running (the docker-proxy window, where a connection stalls 1 s "
        "on ARP); read from the engine's events, the same for every tool; the gated time "
        "counts as unserved. Ungated: requests go out at once, as a browser reloaded right "
        "after a save does.",
        "failed req: requests with no answer or a 5xx, from the write until the tool is idle "
        f"(at least {args.settle_s:g} s after served); gap per swap: the median over the saves "
        "of the longest unserved stretch; max gap: the longest in any save; 1 s stalls: "
        "requests that took 0.9 s or more, the ARP retry's signature (the gated poller should "
        "see none).",
        "milestones: engine event times (image tagged, old container died, new container "
        "created, started) and the first served answer, from the save.",
        "others touched: services s2..s5 whose container ID or StartedAt changed over the saves.",
        f"idle CPU %: the watcher's process tree over {args.idle_s:g} s of idle after the saves "
        "(100 % = one core; gated cells only); peak RSS: the tree's summed VmHWM then (each "
        "live process's lifetime peak).",
        "script is the floor: no watcher; the bench runs `DOCKER_BUILDKIT=0 docker build`, "
        "`docker rm -f`, `docker run -d` itself (a BuildKit-only Dockerfile: see the notes).",
    ]


def _row(r: RunResult) -> Row:
    s = r.summary
    return Row(
        gated=r.gated,
        median_gap_s=s.median_gap_s,
        stalls=s.stalls,
        milestones=r.milestones,
        steps=r.steps,
        healthy_s=r.healthy_s,
        fixture=r.fixture,
        tool=r.tool,
        n=s.n,
        served=s.served,
        median_s=s.median_s,
        p90_s=s.p90_s,
        max_s=s.max_s,
        failed_requests=s.failed_requests,
        max_gap_s=s.max_gap_s,
        others_touched=r.others_touched,
        idle_cpu_percent=r.idle.cpu_percent if r.idle else None,
        peak_rss_mib=r.idle.hwm_mib if r.idle else None,
        error=r.error,
    )


def _raw(r: RunResult) -> dict[str, Any]:
    def clean(value: float) -> float | None:
        return None if math.isnan(value) else value

    return {
        "fixture": r.fixture,
        "tool": r.tool,
        "gated": r.gated,
        "project": r.project,
        "code_at_end": r.code,
        "wall_s": r.wall_s,
        "error": r.error,
        "notes": r.notes,
        "others_touched": r.others_touched,
        "summary": {
            k: clean(v) if isinstance(v, float) else v
            for k, v in dataclasses.asdict(r.summary).items()
        },
        "saves": [
            {
                "latency_s": s.latency_s,
                "failed": s.failed,
                "gap_s": s.gap_s,
                "gated_s": s.gated_s,
                "stalls": s.stalls,
                "requests": sum(1 for sample in s.samples if not sample.gated),
                "milestones": s.milestones,
                "steps": s.steps,
            }
            for s in r.saves
        ],
        "idle": dataclasses.asdict(r.idle) if r.idle else None,
        "composewatch_live": r.lives,
    }


def cell_name(fixture: str, tool: str, gated: bool) -> str:
    return f"{fixture}/{tool}" + ("" if gated else "/ungated")


def cells(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    """The cells to run, in order: per fixture, every gated tool, then the ungated ones."""
    out = []
    for fixture in args.fixtures:
        planned = [(fixture, tool, True) for tool in args.tools]
        planned += [(fixture, tool, False) for tool in args.ungated]
        out += [c for c in planned if cell_name(*c) not in args.skip]
    return out


# Rough costs measured on the 2-core machine (Engine 20.10): a save and its settle on a fixture
# that swaps in about a second; one that waits out compose's 10 s stop timeout; a cell's
# start-up and teardown.
SAVE_S = 2.2
SLOW_SAVE_S = 13.0
CELL_S = 5.0


def saves_for(args: argparse.Namespace, fixture: str, tool: str) -> int:
    slow = FIXTURES[fixture].ignores_sigterm and tool in GRACEFUL
    saves: int = args.saves
    cap: int = saves if args.slow_saves is None else args.slow_saves
    return min(saves, cap) if slow else saves


def estimate_s(args: argparse.Namespace, planned: list[tuple[str, str, bool]]) -> float:
    """How long the cells should take, from the rough costs above."""
    total = 0.0
    for fixture, tool, gated in planned:
        slow = FIXTURES[fixture].ignores_sigterm and tool in GRACEFUL
        total += CELL_S + saves_for(args, fixture, tool) * (SLOW_SAVE_S if slow else SAVE_S)
        if gated and tool != "script":
            total += args.idle_s
    return total


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        runs = [json.loads(path.read_text()) for path in args.render]
        if any("rows" not in run for run in runs):
            print("--render needs the JSON of a run made by this version", file=sys.stderr)
            return 2
        _write(args.out, render(*merge_runs(runs)))
        return 0
    if args.list:
        planned = cells(args)
        for fixture, tool, gated in planned:
            print(f"{cell_name(fixture, tool, gated)}: {saves_for(args, fixture, tool)} saves")
        print(f"{len(planned)} cells, about {estimate_s(args, planned) / 60:.0f} min")
        return 0
    results: list[RunResult] = []
    began = time.monotonic()
    code_at_start = code_state()

    def log(line: str) -> None:
        print(f"{time.monotonic() - began:7.1f}s {line}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="composewatch-bench-") as tmp:
        for fx_name, tool_name, gated in cells(args):
            result = run_one(
                FIXTURES[fx_name],
                TOOLS[tool_name](),
                saves=saves_for(args, fx_name, tool_name),
                workdir=Path(tmp),
                log=log,
                idle_s=args.idle_s if gated else 0.0,
                deadline_s=args.deadline_s,
                settle_s=args.settle_s,
                gated=gated,
            )
            result.code = code_state()
            log(f"[{cell_name(fx_name, tool_name, gated)}] done in {result.wall_s:.0f} s")
            results.append(result)
    wall_s = time.monotonic() - began
    code = (code_at_start, code_state())
    notes = [*legend(args), *dict.fromkeys(n for r in results for n in r.notes)]
    meta = _meta(args, wall_s, code)
    rows = [_row(r) for r in results]
    _write(args.out, render(meta, rows, notes))
    if args.json is not None:
        raw = {
            "meta": meta,
            "notes": notes,
            "rows": [dataclasses.asdict(row) for row in rows],
            "results": [_raw(r) for r in results],
        }
        _write(args.json, json.dumps(raw, indent=2), echo=False)
    return 1 if any(r.error for r in results) else 0


def _write(path: Path, text: str, *, echo: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if echo:
        print(text)


def merge_runs(runs: list[dict[str, Any]]) -> tuple[dict[str, str], list[Row], list[str]]:
    """Several JSON dumps as one report: a later run's cell replaces the same cell of an earlier
    one; the header and notes are the last run's, plus the notes of the others."""
    cells: dict[tuple[str, str, bool], Row] = {}
    notes: list[str] = []
    meta: dict[str, str] = {}
    for run in runs:
        for raw in run["rows"]:
            row = Row(**raw)
            cells[(row.fixture, row.tool, row.gated)] = row
        notes += run.get("notes", [])
        meta = dict(run["meta"])
    if len(runs) > 1:
        meta["runs"] = f"{len(runs)} merged (cells of later runs replace earlier ones)"
        minutes = [float(run["meta"].get("run time", "0 min").split()[0]) for run in runs]
        meta["run time"] = f"{sum(minutes):.1f} min in all"
    return meta, list(cells.values()), list(dict.fromkeys(notes))
