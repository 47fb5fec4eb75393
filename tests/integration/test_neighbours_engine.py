"""After composewatch starts a container, the host knows its MAC: no ARP round trip (and no
1 s ARP retry after an early connection) stands between a client and the new container."""

from __future__ import annotations

import os
import subprocess

import docker
import pytest
from cwhelpers import id_of
from docker.models.containers import Container

from composewatch.engine.containers import Engine
from composewatch.engine.neighbours import can_refresh


@pytest.fixture
def started(docker_client: docker.DockerClient, project_name: str) -> tuple[Engine, Container]:
    """A busybox container started through composewatch's Engine."""
    if not can_refresh():
        message = "needs root and iproute2 beside a local engine"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    container = docker_client.containers.create(
        "busybox:latest", ["sleep", "30"], labels={"com.docker.compose.project": project_name}
    )
    engine = Engine(docker_client)
    engine.start(id_of(container))
    container.reload()
    return engine, container


def neighbour_entry(ip: str) -> str:
    return subprocess.run(["ip", "neigh", "show", ip], capture_output=True, text=True).stdout


def test_a_started_container_is_a_known_neighbour(started: tuple[Engine, Container]) -> None:
    _, container = started
    ip = container.attrs["NetworkSettings"]["IPAddress"]
    mac = container.attrs["NetworkSettings"]["MacAddress"]
    shown = neighbour_entry(ip)
    assert mac in shown and "INCOMPLETE" not in shown and "FAILED" not in shown, shown


def test_a_stopped_container_is_forgotten(started: tuple[Engine, Container]) -> None:
    engine, container = started
    ip = container.attrs["NetworkSettings"]["IPAddress"]
    engine.stop(id_of(container), timeout_s=0)
    assert neighbour_entry(ip).strip() == ""
