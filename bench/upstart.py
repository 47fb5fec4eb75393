"""How long `up` takes on a project with chains of health checks (bench/fixtures/otel-shaped):
`composewatch up --no-watch` against `docker compose up -d` (and `up -d --wait`, which also
waits for every health check, as composewatch does) on the same engine.

    .venv/bin/python -m bench.upstart [--rounds 2] [--composewatch PATH]

Each run uses its own project name and removes its containers and network afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import compose  # type: ignore[import-untyped]
import docker

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "otel-shaped" / "compose.yaml"
COMPOSE = str(Path(compose.__file__).parent / "docker-compose")


def _run(argv: list[str]) -> float:
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    elapsed_s = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed_s


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
    args = parser.parse_args()
    ways = {
        "docker compose up -d": [COMPOSE, "up", "-d"],
        "docker compose up -d --wait": [COMPOSE, "up", "-d", "--wait"],
        "composewatch up --no-watch": [args.composewatch, "up", "--no-watch"],
    }
    client = docker.from_env()
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(args.rounds):
        for way, argv in ways.items():
            project = f"upstart{uuid.uuid4().hex[:8]}"
            try:
                times[way].append(_run([argv[0], "-p", project, "-f", str(FIXTURE), *argv[1:]]))
            finally:
                _clean(client, project)
    for way, values in times.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"{way:30} median {statistics.median(values):5.1f} s  ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
