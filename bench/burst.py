"""The other two times a user waits: a burst of saves, and `up` of a project already built.

- **burst**: 10 saves 30 ms apart (an editor's "save all", a formatter, a coding agent), each
  writing a new marker; measured from the LAST write to the first answer carrying the last
  marker, against single saves of the same fixture in the same run (`--single` of them).
- **up**: with the images already built, `composewatch up` until it says it is watching,
  against `docker compose up -d --build` until it returns; the containers are removed before
  each start (the images stay).

    python -m bench.burst [--fixtures flask-init,five] [--bursts 5] [--single 5] [--ups 5]

Every request goes to 127.0.0.1; the poller is the headline's (`bench.measure.poll`), gated
the same way (`bench.events`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.events import EventWatch
from bench.measure import poll
from bench.projects import FIXTURES, Prepared, prepare
from bench.tools import COMPOSE, Composewatch

BURST = 10
GAP_S = 0.03


def _served_after(prepared: Prepared, watch: EventWatch, marker: str, start: float) -> float:
    url = prepared.url(prepared.fixture.target)
    result = poll(url, marker, start=start, settle_s=0.0, gate=watch.gate_open)
    if result.latency_s is None:
        raise RuntimeError(f"{marker} never served")
    return result.latency_s


def _quiet(tool: Composewatch, timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while not tool.idle() and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.5)


def saves(
    prepared: Prepared, tool: Composewatch, watch: EventWatch, single: int, bursts: int
) -> tuple[list[float], list[float]]:
    """Single saves, then bursts: seconds from the (last) write to served."""
    singles: list[float] = []
    burst_s: list[float] = []
    for _ in range(single):
        marker = f"one-{uuid.uuid4().hex[:10]}"
        start = time.monotonic()
        prepared.write_marker(marker)
        tool.after_save()
        singles.append(_served_after(prepared, watch, marker, start))
        _quiet(tool)
    for _ in range(bursts):
        markers = [f"burst-{uuid.uuid4().hex[:10]}" for _ in range(BURST)]
        for i, marker in enumerate(markers):
            if i:
                time.sleep(GAP_S)
            last = time.monotonic()
            prepared.write_marker(marker)
        tool.saves += 1  # one outcome is awaited for the burst's last save at least
        burst_s.append(_served_after(prepared, watch, markers[-1], last))
        _quiet(tool)
    return singles, burst_s


def up_times(prepared: Prepared, ups: int) -> dict[str, list[float]]:
    """`composewatch up` to watching, and `docker compose up -d --build`, images built."""
    base = [str(COMPOSE), "-p", prepared.project, "-f", str(prepared.compose_file)]
    cwd = prepared.directory
    subprocess.run([*base, "build"], cwd=cwd, check=True, capture_output=True)
    times: dict[str, list[float]] = {"composewatch": [], "compose": []}
    for _ in range(ups):
        subprocess.run([*base, "down", "-t", "0"], cwd=cwd, check=True, capture_output=True)
        started = time.monotonic()
        tool = Composewatch()
        tool.start(prepared)  # returns once composewatch says it is watching
        times["composewatch"].append(time.monotonic() - started - 1.0)  # start() sleeps 1 s
        tool._stop_watcher()
        subprocess.run([*base, "down", "-t", "0"], cwd=cwd, check=True, capture_output=True)
        started = time.monotonic()
        subprocess.run([*base, "up", "-d", "--build"], cwd=cwd, check=True, capture_output=True)
        times["compose"].append(time.monotonic() - started)
    subprocess.run([*base, "down", "-t", "0", "--rmi", "local"], cwd=cwd, capture_output=True)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--fixtures", default="flask-init,five")
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--single", type=int, default=5)
    parser.add_argument("--ups", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="composewatch-burst-") as tmp:
        for name in args.fixtures.split(","):
            fixture = FIXTURES[name]
            prepared = prepare(fixture, Path(tmp), f"burst-{name}-{uuid.uuid4().hex[:6]}")
            tool = Composewatch()
            watch = EventWatch(prepared.project, fixture.target)
            try:
                tool.start(prepared)
                watch.start()
                single, burst = saves(prepared, tool, watch, args.single, args.bursts)
            finally:
                watch.stop()
                tool.stop()
            ups = up_times(
                prepare(fixture, Path(tmp), f"up-{name}-{uuid.uuid4().hex[:6]}"), args.ups
            )
            one, many = statistics.median(single), statistics.median(burst)
            report[name] = {"single_s": single, "burst_s": burst, "up_s": ups}
            print(
                f"{name}: single save {one:.2f} s, burst of {BURST} (from the last write) "
                f"{many:.2f} s = {many / one:.2f}x; up {statistics.median(ups['composewatch']):.2f}"
                f" s vs compose up -d --build {statistics.median(ups['compose']):.2f} s",
                flush=True,
            )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
