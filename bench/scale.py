"""Scale: 20 busybox services whose tree holds 50,000 files (a `node_modules` per context that
`.dockerignore` excludes). Measures, with images cached: time from `composewatch up` to
watching and the watcher's RSS; that a 5,000-file burst gives exactly one build per affected
service; and three services changed at once against one.

    python -m bench.scale [--services 20] [--files 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

COMPOSEWATCH = [sys.executable, "-m", "composewatch"]
DOCKERFILE = 'FROM busybox:latest\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_project(root: Path, services: int, files: int, slots: int | None) -> list[str]:
    names = [f"s{n:02d}" for n in range(1, services + 1)]
    per_service = files // services
    lines = ["services:"]
    for name in names:
        context = root / name
        (context / "www").mkdir(parents=True)
        (context / "www" / "index.html").write_text(f"{name} v0")
        (context / "Dockerfile").write_text(DOCKERFILE)
        (context / ".dockerignore").write_text("node_modules\n")
        for package in range(per_service // 50):
            folder = context / "node_modules" / f"pkg{package}"
            folder.mkdir(parents=True)
            for n in range(50):
                (folder / f"f{n}.js").write_text("module.exports = 0\n")
        lines += [
            f"  {name}:",
            f"    build: ./{name}",
            f'    ports: ["127.0.0.1:{free_port()}:8080"]',
        ]
    if slots is not None:
        lines += ["x-composewatch:", f"  max_parallel_builds: {slots}"]
    (root / "compose.yaml").write_text("\n".join(lines) + "\n")
    return names


class Watcher:
    """`composewatch up --json` as a subprocess, its events collected by a reader thread."""

    def __init__(self, project_dir: Path, project: str) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*COMPOSEWATCH, "-p", project, "up", "--json"],
            cwd=project_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            record["mono"] = time.monotonic()
            self.events.append(record)

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["event"] == event]

    def wait_for(self, event: str, count: int = 1, timeout_s: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.of(event)
            if len(found) >= count:
                return found[count - 1]
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError(f"no {event} #{count}; last events: {self.events[-5:]}")

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        return kib / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@contextmanager
def project_dir(
    services: int, files: int, slots: int | None
) -> Iterator[tuple[Path, list[str], str]]:
    root = Path(tempfile.mkdtemp(prefix="cw-scale-"))
    project = f"cwscale{os.getpid()}"
    try:
        names = make_project(root, services, files, slots)
        yield root, names, project
    finally:
        subprocess.run([*COMPOSEWATCH, "-p", project, "down"], cwd=root, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def live_seconds(watcher: Watcher, services: list[str], before: int) -> list[float]:
    """since_save_s of the next Live event of each service."""
    seconds = []
    for service in services:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lives = [e for e in watcher.of("Live")[before:] if e["service"] == service]
            if lives:
                seconds.append(float(lives[0]["since_save_s"]))
                break
            time.sleep(0.01)
        else:
            raise RuntimeError(f"{service} never went live")
    return seconds


def run(services: int, files: int, slots: int | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"services": services, "files": files, "build_slots": slots}
    with project_dir(services, files, slots) as (root, names, project):
        # Cache the images, as "when images are cached" asks.
        subprocess.run(
            [*COMPOSEWATCH, "-p", project, "up", "--no-watch"],
            cwd=root,
            check=True,
            capture_output=True,
            timeout=600,
        )
        watcher = Watcher(root, project)
        try:
            watching = watcher.wait_for("Watching")
            results["start_to_watching_s"] = round(watching["mono"] - watcher.started, 2)
            results["rss_watching_mib"] = round(watcher.rss_mib(), 1)

            # A 5,000-file burst over two services: one build each, nothing superseded.
            builds_before = len(watcher.of("BuildStarted"))
            lives_before = len(watcher.of("Live"))
            for n in range(5000):
                target = root / names[n % 2] / "www" / "gen"
                target.mkdir(exist_ok=True)
                (target / f"f{n}.txt").write_text(str(n))
            live_seconds(watcher, names[:2], lives_before)
            time.sleep(1.0)
            burst_builds = [e["service"] for e in watcher.of("BuildStarted")[builds_before:]]
            results["burst_builds"] = {s: burst_builds.count(s) for s in names[:2]}
            results["burst_superseded"] = len(watcher.of("BuildSuperseded"))

            # One service, then three at once (medians over a few rounds).
            one, three = [], []
            for round_ in range(3):
                before = len(watcher.of("Live"))
                (root / names[2] / "www" / "index.html").write_text(f"one {round_}")
                one.append(max(live_seconds(watcher, names[2:3], before)))
                time.sleep(0.5)
                before = len(watcher.of("Live"))
                for name in names[3:6]:
                    (root / name / "www" / "index.html").write_text(f"three {round_}")
                three.append(max(live_seconds(watcher, names[3:6], before)))
                time.sleep(0.5)
            results["one_service_s"] = round(statistics.median(one), 2)
            results["three_services_s"] = round(statistics.median(three), 2)
            results["three_over_one"] = round(statistics.median(three) / statistics.median(one), 2)
            results["rss_peak_mib"] = round(watcher.rss_mib(), 1)
        finally:
            watcher.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--build-slots", type=int, default=None, help="x-composewatch setting")
    args = parser.parse_args()
    print(json.dumps(run(args.services, args.files, args.build_slots), indent=2))


if __name__ == "__main__":
    main()
