"""How long `up` takes on a project with chains of health checks (bench/fixtures/otel-shaped):
`composewatch up --no-watch` against `docker compose up -d` (and `up -d --wait`, which also
waits for every health check, as composewatch does) on the same engine.

    flock /tmp/cw-docker.lock .venv/bin/python -m bench.upstart [--rounds 2] [--composewatch PATH]

Each run uses its own project name and removes its containers and network afterwards. The
engine's events for the project are recorded during each run (and after it, until every
service with a HEALTHCHECK is healthy): they tell, on the engine's clock, when the last
container started and when the last became healthy, and per service how long after its
depends_on conditions held it was started (bench/upstart_report.py).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import compose  # type: ignore[import-untyped]
import docker
import yaml

from bench.events import follow_events
from bench.procstat import _cpu_s
from bench.upstart_report import (
    ContainerEvent,
    RunFigures,
    figures,
    median_figures,
    needs_from_compose,
    parse_line,
)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "otel-shaped" / "compose.yaml"
COMPOSE = str(Path(compose.__file__).parent / "docker-compose")


HEALTHY_WAIT_S = 120.0  # after the command, how long to wait for the last health check


class ProjectEvents:
    """`docker events` for one project's containers, read in a thread from before the run."""

    def __init__(self, project: str, since_s: float) -> None:
        self.events: list[ContainerEvent] = []
        self.changed = threading.Condition()
        self._proc = follow_events(
            f"{since_s:.3f}", "type=container", f"label=com.docker.compose.project={project}"
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            event = parse_line(line)
            if event is not None:
                with self.changed:
                    self.events.append(event)
                    self.changed.notify_all()

    def wait_healthy(self, services: set[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while {e.service for e in self.events if e.action == "healthy"} < services:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.changed.wait(left)

    def stop(self) -> list[ContainerEvent]:
        time.sleep(0.5)  # the last events on their way
        self._proc.terminate()
        self._proc.wait()
        with self.changed:
            return list(self.events)


def _engine_cpu_s() -> float:
    """CPU seconds used so far by the engine's daemons (dockerd, containerd)."""
    found = subprocess.run(["pgrep", "-x", "dockerd|containerd"], capture_output=True, text=True)
    return sum(_cpu_s(int(pid)) for pid in found.stdout.split())


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], project: str, checked: set[str], needs: Any) -> RunFigures:
    began_s = time.time()
    watch = ProjectEvents(project, began_s)
    tool_cpu_s, engine_cpu_s = _children_cpu_s(), _engine_cpu_s()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    ended_s = time.time()
    tool_cpu_s, engine_cpu_s = _children_cpu_s() - tool_cpu_s, _engine_cpu_s() - engine_cpu_s
    watch.wait_healthy(checked, HEALTHY_WAIT_S)
    events = watch.stop()
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    found = figures(events, needs, checked, began_s, ended_s)
    return replace(found, tool_cpu_s=tool_cpu_s, engine_cpu_s=engine_cpu_s)


def _s(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.1f}"


def _clean(client: docker.DockerClient, project: str) -> None:
    label = {"label": f"com.docker.compose.project={project}"}
    for summary in client.api.containers(all=True, filters=label):
        client.api.remove_container(summary["Id"], force=True, v=True)
    for network in client.api.networks(filters=label):
        client.api.remove_network(network["Id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--composewatch", default=str(Path(sys.executable).parent / "composewatch"))
    parser.add_argument("--json", metavar="PATH", help="also write every run's figures here")
    args = parser.parse_args()
    needs, checked = needs_from_compose(yaml.safe_load(FIXTURE.read_text()))
    ways = {
        "docker compose up -d": [COMPOSE, "up", "-d"],
        "docker compose up -d --wait": [COMPOSE, "up", "-d", "--wait"],
        "composewatch up --no-watch": [args.composewatch, "up", "--no-watch"],
    }
    client = docker.from_env()
    runs: dict[str, list[RunFigures]] = {way: [] for way in ways}
    for _ in range(args.rounds):
        for way, argv in ways.items():
            project = f"upstart{uuid.uuid4().hex[:8]}"
            full = [argv[0], "-p", project, "-f", str(FIXTURE), *argv[1:]]
            try:
                runs[way].append(_run(full, project, checked, needs))
            finally:
                _clean(client, project)
    medians = {way: median_figures(found) for way, found in runs.items()}
    print("seconds from the command's start (engine clock), median of rounds")
    print(
        f"{'':30} {'end':>5} {'last start':>10} {'last healthy':>12} {'lag sum':>7} {'max':>5}"
        f" {'tool CPU':>8} {'engine CPU':>10}"
    )
    for way, m in medians.items():
        lags = [v for v in m["lag"].values() if v is not None]
        shown = ", ".join(f"{r.end:.1f}" for r in runs[way])
        print(
            f"{way:30} {_s(m['end'])} {_s(m['last_start']):>10} {_s(m['last_healthy']):>12} "
            f"{_s(sum(lags)):>7} {_s(max(lags, default=None))} {_s(m['tool_cpu_s']):>8}"
            f" {_s(m['engine_cpu_s']):>10}  (ends {shown})"
        )
    print("\nper service: from its depends_on conditions holding to its start (s)")
    print(f"{'service':18}" + "".join(f" {w[:22]:>22}" for w in ways))
    for service in needs:
        row = "".join(f" {_s(medians[w]['lag'].get(service)):>22}" for w in ways)
        print(f"{service:18}{row}")
    if args.json:
        raw = {w: [{**r.__dict__, "lag": r.lag} for r in found] for w, found in runs.items()}
        Path(args.json).write_text(json.dumps({"runs": raw, "medians": medians}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
