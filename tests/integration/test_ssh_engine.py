"""The whole loop through an ssh engine (`DOCKER_HOST=ssh://root@127.0.0.1:PORT`, a real
sshd started here, see sshd.py): build, up, a save that rebuilds, the probe run inside the
container through the engine (python3's urllib: the image has no wget or curl), a sync.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from clirun import cw
from sshd import SshEngine, ssh_engine
from test_session import Recorder, fetch, make_session, served, watching

from composewatch import events as ev
from composewatch.engine.containers import Engine
from composewatch.engine.project import exec_output

COMPOSE = """\
services:
  web:
    build: ./web
    ports: ["127.0.0.1::8000"]
    develop:
      watch:
        - {path: ./web/static, target: /app/static, action: sync}
        - {path: ./web, action: rebuild, ignore: [static/]}
x-composewatch:
  services:
    web:
      health: {via: engine, path: /, expected_status: 200, timeout_s: 60}
"""
DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /app
COPY . /app
CMD ["python3", "-m", "http.server", "8000"]
"""


# Each test asks for `project_name` before `ssh`, so its cleanup runs after DOCKER_HOST is
# back on the local engine (docker-py's own client cannot reach an ssh one).
@pytest.fixture
def ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshEngine]:
    with ssh_engine(tmp_path / "sshd") as engine:
        for key, value in engine.env().items():
            monkeypatch.setenv(key, value)
        yield engine


def write_project(folder: Path) -> Path:
    (folder / "web" / "static").mkdir(parents=True)
    (folder / "compose.yaml").write_text(COMPOSE)
    (folder / "web" / "Dockerfile").write_text(DOCKERFILE)
    (folder / "web" / "index.html").write_text("v1")
    (folder / "web" / "static" / "a.txt").write_text("s1")
    return folder


def test_exec_output_over_ssh_keeps_the_output_and_the_exit_code(
    project_name: str, ssh: SshEngine, docker_client: docker.DockerClient
) -> None:
    """The stream the engine ends by closing the connection arrives whole (docker-py's own
    ssh transports lost it: the probe saw no output and "exit 0")."""
    local = docker_client.containers.run(
        "python:3.11-slim",
        ["sleep", "300"],
        detach=True,
        labels={"com.docker.compose.project": project_name},
    )
    engine = Engine.connect()
    assert not engine.endpoint.local and engine.endpoint.host == ssh.docker_host
    assert local.id is not None
    script = "import sys,time; time.sleep(0.3); print('out'); sys.exit(3)"
    assert engine.exec_output(local.id, ["python3", "-c", script]) == (3, "out\n")
    assert exec_output(engine.client, local.id, ["echo", "hi"]) == (0, "hi\n")


def test_the_loop_runs_through_an_ssh_engine(
    project_name: str, ssh: SshEngine, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    project = write_project(tmp_path / "project")
    recorder = Recorder()

    def url(path: str) -> str:
        found = docker_client.containers.list(
            filters={"label": f"com.docker.compose.project={project_name}"}
        )
        bindings = found[0].ports["8000/tcp"]
        assert bindings, found[0].ports
        port = bindings[0]["HostPort"]
        return f"http://127.0.0.1:{port}{path}"

    async def scenario() -> None:
        session = make_session(project, project_name, recorder)
        assert session.engine.endpoint.scheme == "ssh"
        async with watching(session, recorder):
            assert fetch(url("/index.html")) == "v1"
            (project / "web" / "index.html").write_text("v2")  # a rebuild, probed inside
            await recorder.wait_for(ev.Live, "web", timeout_s=120)
            assert await served(url("/index.html"), "v2", timeout_s=10)
            (project / "web" / "static" / "a.txt").write_text("s2")  # a sync
            await recorder.wait_for(ev.Live, "web", count=2, timeout_s=60)
            assert fetch(url("/static/a.txt")) == "s2"
        assert not recorder.of(ev.Unhealthy) and not recorder.of(ev.RolledBack)
        assert len(recorder.of(ev.BuildStarted, "web")) == 2  # up, then the save

    asyncio.run(scenario())
    # The CLI too (it used to fail every command: "Install paramiko package ...").
    listed = cw(project, "-p", project_name, "ps", **ssh.env())
    assert listed.returncode == 0, listed.stderr
    assert f"{project_name}-web-1" in listed.stdout and "running" in listed.stdout
