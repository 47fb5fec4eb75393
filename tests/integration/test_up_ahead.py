"""`up` creates a dependant's container while its dependency is still becoming healthy, as
compose creates every container before starting any, and starts it only once the condition
holds; a service naming another's container (`network_mode: service:x`) is created once that
one runs. Read from the engine's own events for the project."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import docker
from test_session import Recorder, make_session

COMPOSE = """
services:
  db:
    image: busybox:latest
    init: true
    command: [sh, -c, "sleep 3; touch /tmp/ready; exec sleep 3600"]
    healthcheck: {test: [CMD, test, -f, /tmp/ready], interval: 500ms, retries: 30}
  web:
    image: busybox:latest
    init: true
    command: [sleep, "3600"]
    depends_on:
      db: {condition: service_healthy}
  beside:
    image: busybox:latest
    init: true
    command: [sleep, "3600"]
    network_mode: service:db
    depends_on:
      db: {condition: service_healthy}
"""


def test_a_dependant_is_created_ahead_and_started_when_its_condition_holds(
    tmp_path: Path, project_name: str, docker_client: docker.DockerClient
) -> None:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    began = time.time()
    assert asyncio.run(make_session(tmp_path, project_name, Recorder()).up(watch=False))
    filters = {"type": "container", "label": f"com.docker.compose.project={project_name}"}
    first: dict[tuple[str, str], float] = {}
    for event in docker_client.api.events(
        since=int(began), until=int(time.time()) + 2, filters=filters, decode=True
    ):
        service = event["Actor"]["Attributes"]["com.docker.compose.service"]
        first.setdefault((service, event["Action"]), int(event["timeNano"]) / 1e9)
    healthy = first[("db", "health_status: healthy")]
    assert first[("web", "create")] < healthy, first  # made while db was starting
    assert first[("web", "start")] >= healthy, first  # started once it held
    assert first[("beside", "create")] >= first[("db", "start")], first  # once db runs
    assert first[("beside", "start")] >= healthy, first
