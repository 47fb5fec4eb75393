"""The other two times a user waits: a burst of saves, and `up` of a project already built.

- **burst**: 10 saves 30 ms apart (an editor's "save all", a formatter, a coding agent), each
  writing a new marker; measured from the LAST write to the first answer carrying the last
  marker, against single saves of the same fixture in the same run (`--single` of them).
- **up**: with the images already built, `composewatch up` against `docker compose up -d
  --build`, each timed from its start to the target's first answer (and to `Watching`, or to
  compose's return): once with the containers removed (the images stay), once more with them
  running as configured. The two alternate which goes first.

    python -m bench.burst [--fixtures flask-init,five] [--bursts 5] [--single 5] [--ups 5]

Every request goes to 127.0.0.1; the poller is the headline's (`bench.measure.poll`), gated
the same way (`bench.events`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.events import EventWatch
from bench.measure import poll
from bench.projects import FIXTURES, Prepared, prepare
from bench.tools import COMPOSE, COMPOSEWATCH, Composewatch

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


def _served_s(url: str, started: float, deadline_s: float = 60.0) -> float:
    """Seconds from `started` to the first 2xx/3xx answer of `url` (polled every 10 ms)."""
    parts = urlsplit(url)
    while time.monotonic() - started < deadline_s:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=1)
        try:
            conn.request("GET", parts.path or "/")
            if conn.getresponse().status < 400:
                return time.monotonic() - started
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.01)
    raise RuntimeError(f"{url} never served")


def _composewatch_up(prepared: Prepared) -> tuple[float, float]:
    """`composewatch up`: (seconds to the target served, seconds to `Watching`)."""
    cmd = [str(COMPOSEWATCH), "-p", prepared.project, "up", "--json"]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=prepared.directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watching: list[float] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if '"Watching"' in line and not watching:
                watching.append(time.monotonic() - started)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        served = _served_s(prepared.url(prepared.fixture.target), started)
        while not watching and proc.poll() is None and time.monotonic() - started < 60:
            time.sleep(0.005)
        if not watching:
            raise RuntimeError(f"composewatch up never said Watching (exit {proc.poll()})")
        return served, watching[0]
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the containers keep running
        proc.wait(timeout=30)
        reader.join(timeout=5)


def _compose_up(prepared: Prepared, base: list[str]) -> tuple[float, float]:
    """`docker compose up -d --build`: (seconds to the target served, seconds to return)."""
    started = time.monotonic()
    subprocess.run(
        [*base, "up", "-d", "--build"], cwd=prepared.directory, check=True, capture_output=True
    )
    returned = time.monotonic() - started
    return _served_s(prepared.url(prepared.fixture.target), started), returned


def as_installed() -> None:
    """Byte-code caches for composewatch's own modules, as pip writes them when it installs the
    package: an editable install has none, and with PYTHONDONTWRITEBYTECODE set (this machine's
    shells) every start would compile ~100 modules again (+0.3-0.4 s), which no user's install
    does. Its dependencies were installed by pip, with their caches."""
    import compileall

    import composewatch

    compileall.compile_dir(Path(composewatch.__file__).parent, quiet=1)


def up_times(prepared: Prepared, ups: int) -> dict[str, list[float]]:
    """`up` with the images already built, both tools timed alike (from the command's start to
    the target service's first answer; `*_done` to `Watching`, or to compose's return):
    with the containers removed first (`fresh`), then again with them running as configured
    (`running`, nothing to do). The order of the two tools alternates between rounds."""
    base = [str(COMPOSE), "-p", prepared.project, "-f", str(prepared.compose_file)]
    cwd = prepared.directory
    subprocess.run([*base, "build"], cwd=cwd, check=True, capture_output=True)
    times: dict[str, list[float]] = {}

    def add(key: str, figures: tuple[float, float]) -> None:
        times.setdefault(key, []).append(figures[0])
        times.setdefault(f"{key}_done", []).append(figures[1])

    for round_ in range(ups):
        names = ["composewatch", "compose"] if round_ % 2 == 0 else ["compose", "composewatch"]
        for name in names:
            subprocess.run([*base, "down", "-t", "0"], cwd=cwd, check=True, capture_output=True)
            for case in ("fresh", "running"):
                if name == "composewatch":
                    add(f"{name}_{case}", _composewatch_up(prepared))
                else:
                    add(f"{name}_{case}", _compose_up(prepared, base))
    subprocess.run([*base, "down", "-t", "0", "--rmi", "local"], cwd=cwd, capture_output=True)
    return times


def _median(figures: list[float]) -> str:
    return f"{statistics.median(figures):.2f}" if figures else "-"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--fixtures", default="flask-init,five")
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--single", type=int, default=5)
    parser.add_argument("--ups", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    as_installed()
    with tempfile.TemporaryDirectory(prefix="composewatch-burst-") as tmp:
        for name in args.fixtures.split(","):
            fixture = FIXTURES[name]
            prepared = prepare(fixture, Path(tmp), f"burst-{name}-{uuid.uuid4().hex[:6]}")
            single: list[float] = []
            burst: list[float] = []
            if args.single or args.bursts:
                tool = Composewatch()
                watch = EventWatch(prepared.project, fixture.target)
                try:
                    tool.start(prepared)
                    watch.start()
                    single, burst = saves(prepared, tool, watch, args.single, args.bursts)
                finally:
                    watch.stop()
                    tool.stop()
            ups: dict[str, list[float]] = {}
            if args.ups:
                ups = up_times(
                    prepare(fixture, Path(tmp), f"up-{name}-{uuid.uuid4().hex[:6]}"), args.ups
                )
            report[name] = {"single_s": single, "burst_s": burst, "up_s": ups}
            if single and burst:
                one, many = statistics.median(single), statistics.median(burst)
                print(
                    f"{name}: single save {one:.2f} s, burst of {BURST} (from the last write) "
                    f"{many:.2f} s = {many / one:.2f}x",
                    flush=True,
                )
            if ups:
                print(
                    f"{name}: up, containers removed, to served: composewatch "
                    f"{_median(ups['composewatch_fresh'])} s (Watching at "
                    f"{_median(ups['composewatch_fresh_done'])} s) vs compose up -d --build "
                    f"{_median(ups['compose_fresh'])} s (returned at "
                    f"{_median(ups['compose_fresh_done'])} s); containers running: composewatch "
                    f"Watching at {_median(ups['composewatch_running_done'])} s vs compose "
                    f"returned at {_median(ups['compose_running_done'])} s",
                    flush=True,
                )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
