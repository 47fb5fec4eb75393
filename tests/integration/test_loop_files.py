"""The watch loop against odd file systems and edits outside the build contexts: `.env` and
`env_file` edits, deleted/renamed/non-UTF-8/deeply nested files, symlink loops, a vanished
Dockerfile or context, and a git branch switch. Each ends with a message, never a crash or a
stuck service, and the next good save is served."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import docker
from composeedit import rebuild_on_save
from test_session import Recorder, container_ids, make_session, served, watching, write_page

from composewatch import events as ev
from composewatch.core.phases import Phase

WEB = "http://127.0.0.1:18002/"


def test_env_and_env_file_edits_recreate_only_the_services_they_change(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    compose = project / "compose.yaml"
    compose.write_text(
        compose.read_text()
        .replace(
            "  web:\n    build: ./web\n",
            "  web:\n    build: ./web\n    environment: {GREETING: '${GREETING}'}\n",
        )
        .replace(
            "  api:\n    build: ./api\n", "  api:\n    build: ./api\n    env_file: [api.env]\n"
        )
    )
    (project / ".env").write_text("GREETING=hello\n")
    (project / "api.env").write_text("LEVEL=1\n")
    recorder = Recorder()

    def env_of(service: str) -> list[str]:
        found = docker_client.containers.get(f"{project_name}-{service}-1")
        return list(found.attrs["Config"]["Env"])

    session = make_session(project, project_name, recorder)

    async def scenario() -> None:
        async with watching(session, recorder):
            before = container_ids(docker_client, project_name)
            (project / ".env").write_text("GREETING=bonjour\n")
            await recorder.wait_for(ev.Live, "web")
            await settled(session)
            after = container_ids(docker_client, project_name)
            assert after["api"] == before["api"] and after["web"] != before["web"]
            assert "GREETING=bonjour" in env_of("web")
            (project / "api.env").write_text("LEVEL=2\n")
            await recorder.wait_for(ev.Live, "api")
            await settled(session)
            assert "LEVEL=2" in env_of("api")
            assert container_ids(docker_client, project_name)["web"] == after["web"]
            assert not recorder.of(ev.BuildStarted, "web")[1:]  # recreated, not rebuilt

    asyncio.run(scenario())


async def settled(session: object, timeout_s: float = 30) -> None:
    scheduler = getattr(session, "scheduler", None)
    assert scheduler is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await asyncio.wait_for(scheduler.idle(), timeout_s)
        await asyncio.sleep(0.3)  # a batch still in the watcher's quiet period
        if scheduler.inbox.empty() and not scheduler._tasks:
            busy = [n for n, s in scheduler.state.services.items() if s.phase is not Phase.IDLE]
            assert busy == []
            return
    raise AssertionError("the loop did not settle")


def test_odd_files_give_messages_never_a_crash_or_a_stuck_service(
    copy_fixture: Callable[[str], Path], project_name: str
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    www = project / "web" / "www"
    recorder = Recorder()
    session = make_session(project, project_name, recorder)

    async def scenario() -> None:
        async with watching(session, recorder):
            # Deleted and renamed files.
            (www / "extra.html").write_text("x")
            await settled(session)
            (www / "extra.html").rename(www / "moved.html")
            await settled(session)
            (www / "moved.html").unlink()
            # A non-UTF-8 name, a symlink loop, a very long path.
            os.close(os.open(os.fsencode(www) + b"/caf\xe9.html", os.O_CREAT | os.O_WRONLY))
            (www / "loop").symlink_to(www / "loop")
            deep = www
            for _ in range(30):
                deep = deep / ("d" * 60)
            os.makedirs(deep, exist_ok=True)
            (deep / "page.html").write_text("deep")
            await settled(session)
            os.unlink(os.fsencode(www) + b"/caf\xe9.html")
            (www / "loop").unlink()
            shutil.rmtree(www / ("d" * 60))
            # A vanished Dockerfile: the build fails with a message; then it comes back.
            dockerfile = project / "web" / "Dockerfile"
            saved = dockerfile.read_text()
            dockerfile.unlink()
            await recorder.wait_for(ev.BuildFailed, "web")
            await settled(session)
            dockerfile.write_text(saved)
            await settled(session)
            # A vanished context: moved away (the build fails, said), then back.
            away = project.parent / "web-away"
            shutil.move(project / "web", away)
            await recorder.wait_for(ev.BuildFailed, "web", 2)
            await settled(session)
            shutil.move(away, project / "web")
            await settled(session)
            write_page(project, "web", "after the storm")
            assert await served(WEB, "after the storm", 60)
            await settled(session)

    asyncio.run(scenario())
    failed = [e for e in recorder.of(ev.BuildFailed, "web") if isinstance(e, ev.BuildFailed)]
    assert any("Dockerfile" in e.message for e in failed), failed


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=project,
        check=True,
        capture_output=True,
    )


def test_a_branch_switch_is_waited_out_and_builds_each_service_once(
    copy_fixture: Callable[[str], Path], project_name: str
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "main")
    git(project, "checkout", "-qb", "feature")
    for service in ("web", "api"):
        for i in range(1500):
            (project / service / "www" / f"p{i}.html").write_text(f"{service} {i}")
        write_page(project, service, f"{service} on feature")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "feature")
    git(project, "checkout", "-q", "main")
    recorder = Recorder()
    session = make_session(project, project_name, recorder)

    def builds(service: str) -> int:
        return len(recorder.of(ev.BuildStarted, service))

    async def scenario() -> None:
        async with watching(session, recorder):
            # A slow checkout: git holds index.lock while it writes 3,000 files in chunks,
            # for longer than the batch window (several batches reach composewatch).
            lock = project / ".git" / "index.lock"
            lock.write_text("")
            for chunk in range(3):
                for service in ("web", "api"):
                    for i in range(chunk * 500, (chunk + 1) * 500):
                        (project / service / "www" / f"p{i}.html").write_text(f"{service} {i}")
                await asyncio.sleep(0.6)
            assert builds("web") == builds("api") == 1  # nothing built while git works
            for service in ("web", "api"):
                write_page(project, service, f"{service} on feature")
            lock.unlink()
            assert await served(WEB, "web on feature", 60)
            assert await served("http://127.0.0.1:18001/", "api on feature", 60)
            await settled(session)
            assert builds("web") == builds("api") == 2  # up, then one
            # A real checkout back to main.
            await asyncio.to_thread(git, project, "checkout", "-qf", "main")
            assert await served(WEB, "web v1\n", 60)
            await settled(session)
            assert builds("web") == builds("api") == 3

    asyncio.run(scenario())


def test_a_save_to_a_dockerfile_beside_the_context_rebuilds(
    copy_fixture: Callable[[str], Path], project_name: str
) -> None:
    """`context: ./web`, `dockerfile: ../docker/web.Dockerfile`: the Dockerfile's folder is
    watched, and a save of it rebuilds and serves the new image."""
    project = copy_fixture("two-services")
    (project / "docker").mkdir()
    dockerfile = project / "docker" / "web.Dockerfile"
    recipe = (project / "web" / "Dockerfile").read_text()
    dockerfile.write_text(
        recipe.replace("COPY www /www\n", "COPY www /www\nRUN echo v1 > /www/v\n")
    )
    (project / "web" / "Dockerfile").unlink()
    compose = project / "compose.yaml"
    compose.write_text(
        compose.read_text()
        .replace(
            "    build: ./web\n",
            "    build: {context: ./web, dockerfile: ../docker/web.Dockerfile}\n",
        )
        .replace(":18001:", ":18301:")  # ports of its own: other tests use the fixture's
        .replace(":18002:", ":18302:")
    )
    web = "http://127.0.0.1:18302/v"
    recorder = Recorder()

    async def scenario() -> None:
        session = make_session(project, project_name, recorder)
        session.reload = None  # so the project's folder is not watched: only what builds
        async with watching(session, recorder):
            [watching_event] = recorder.of(ev.Watching)
            assert isinstance(watching_event, ev.Watching)
            roots = watching_event.roots
            assert str(project / "docker") in roots and str(project) not in roots
            assert await served(web, "v1\n", timeout_s=5)
            dockerfile.write_text(dockerfile.read_text().replace("echo v1", "echo v2"))
            await recorder.wait_for(ev.Live, "web")
            assert await served(web, "v2\n", timeout_s=5)

    asyncio.run(scenario())
