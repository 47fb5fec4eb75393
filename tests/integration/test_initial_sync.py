"""`initial_sync` and the owner of synced files, on the real engine.

An image with a non-root `USER` (app, 1234) serves www/; a second service runs the same image
as `user: "4321:4321"`. Files changed while nothing watched are synced when `watch` starts
(those older than the image are not: compose's rule), and every synced file belongs to the
container's user, as compose's copy (`CopyUIDGID`) makes it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import docker
from test_session import Recorder, make_session, watching

from composewatch import events as ev

COMPOSE = """\
services:
  web:
    build: ./web
    develop:
      watch:
        - {path: ./web/www, target: /www, action: sync, initial_sync: true}
  other:
    build: ./web
    user: "4321:4321"
    develop:
      watch:
        - {path: ./web/www, target: /www, action: sync}
"""
DOCKERFILE = """\
FROM busybox:latest
RUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1234:' >> /etc/group
COPY www /www
USER app
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def in_container(client: docker.DockerClient, project: str, service: str, *cmd: str) -> str:
    [container] = client.containers.list(
        filters={
            "label": [
                f"com.docker.compose.project={project}",
                f"com.docker.compose.service={service}",
            ]
        }
    )
    code, output = container.exec_run(list(cmd))
    assert isinstance(output, bytes)
    return f"{code}:{output.decode().strip()}"


def test_initial_sync_and_the_owner_of_synced_files(
    tmp_path: Path, project_name: str, docker_client: docker.DockerClient
) -> None:
    project = tmp_path / "project"
    www = project / "web" / "www"
    www.mkdir(parents=True)
    (project / "compose.yaml").write_text(COMPOSE)
    (project / "web" / "Dockerfile").write_text(DOCKERFILE)
    # Its own image, made now: with the layers of an earlier run's (BuildKit dates the image
    # by its last layer made) it would be older than these files.
    (www / "index.html").write_text(f"v1 of {project_name}")
    (www / "stale.html").write_text("in the image")
    recorder = Recorder()

    def owner_and_text(service: str, name: str) -> str:
        return in_container(
            docker_client, project_name, service, "stat", "-c", "%u:%g", f"/www/{name}"
        )

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            pass  # built and started; then nothing watches
        (www / "late.html").write_text("written while nothing watched")
        stale = www / "stale.html"
        stale.write_text("older than the image: compose leaves it")
        os.utime(stale, (1_000_000_000, 1_000_000_000))
        later = Recorder()
        session = make_session(project, project_name, later)
        session.attach = True  # `composewatch watch`: serve what runs, as it runs
        async with watching(session, later):
            await later.wait_for(ev.Live, "web")
            cat = in_container(docker_client, project_name, "web", "cat", "/www/late.html")
            assert cat == "0:written while nothing watched"
            assert owner_and_text("web", "late.html") == "0:1234:1234"
            stale_now = in_container(docker_client, project_name, "web", "cat", "/www/stale.html")
            assert stale_now == "0:in the image"
            assert not later.of(ev.Live, "other")  # no initial_sync asked there
            (www / "saved.html").write_text("a save")
            await later.wait_for(ev.Live, "web", count=2)
            await later.wait_for(ev.Live, "other")
            assert owner_and_text("web", "saved.html") == "0:1234:1234"  # the image's USER
            assert owner_and_text("other", "saved.html") == "0:4321:4321"  # the service's user:
        notes = [e.message for e in later.of(ev.Note) if isinstance(e, ev.Note)]
        assert any("web: initial_sync: 1 file(s)" in note for note in notes), notes

    asyncio.run(scenario())
