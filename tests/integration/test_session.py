"""The up + watch loop in-process on the real engine: saves, failed builds, rollbacks, adoption.

Each test drives a real `Session` against busybox fixtures and asserts on what is served over
HTTP and on the events the user would see.
"""

from __future__ import annotations

import asyncio
import http.client
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import docker
from composeedit import add_settings, rebuild_on_save
from cwhelpers import id_of

from composewatch import events as ev
from composewatch.app import Session
from composewatch.compose import ProjectOptions, load_project
from composewatch.config import SETTINGS_KEY, parse_settings
from composewatch.core.startup import selected_services
from composewatch.engine.containers import Engine


class Recorder:
    """A UI that keeps every event, so tests can wait for and inspect them."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)

    def of(self, kind: type[ev.Event], service: str | None = None) -> list[ev.Event]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (service is None or getattr(e, "service", None) == service)
        ]

    async def wait_for(
        self, kind: type[ev.Event], service: str | None, count: int = 1, timeout_s: float = 60
    ) -> ev.Event:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.of(kind, service)
            if len(found) >= count:
                return found[count - 1]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind.__name__} for {service}; events: {self.events}")


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except (OSError, http.client.HTTPException):  # refused, reset, or cut off by a swap
        return None


async def served(url: str, text: str, timeout_s: float = 60) -> bool:
    """Whether `url` answers `text` within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if fetch(url) == text:
            return True
        await asyncio.sleep(0.05)
    return False


def make_session(
    project_dir: Path, project_name: str, recorder: Recorder, engine: Engine | None = None
) -> Session:
    options = ProjectOptions(working_dir=str(project_dir), project_name=project_name)
    loaded = load_project(options)
    settings = parse_settings(
        loaded.extensions.get(SETTINGS_KEY),
        file="compose.yaml",
        service_names=set(loaded.project.services),
    )
    return Session(
        loaded,
        settings,
        engine or Engine.connect(),
        recorder,
        selected_services(loaded, []),
        reload=lambda: load_project(options),
    )


@asynccontextmanager
async def watching(session: Session, recorder: Recorder) -> AsyncIterator[None]:
    task = asyncio.create_task(session.up(watch=True))
    deadline = time.monotonic() + 120
    while not recorder.of(ev.Watching) and time.monotonic() < deadline:
        if task.done():
            task.result()  # raises what went wrong
        await asyncio.sleep(0.01)
    assert all(isinstance(e, ev.ServiceStarted) for e in recorder.of(ev.ServiceStarted))
    assert not recorder.of(ev.Unhealthy)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def compose_up(compose_bin: Path, project_name: str, project: Path) -> None:
    """`docker compose up -d --build --wait` with the real compose binary."""
    subprocess.run(
        [str(compose_bin), "-p", project_name, "up", "-d", "--build", "--wait"],
        cwd=project,
        check=True,
        capture_output=True,
        timeout=180,
    )


def container_ids(client: docker.DockerClient, project: str) -> dict[str, str]:
    found = client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
    return {c.labels["com.docker.compose.service"]: id_of(c) for c in found}


def require_health_page(project_dir: Path, timeout_s: float) -> None:
    """web is healthy only while it serves /health.html (a 200)."""
    health = {"path": "/health.html", "expected_status": 200, "timeout_s": timeout_s}
    add_settings(project_dir / "compose.yaml", {"services": {"web": {"health": health}}})


def write_page(project_dir: Path, service: str, text: str) -> None:
    (project_dir / service / "www" / "index.html").write_text(text)


