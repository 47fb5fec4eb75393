"""Replicas (`scale`, `deploy.replicas`) on the real engine: `up` runs `<project>-<service>-1..N`
as compose does, and a save swaps them one at a time, each found healthy before the next, so
the others serve throughout; an unhealthy replica puts every replica of the round back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from test_session import Recorder, fetch, make_session, watching

from composewatch import events as ev
from composewatch.app import Session
from composewatch.core.phases import Phase

REPLICAS = 3
COMPOSE = """
services:
  web:
    build: ./web
    scale: 3
    ports: ["127.0.0.1::8080"]
"""
HEALTH = """
x-composewatch:
  services:
    web:
      health: {path: /health.html, expected_status: 200, timeout_s: 3}
"""


def replicated(copy_fixture: Callable[[str], Path], extra: str = "") -> Path:
    project = copy_fixture("two-services")
    # The swap, replica by replica: in-place updates off (kept as text: tests edit the file).
    settings = "x-composewatch:\n  in_place: false\n"
    if "x-composewatch:\n" in extra:
        extra = extra.replace("x-composewatch:\n", settings)
    else:
        extra += settings
    (project / "compose.yaml").write_text(COMPOSE + extra)
    (project / "web" / "www" / "health.html").write_text("ok")
    return project


def replicas(client: docker.DockerClient, project: str) -> dict[str, tuple[str, bool]]:
    """Container name -> (id, running) of the project's web containers."""
    found = client.api.containers(
        all=True, filters={"label": [f"com.docker.compose.project={project}"]}
    )
    return {c["Names"][0].lstrip("/"): (c["Id"], c["State"] == "running") for c in found}


def page(client: docker.DockerClient, cid: str) -> str | None:
    ports = client.api.inspect_container(cid)["NetworkSettings"]["Ports"]["8080/tcp"]
    return fetch(f"http://127.0.0.1:{ports[0]['HostPort']}/")


