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

from composewatch.containers import Engine
from composewatch.core.inplace import Copy


def needs_root() -> None:
    if os.geteuid() != 0:
        message = "needs root beside a local engine"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def running(docker_client: docker.DockerClient, project_name: str) -> str:
    needs_root()
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


def test_a_restart_with_copies_writes_them_only_once_the_old_process_has_ended(
    docker_client: docker.DockerClient, project_name: str, tmp_path: Path
) -> None:
    needs_root()
    # PID 1 notes, as it ends, what the file held: the old content, if nothing was written
    # before its end.
    script = "trap 'cat /srv/page > /srv/seen-at-exit; exit 0' TERM; while :; do sleep 0.05; done"
    container = docker_client.containers.run(
        "busybox:latest",
        ["sh", "-c", f"mkdir -p /srv; [ -e /srv/page ] || echo old > /srv/page; {script}"],
        labels={"com.docker.compose.project": project_name},
        detach=True,
    )
    deadline = time.monotonic() + 10
    while container.exec_run(["test", "-e", "/srv/page"]).exit_code:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    source = tmp_path / "page"
    source.write_text("new\n")
    since = int(time.time()) - 1
    steps: list[str] = []
    engine = Engine(docker_client)
    engine.restart_updated(
        id_of(container), (Copy(source, "/srv/page"),), 5.0, lambda: steps.append("copied")
    )
    assert steps == ["copied"]
    assert output(container, ["cat", "/srv/seen-at-exit", "/srv/page"]) == "old\nnew\n"
    assert extractions(docker_client, id_of(container), since) == []
