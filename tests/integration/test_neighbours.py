"""After composewatch starts a container, the host knows its MAC: no ARP round trip (and no
1 s ARP retry after an early connection) stands between a client and the new container."""

from __future__ import annotations

import subprocess

import docker
import pytest

from composewatch.containers import Engine
from composewatch.neighbours import Neighbour, can_refresh, render_batch


def test_render_batch() -> None:
    batch = render_batch([Neighbour("172.18.0.2", "02:42:ac:12:00:02", "br-0123456789ab")])
    assert (
        batch
        == "neigh replace 172.18.0.2 lladdr 02:42:ac:12:00:02 dev br-0123456789ab nud reachable\n"
    )


def test_a_started_container_is_a_known_neighbour(
    docker_client: docker.DockerClient, project_name: str
) -> None:
    if not can_refresh():
        pytest.skip("needs root and iproute2 beside a local engine")
    container = docker_client.containers.create(
        "busybox:latest", ["sleep", "30"], labels={"com.docker.compose.project": project_name}
    )
    Engine(docker_client).start(container.id)
    container.reload()
    ip = container.attrs["NetworkSettings"]["IPAddress"]
    mac = container.attrs["NetworkSettings"]["MacAddress"]
    shown = subprocess.run(["ip", "neigh", "show", ip], capture_output=True, text=True).stdout
    assert mac in shown and "INCOMPLETE" not in shown and "FAILED" not in shown, shown


def test_a_stopped_container_is_forgotten(
    docker_client: docker.DockerClient, project_name: str
) -> None:
    if not can_refresh():
        pytest.skip("needs root and iproute2 beside a local engine")
    container = docker_client.containers.create(
        "busybox:latest", ["sleep", "30"], labels={"com.docker.compose.project": project_name}
    )
    engine = Engine(docker_client)
    engine.start(container.id)
    container.reload()
    ip = container.attrs["NetworkSettings"]["IPAddress"]
    engine.stop(container.id, timeout_s=0)
    shown = subprocess.run(["ip", "neigh", "show", ip], capture_output=True, text=True).stdout
    assert shown.strip() == "", shown
