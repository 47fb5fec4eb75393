"""The engine's events reach `up`'s waits (engine.waits): a container's start and its
HEALTHCHECK turning healthy each wake a wait on it long before the wait's timeout, and the
engine's state says why once woken; another project's container wakes no one."""

from __future__ import annotations

import asyncio
import time

import docker

from composewatch.engine.waits import ContainerEvents

TIMEOUT_S = 60.0  # a wait that is not woken by the engine's event fails the test by this


def _create(client: docker.DockerClient, project: str, name: str) -> str:
    container = client.api.create_container(
        "busybox:latest",
        ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 3600"],
        name=name,
        labels={"com.docker.compose.project": project},
        healthcheck={"test": ["CMD", "test", "-f", "/tmp/ready"], "interval": 500_000_000},
        host_config=client.api.create_host_config(init=True),
    )
    return str(container["Id"])


def test_start_and_healthy_wake_a_wait_on_the_container(
    docker_client: docker.DockerClient, project_name: str
) -> None:
    async def scenario() -> tuple[list[str], float, float]:
        heard = await ContainerEvents.follow(docker_client, project_name)
        assert heard.following
        mine = _create(docker_client, project_name, f"{project_name}-db-1")
        other = _create(docker_client, f"{project_name}x", f"{project_name}x-db-1")
        try:
            mark = heard.mark()
            docker_client.api.start(other)  # not this project: heard by no one
            docker_client.api.start(mine)
            began = time.monotonic()
            await heard.wait((mine,), mark, timeout_s=TIMEOUT_S, poll_s=TIMEOUT_S)
            started_s = time.monotonic() - began
            seen: list[str] = []
            while time.monotonic() - began < TIMEOUT_S:
                mark = heard.mark()
                state = docker_client.api.inspect_container(mine)["State"]
                seen.append(state["Health"]["Status"])
                if seen[-1] == "healthy":
                    break
                await heard.wait((mine,), mark, timeout_s=TIMEOUT_S, poll_s=TIMEOUT_S)
            healthy_s = time.monotonic() - began
            return seen, started_s, healthy_s
        finally:
            heard.close()
            docker_client.api.remove_container(other, force=True)

    seen, started_s, healthy_s = asyncio.run(scenario())
    assert started_s < 10, started_s  # its start event, not the timeout
    assert seen[-1] == "healthy" and len(seen) <= 3, seen  # woken by events, not polled
    assert healthy_s < 20, healthy_s  # ready after 2 s, checked every 0.5 s
