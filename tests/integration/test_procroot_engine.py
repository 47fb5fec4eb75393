"""An in-place update's files on the real engine: written straight into the running
container's root when composewatch runs as root beside a local engine (no archive extraction
on the engine), through the engine where a link on the way must be resolved inside."""

from __future__ import annotations

import os
import time
from pathlib import Path

import docker
import pytest
from cwhelpers import id_of
from docker.models.containers import Container

from composewatch.core.inplace import Copy
from composewatch.engine.containers import Engine


@pytest.fixture
def running(docker_client: docker.DockerClient, project_name: str) -> str:
    if os.geteuid() != 0:
        message = "needs root beside a local engine"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    container = docker_client.containers.run(
        "busybox:latest",
        [
            "sh",
            "-c",
            f"mkdir -p /srv /{project_name}-real && ln -s /{project_name}-real /linked "
            "&& exec sleep 60",
        ],
        labels={"com.docker.compose.project": project_name},
        detach=True,
    )
    deadline = time.monotonic() + 10
    while container.exec_run(["test", "-L", "/linked"]).exit_code and time.monotonic() < deadline:
        time.sleep(0.05)
    return id_of(container)


def extractions(client: docker.DockerClient, cid: str, since: int) -> list[object]:
    until = int(time.time()) + 1
    found = client.api.events(since=since, until=until, decode=True, filters={"container": cid})
    return [e for e in found if e.get("Action") == "extract-to-dir"]


def output(container: Container, command: list[str]) -> str:
    result = container.exec_run(command)
    assert isinstance(result.output, bytes)
    return result.output.decode()


def test_files_are_written_into_the_container_without_the_archive_api(
    docker_client: docker.DockerClient, running: str, tmp_path: Path
) -> None:
    source = tmp_path / "index.html"
    source.write_text("v2\n")
    since = int(time.time()) - 1
    Engine(docker_client).update_files(running, (Copy(source, "/srv/index.html", "7:8", 0o604),))
    container = docker_client.containers.get(running)
    shown = output(container, ["sh", "-c", "stat -c '%a %u:%g' /srv/index.html; cat /srv/*"])
    assert shown == "604 7:8\nv2\n"
    assert extractions(docker_client, running, since) == []


def test_a_link_on_the_way_is_resolved_inside_the_container(
    docker_client: docker.DockerClient, running: str, tmp_path: Path, project_name: str
) -> None:
    source = tmp_path / "a.txt"
    source.write_text("through the link\n")
    Engine(docker_client).update_files(running, (Copy(source, "/linked/a.txt"),))
    container = docker_client.containers.get(running)
    shown = output(container, ["cat", f"/{project_name}-real/a.txt"])
    assert shown == "through the link\n"
    assert not Path(f"/{project_name}-real").exists()  # never on this machine's own root