@contextmanager
def fewest_running(client: docker.DockerClient, project: str) -> Iterator[list[int]]:
    """While the block runs, the fewest of the project's containers seen running at once."""
    seen = [REPLICAS]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            running = sum(up for _, up in replicas(client, project).values())
            seen[0] = min(seen[0], running)
            done.wait(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()


async def committed(session: Session) -> None:
    """Wait until the round's commit (which follows the Live report) is done."""
    assert session.scheduler is not None
    while session.scheduler.state.service("web").phase is not Phase.IDLE:
        await asyncio.sleep(0.01)


def test_up_runs_the_replicas_and_a_save_swaps_them_one_at_a_time(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = replicated(copy_fixture)
    recorder = Recorder()
    names = [f"{project_name}-web-{n}" for n in range(1, REPLICAS + 1)]

    async def scenario() -> None:
        session = make_session(project, project_name, recorder)
        async with watching(session, recorder):
            before = replicas(docker_client, project_name)
            assert sorted(before) == names
            assert all(up for _, up in before.values())
            for name in names:
                labels = docker_client.api.inspect_container(name)["Config"]["Labels"]
                assert labels["com.docker.compose.container-number"] == name.rsplit("-", 1)[1]
            with fewest_running(docker_client, project_name) as fewest:
                (project / "web" / "www" / "index.html").write_text("v2")
                await recorder.wait_for(ev.Live, "web")
                await committed(session)
            # One replica at a time: the other two always ran.
            assert fewest[0] >= REPLICAS - 1, fewest
            after = replicas(docker_client, project_name)
            assert sorted(after) == names  # compose's names, no leftover
            assert all(after[n][0] != before[n][0] and after[n][1] for n in names)
            assert [page(docker_client, after[n][0]) for n in names] == ["v2"] * REPLICAS
            assert len(recorder.of(ev.Live, "web")) == 1  # once every replica serves it

    asyncio.run(scenario())


def test_an_unhealthy_new_version_is_rolled_back_and_every_replica_serves_on(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = replicated(copy_fixture, HEALTH)
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            before = replicas(docker_client, project_name)
            (project / "web" / "www" / "health.html").unlink()
            (project / "web" / "www" / "index.html").write_text("broken")
            rolled = await recorder.wait_for(ev.RolledBack, "web")
            assert isinstance(rolled, ev.RolledBack) and "404" in rolled.reason
            after = replicas(docker_client, project_name)
            assert after == before  # the same containers, running, under their names
            assert {page(docker_client, cid) for cid, _ in after.values()} != {"broken"}

    asyncio.run(scenario())


def test_a_scale_edit_while_watching_adds_and_removes_replicas(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = replicated(copy_fixture)
    compose = project / "compose.yaml"
    recorder = Recorder()

    def notes() -> list[ev.Note]:
        return [e for e in recorder.events if isinstance(e, ev.Note)]

    def names() -> list[str]:
        return sorted(n for n, (_, up) in replicas(docker_client, project_name).items() if up)

    async def scenario() -> None:
        session = make_session(project, project_name, recorder)
        async with watching(session, recorder):
            compose.write_text(COMPOSE.replace("scale: 3", "scale: 4"))
            await recorder.wait_for(ev.Live, "web")
            await committed(session)
            assert names() == [f"{project_name}-web-{n}" for n in range(1, 5)]
            compose.write_text(COMPOSE.replace("scale: 3", "scale: 1"))
            await recorder.wait_for(ev.Live, "web", count=2)
            await committed(session)
            assert sorted(replicas(docker_client, project_name)) == [f"{project_name}-web-1"]
            compose.write_text(COMPOSE.replace("scale: 3", "scale: 100000"))  # hostile
            refused = "changes not applied, the project runs as it was"
            deadline = asyncio.get_running_loop().time() + 30
            while not any(refused in n.message for n in notes()):
                assert asyncio.get_running_loop().time() < deadline, recorder.events[-5:]
                await asyncio.sleep(0.05)
            said = next(n.message for n in notes() if refused in n.message)
            assert "services.web.scale" in said and "at most 100" in said
            assert sorted(replicas(docker_client, project_name)) == [f"{project_name}-web-1"]

    asyncio.run(scenario())
    said = [note.message for note in notes()]
    assert "web: 3 → 4 replicas, recreating" in said
    assert "web: 4 → 1 replicas, recreating" in said


V1 = """#!/bin/sh
echo ok > /www/health.html
exec httpd -f -p 8080 -h /www
"""
# Only the first container of this version to start is healthy: replica 1 passes, replica 2
# fails, after replica 1 was already swapped.
V2 = """#!/bin/sh
echo v2 > /www/index.html
mkdir /shared/v2 2>/dev/null && echo ok > /www/health.html
exec httpd -f -p 8080 -h /www
"""


SHARED = '    volumes: ["./shared:/shared"]\n'


def scripted(copy_fixture: Callable[[str], Path], script: str) -> Path:
    """The replicated project whose image runs `script` (it writes /www/health.html, or not),
    with ./shared mounted in every replica at /shared."""
    project = replicated(copy_fixture, HEALTH)
    web = project / "web"
    (project / "shared").mkdir()
    (web / "Dockerfile").write_text(
        'FROM busybox:latest\nCOPY www /www\nCOPY start.sh /start.sh\nCMD ["sh", "/start.sh"]\n'
    )
    (web / "start.sh").write_text(script)
    (web / "www" / "health.html").unlink()  # written by the start script, or not
    compose = project / "compose.yaml"
    ports = '    ports: ["127.0.0.1::8080"]\n'
    compose.write_text(compose.read_text().replace(ports, ports + SHARED))
    return project


def test_a_replica_failing_after_another_was_swapped_puts_both_back(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = scripted(copy_fixture, V1)
    web = project / "web"
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            before = replicas(docker_client, project_name)
            (web / "start.sh").write_text(V2)
            rolled = await recorder.wait_for(ev.RolledBack, "web")
            assert isinstance(rolled, ev.RolledBack) and "404" in rolled.reason
            # Replica 1 had been swapped (and found healthy) before replica 2 failed.
            assert (project / "shared" / "v2").is_dir()
            after = replicas(docker_client, project_name)
            assert after == before  # every replica's old container, running, under its name
            pages = {page(docker_client, cid) for cid, _ in after.values()}
            assert "v2\n" not in pages

    asyncio.run(scenario())


BY_ENV = """#!/bin/sh
if [ "$X" = "2" ]; then
  mkdir /shared/x2 2>/dev/null && echo ok > /www/health.html
else
  echo ok > /www/health.html
fi
exec httpd -f -p 8080 -h /www
"""


def test_up_replacing_replicas_puts_every_one_back_when_one_is_unhealthy(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    """`up` after a configuration change replaces the replicas as a save's round does:
    replica 2 failing after replica 1 was replaced leaves the three old containers."""
    project = scripted(copy_fixture, BY_ENV)
    compose = project / "compose.yaml"
    base = compose.read_text()
    assert asyncio.run(make_session(project, project_name, Recorder()).up(watch=False))
    before = replicas(docker_client, project_name)
    compose.write_text(base.replace(SHARED, SHARED + '    environment: {X: "2"}\n'))
    recorder = Recorder()
    assert not asyncio.run(make_session(project, project_name, recorder).up(watch=False))
    assert (project / "shared" / "x2").is_dir()  # replica 1 was replaced, and healthy
    assert len(recorder.of(ev.Unhealthy, "web")) == 1
    assert replicas(docker_client, project_name) == before