def test_a_save_rebuilds_and_swaps_only_its_service(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            before = container_ids(docker_client, project_name)
            write_page(project, "api", "api v2")
            live = await recorder.wait_for(ev.Live, "api")
            assert fetch("http://127.0.0.1:18001/") == "api v2"
            after = container_ids(docker_client, project_name)
            assert after["web"] == before["web"]  # untouched
            assert after["api"] != before["api"]
            assert not recorder.of(ev.BuildStarted, "web")[1:]  # only the initial build
            assert isinstance(live, ev.Live) and live.since_save_s is not None
            phases = [p for p, _ in live.timings]
            assert phases == ["detect", "context", "build", "create", "stop", "start", "checking"]

    asyncio.run(scenario())
    # compose's own CLI sees the swapped container under compose's name.
    names = docker_client.containers.get(container_ids(docker_client, project_name)["api"]).name
    assert names == f"{project_name}-api-1"


def test_a_burst_of_saves_gives_one_build_and_the_last_save_is_served(
    copy_fixture: Callable[[str], Path], project_name: str
) -> None:
    project = copy_fixture("two-services")
    compose = project / "compose.yaml"
    # A quiet period no stall of a loaded machine between two writes can reach.
    add_settings(compose, {"quiet_ms": 300})
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            initial_builds = len(recorder.of(ev.BuildStarted, "web"))
            for n in range(20):
                write_page(project, "web", f"burst {n}")
            await recorder.wait_for(ev.Live, "web")
            await asyncio.sleep(0.5)  # would a second build come?
            assert len(recorder.of(ev.BuildStarted, "web")) == initial_builds + 1
            assert fetch("http://127.0.0.1:18002/") == "burst 19"

    asyncio.run(scenario())


def test_saves_during_a_build_end_with_the_last_save_served(
    copy_fixture: Callable[[str], Path], project_name: str
) -> None:
    project = copy_fixture("two-services")
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            write_page(project, "web", "first")
            await recorder.wait_for(ev.BuildStarted, "web", count=2)
            write_page(project, "web", "second")  # arrives mid-build or mid-swap
            assert await served("http://127.0.0.1:18002/", "second")

    asyncio.run(scenario())


def test_a_failed_build_keeps_the_old_container_serving_and_the_next_save_retries(
    copy_fixture: Callable[[str], Path], project_name: str
) -> None:
    project = copy_fixture("broken-build")
    dockerfile = project / "app" / "Dockerfile"
    broken = dockerfile.read_text()
    dockerfile.write_text((project / "app" / "Dockerfile.good").read_text())
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            served = fetch("http://127.0.0.1:18031/")
            assert served is not None
            dockerfile.write_text(broken)
            failed = await recorder.wait_for(ev.BuildFailed, "app")
            assert isinstance(failed, ev.BuildFailed)
            assert "RUN" in failed.message and "exit 3" in failed.message
            assert any("failing on purpose" in line for line in failed.log_tail)
            assert fetch("http://127.0.0.1:18031/") == served  # still serving
            dockerfile.write_text((project / "app" / "Dockerfile.good").read_text() + "\n")
            (project / "app" / "www" / "index.html").write_text("fixed")
            await recorder.wait_for(ev.Live, "app")
            assert fetch("http://127.0.0.1:18031/") == "fixed"

    asyncio.run(scenario())


def test_an_unhealthy_new_container_is_rolled_back(
    copy_fixture: Callable[[str], Path], project_name: str
) -> None:
    project = copy_fixture("two-services")
    # Healthy means a 200 on /health.html; the first version has it, the second will not.
    require_health_page(project, timeout_s=3)
    (project / "web" / "www" / "health.html").write_text("ok")
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            before = fetch("http://127.0.0.1:18002/")
            (project / "web" / "www" / "health.html").unlink()
            write_page(project, "web", "broken version")
            rolled = await recorder.wait_for(ev.RolledBack, "web")
            assert isinstance(rolled, ev.RolledBack) and "404" in rolled.reason
            assert fetch("http://127.0.0.1:18002/") == before

    asyncio.run(scenario())


def test_up_adopts_what_docker_compose_up_made(
    copy_fixture: Callable[[str], Path],
    project_name: str,
    compose_bin: Path,
    docker_client: docker.DockerClient,
) -> None:
    project = copy_fixture("two-services")
    compose_up(compose_bin, project_name, project)
    made_by_compose = container_ids(docker_client, project_name)
    recorder = Recorder()
    assert asyncio.run(make_session(project, project_name, recorder).up(watch=False))
    started = recorder.of(ev.ServiceStarted)
    assert {e.service for e in started if isinstance(e, ev.ServiceStarted) and e.adopted} == {
        "api",
        "web",
    }
    assert container_ids(docker_client, project_name) == made_by_compose
    # ...and compose, in turn, sees nothing to change.
    ps = subprocess.run(
        [str(compose_bin), "-p", project_name, "up", "-d"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Recreate" not in ps.stderr
    assert container_ids(docker_client, project_name) == made_by_compose


def test_up_with_a_failing_build_keeps_what_serves(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = copy_fixture("broken-build")
    dockerfile = project / "app" / "Dockerfile"
    broken = dockerfile.read_text()
    dockerfile.write_text((project / "app" / "Dockerfile.good").read_text())
    assert asyncio.run(make_session(project, project_name, Recorder()).up(watch=False))
    serving = container_ids(docker_client, project_name)
    dockerfile.write_text(broken)
    recorder = Recorder()
    assert asyncio.run(make_session(project, project_name, recorder).up(watch=False))
    assert recorder.of(ev.BuildFailed, "app")
    assert container_ids(docker_client, project_name) == serving
    assert fetch("http://127.0.0.1:18031/") is not None


def test_a_service_unhealthy_at_up_is_replaced_by_the_next_save(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    """What `up` left unhealthy is what serves under compose's name: the fix's swap replaces
    it there (no name clash), and the watch goes on meanwhile."""
    project = rebuild_on_save(copy_fixture("two-services"))  # a swap, under the same name
    require_health_page(project, timeout_s=2)
    recorder = Recorder()

    async def scenario() -> None:
        task = asyncio.create_task(make_session(project, project_name, recorder).up(watch=True))
        try:
            await recorder.wait_for(ev.Watching, None, timeout_s=120)
            assert recorder.of(ev.Unhealthy, "web") and not recorder.of(ev.Unhealthy, "api")
            unhealthy = container_ids(docker_client, project_name)["web"]
            (project / "web" / "www" / "health.html").write_text("ok")
            write_page(project, "web", "fixed")
            await recorder.wait_for(ev.Live, "web")
            assert await served("http://127.0.0.1:18002/", "fixed", timeout_s=10)
            assert container_ids(docker_client, project_name)["web"] != unhealthy
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    web = docker_client.containers.get(container_ids(docker_client, project_name)["web"])
    assert web.name == f"{project_name}-web-1"
    assert not recorder.of(ev.CommitFailed)


def test_bad_input_exits_2_and_touches_nothing(
    copy_fixture: Callable[[str], Path],
    project_name: str,
    compose_bin: Path,
    docker_client: docker.DockerClient,
) -> None:
    project = copy_fixture("two-services")
    compose_up(compose_bin, project_name, project)
    before = container_ids(docker_client, project_name)
    compose = project / "compose.yaml"
    compose.write_text(compose.read_text().replace("ports:", "portz:", 1))
    result = subprocess.run(
        [sys.executable, "-m", "composewatch", "-p", project_name, "up"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "compose.yaml" in result.stderr and "portz" in result.stderr
    assert "Traceback" not in result.stderr
    assert container_ids(docker_client, project_name) == before
    assert fetch("http://127.0.0.1:18001/") is not None


def test_a_save_during_startup_is_not_lost(
    copy_fixture: Callable[[str], Path], project_name: str
) -> None:
    project = copy_fixture("two-services")
    recorder = Recorder()

    async def scenario() -> None:
        task = asyncio.create_task(make_session(project, project_name, recorder).up(watch=True))
        try:
            await recorder.wait_for(ev.BuildFinished, "web")  # startup is under way
            write_page(project, "web", "saved during startup")
            await recorder.wait_for(ev.Watching, None)
            assert await served("http://127.0.0.1:18002/", "saved during startup"), (
                f"the save was lost; events: {recorder.events}"
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_develop_watch_sync_rules_copy_delete_and_exec_without_a_build(
    tmp_path: Path, project_name: str, docker_client: docker.DockerClient
) -> None:
    project = tmp_path / "sync"
    (project / "app" / "www").mkdir(parents=True)
    (project / "app" / "www" / "index.html").write_text("v1")
    (project / "app" / "www" / "extra.html").write_text("extra")
    (project / "app" / "Dockerfile").write_text(
        'FROM busybox:latest\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
    )
    (project / "compose.yaml").write_text(
        "services:\n"
        "  app:\n"
        "    build: ./app\n"
        '    ports: ["127.0.0.1:18061:8080"]\n'
        "    develop:\n"
        "      watch:\n"
        "        - {path: ./app/www, action: sync+exec, target: /www,\n"
        "           exec: {command: touch /www/exec-ran.html}}\n"
        "        - {path: ./app/Dockerfile, action: rebuild}\n"
    )
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            builds = len(recorder.of(ev.BuildStarted, "app"))
            container = container_ids(docker_client, project_name)["app"]
            (project / "app" / "www" / "index.html").write_text("v2 synced")
            (project / "app" / "www" / "extra.html").unlink()
            await recorder.wait_for(ev.Live, "app")
            assert fetch("http://127.0.0.1:18061/") == "v2 synced"
            assert fetch("http://127.0.0.1:18061/extra.html") is None  # deleted there too
            assert len(recorder.of(ev.BuildStarted, "app")) == builds  # no build
            assert container_ids(docker_client, project_name)["app"] == container  # no swap
            assert fetch("http://127.0.0.1:18061/exec-ran.html") == ""  # the rule's exec ran

    asyncio.run(scenario())


def test_depends_on_conditions_order_the_start_and_jobs_count_when_they_complete(
    tmp_path: Path, project_name: str
) -> None:
    project = tmp_path / "deps"
    (project / "web" / "www").mkdir(parents=True)
    (project / "web" / "www" / "index.html").write_text("web")
    (project / "web" / "Dockerfile").write_text(
        'FROM busybox:latest\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
    )
    (project / "compose.yaml").write_text(
        "services:\n"
        "  migrate:\n"
        "    image: busybox:latest\n"
        '    command: ["sh", "-c", "sleep 0.3; echo migrated"]\n'
        "  api:\n"
        "    image: busybox:latest\n"
        '    command: ["sh", "-c", "sleep 0.5; touch /ready; sleep 300"]\n'
        "    healthcheck:\n"
        '      test: ["CMD", "test", "-f", "/ready"]\n'
        "      interval: 200ms\n"
        "  web:\n"
        "    build: ./web\n"
        '    ports: ["127.0.0.1:18081:8080"]\n'
        "    depends_on:\n"
        "      migrate: {condition: service_completed_successfully}\n"
        "      api: {condition: service_healthy}\n"
    )
    recorder = Recorder()
    assert asyncio.run(make_session(project, project_name, recorder).up(watch=False))
    started = [
        e.service for e in recorder.of(ev.ServiceStarted) if isinstance(e, ev.ServiceStarted)
    ]
    assert set(started) == {"migrate", "api", "web"}
    assert started[-1] == "web"
    assert fetch("http://127.0.0.1:18081/") == "web"


def test_a_compose_file_edit_recreates_only_what_it_changed(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = copy_fixture("two-services")
    compose = project / "compose.yaml"
    recorder = Recorder()

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            before = container_ids(docker_client, project_name)
            # A broken edit is reported and changes nothing.
            compose.write_text(compose.read_text().replace("ports:", "portz:", 1))
            deadline = time.monotonic() + 10
            while (
                not any(
                    "not applied" in e.message
                    for e in recorder.of(ev.Note)
                    if isinstance(e, ev.Note)
                )
                and time.monotonic() < deadline
            ):
                await asyncio.sleep(0.02)
            assert any("not applied" in getattr(e, "message", "") for e in recorder.of(ev.Note))
            assert container_ids(docker_client, project_name) == before
            # A real edit: web moves to another port; api is not touched.
            compose.write_text(
                compose.read_text().replace("portz:", "ports:").replace("18002:8080", "18003:8080")
            )
            await recorder.wait_for(ev.Live, "web")
            assert fetch("http://127.0.0.1:18003/") is not None
            assert fetch("http://127.0.0.1:18002/") is None
            after = container_ids(docker_client, project_name)
            assert after["api"] == before["api"] and after["web"] != before["web"]
            assert not recorder.of(ev.BuildStarted, "web")[1:]  # recreated, not rebuilt

    asyncio.run(scenario())
