"""One fixture x one tool: copy, start, save N times while polling, measure idle, tear down."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.events import EventWatch
from bench.measure import SaveResult, Summary, poll, summarize
from bench.procstat import IdleUsage, measure_idle
from bench.projects import Fixture, Prepared, prepare
from bench.timeline import median_healthy, median_milestones, milestones
from bench.tools import Composewatch, Tool

__all__ = ["RunResult", "run_one", "step_medians"]

Log = Callable[[str], None]
# composewatch events that need no mention in the report's notes.
_ROUTINE = {
    "Live",
    "Watching",
    "ServiceStarted",
    "BuildStarted",
    "BuildFinished",
    "BuildLog",
    "UpdateStarted",
    "ImageCaughtUp",
    "CheckStarted",
}


@dataclass
class RunResult:
    fixture: str
    tool: str
    project: str
    gated: bool = True  # the poller waits out the docker-proxy window (bench.gate)
    saves: list[SaveResult] = field(default_factory=list)
    others_touched: list[str] | None = None  # None: not measured (no other services)
    idle: IdleUsage | None = None
    lives: list[dict[str, Any]] = field(default_factory=list)  # composewatch's Live events
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    wall_s: float = 0.0
    code: str = ""  # composewatch's commit (and whether its tree was dirty) when the row ended

    @property
    def summary(self) -> Summary:
        return summarize(self.saves)

    @property
    def milestones(self) -> dict[str, float]:
        return median_milestones([s.milestones for s in self.saves])

    @property
    def steps(self) -> dict[str, float]:
        return step_medians([s.steps for s in self.saves])

    @property
    def healthy_s(self) -> float | None:
        return median_healthy([s.milestones for s in self.saves])


def step_medians(per_save: list[list[tuple[str, float]]]) -> dict[str, float]:
    """Median seconds per step over the saves that timed it, in the order first reported."""
    steps: dict[str, list[float]] = {}
    for save in per_save:
        for step, seconds in save:
            steps.setdefault(step, []).append(seconds)
    return {step: statistics.median(values) for step, values in steps.items()}


def _containers(tool: Tool, service: str) -> list[str]:
    """`ID StartedAt` of each container of the service."""
    filters = [arg for f in tool.filters(service) for arg in ("--filter", f)]
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--no-trunc", *filters], capture_output=True, text=True
    ).stdout.split()
    if not ids:
        return []
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", *ids],
        capture_output=True,
        text=True,
    ).stdout
    return sorted(out.split("\n")[: len(ids)])


def _snapshot(tool: Tool, services: tuple[str, ...]) -> dict[str, list[str]]:
    return {service: _containers(tool, service) for service in services}


def _wait_served(prepared: Prepared, timeout_s: float = 90.0) -> None:
    url = prepared.url(prepared.fixture.target)
    result = poll(
        url, "", start=time.monotonic(), deadline_s=timeout_s, settle_s=0.0, interval_s=0.05
    )
    if result.latency_s is None:
        raise RuntimeError(f"{url} never answered within {timeout_s:g} s of the start")


def _wait_idle(tool: Tool, timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while not tool.idle() and time.monotonic() < end:
        time.sleep(0.05)


def run_one(
    fixture: Fixture,
    tool: Tool,
    *,
    saves: int,
    workdir: Path,
    log: Log,
    idle_s: float = 10.0,
    deadline_s: float = 60.0,
    settle_s: float = 1.5,
    gated: bool = True,
) -> RunResult:
    scenario = "" if gated else "-ungated"
    project = f"bench-{fixture.name}-{tool.name}{scenario}-{uuid.uuid4().hex[:6]}"
    result = RunResult(fixture.name, tool.name, project, gated)
    started = time.monotonic()
    prepared = prepare(fixture, workdir, project)
    watch = EventWatch(project, fixture.target)
    cell = f"[{fixture.name} / {tool.name}{' / ungated' if not gated else ''}]"
    try:
        log(f"{cell} starting {project}")
        tool.start(prepared)
        _wait_served(prepared)
        watch.start()
        tool.steps()  # forget what the start-up reported
        before = _snapshot(tool, fixture.others)
        url = prepared.url(fixture.target)
        for i in range(saves):
            marker = f"bench-{uuid.uuid4().hex[:12]}"
            running = watch.running()
            saved_at_s = time.time()
            t0 = time.monotonic()
            prepared.write_marker(marker)
            tool.after_save()
            save = poll(
                url,
                marker,
                start=t0,
                deadline_s=deadline_s,
                settle_s=settle_s,
                idle=tool.idle,
                gate=watch.gate_open if gated else lambda: True,
            )
            result.saves.append(save)
            _wait_idle(tool)
            save.steps = tool.steps()
            served_at_s = None if save.latency_s is None else saved_at_s + save.latency_s
            save.milestones = milestones(
                watch.since(saved_at_s),
                service=fixture.target,
                saved_at_s=saved_at_s,
                running_at_save=running,
                served_at_s=served_at_s,
            )
            shown = f"{save.latency_s:.2f} s" if save.latency_s is not None else "NOT SERVED"
            points = ", ".join(f"{k} {v:.2f}" for k, v in save.milestones.items())
            log(
                f"  save {i + 1}/{saves}: {shown}, {save.failed} failed requests, "
                f"gap {save.gap_s:.2f} s, gated {save.gated_s:.2f} s ({points})"
            )
        if fixture.others:
            after = _snapshot(tool, fixture.others)
            result.others_touched = [s for s in fixture.others if before[s] != after[s]]
        pids = tool.watcher_pids()
        if pids and idle_s > 0:
            result.idle = measure_idle(pids, idle_s)
    except Exception as err:  # keep going with the other tools; the report shows the error
        result.error = f"{type(err).__name__}: {err}"
        log(traceback.format_exc())
    finally:
        if isinstance(tool, Composewatch):
            result.lives = [e for e in tool.lives() if e.get("service") == fixture.target]
            unusual = [e for e in tool.events if e.get("event") not in _ROUTINE]
            said = {e["message"] for e in unusual if e.get("event") == "Note"}
            result.notes += [f"composewatch said ({fixture.name}): {m}" for m in sorted(said)]
            result.notes += [
                f"composewatch {fixture.name}: {e}" for e in unusual if e.get("event") != "Note"
            ]
        watch.stop()
        try:
            tool.stop()
        except Exception as err:
            result.notes.append(f"teardown: {type(err).__name__}: {err}")
        result.notes += tool.notes
        shutil.rmtree(prepared.directory, ignore_errors=True)
        result.wall_s = time.monotonic() - started
    return result
