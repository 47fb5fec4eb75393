"""Fault injection with real containers: failed builds, crashing containers, effects that
raise, an engine connection that drops, Ctrl-C mid-build and mid-check, a crash's leftover.

Each scenario asserts that nothing is stuck and nothing leaks, and records its figures; the
module prints them at the end (run with `-s` to see them; docs/reliability.md quotes a run).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from clirun import sigint_default
from composeedit import add_settings, rebuild_on_save
from cwhelpers import id_of
from test_session import Recorder, fetch, make_session, served, watching, write_page

from composewatch import events as ev
from composewatch.app import Session
from composewatch.core.effects import Effect
from composewatch.core.inputs import Input
from composewatch.core.phases import Phase
from composewatch.engine.containers import Engine
from composewatch.engine.executor import DockerRunner

FIGURES: dict[str, str] = {}
WEB = "http://127.0.0.1:18002/"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module", autouse=True)
def _print_figures() -> Iterator[None]:
    yield
    if FIGURES:
        print("\nfault injection: " + "; ".join(f"{k} {v}" for k, v in FIGURES.items()))


def leftovers(client: docker.DockerClient, project: str) -> list[str]:
    found = client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project}"}
    )
    return [c.name for c in found if c.name and c.name.endswith("_cw-new")]


class Poller:
    """Requests the page all along, counting the answers that were not the expected kind."""

    def __init__(self, url: str) -> None:
        self.url, self.total, self.failed = url, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.total += 1
            if fetch(self.url) is None:
                self.failed += 1
            self._stop.wait(0.02)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_failed_builds_never_fail_a_request(
    copy_fixture: Callable[[str], Path], project_name: str
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    dockerfile = project / "web" / "Dockerfile"
    good = dockerfile.read_text()
    recorder = Recorder()
    rounds = 8

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            before = fetch(WEB)
            with Poller(WEB) as poller:
                dockerfile.write_text(good.replace("COPY www /www", "COPY www /www\nRUN exit 3"))
                for i in range(rounds):
                    write_page(project, "web", f"broken {i}")
                    await recorder.wait_for(ev.BuildFailed, "web", i + 1)
                    assert fetch(WEB) == before
            FIGURES["failed builds"] = str(len(recorder.of(ev.BuildFailed, "web")))
            FIGURES["failed requests"] = f"{poller.failed}/{poller.total}"
            assert poller.failed == 0

    asyncio.run(scenario())


def test_a_crashing_container_is_rolled_back_with_its_exit_code_and_logs(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    dockerfile = project / "web" / "Dockerfile"
    recorder = Recorder()
    rounds = 4

    async def scenario() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            before = fetch(WEB)
            dockerfile.write_text(
                "FROM busybox:latest\nCOPY www /www\n"
                'CMD ["sh", "-c", "echo cannot bind: boom >&2; exit 1"]\n'
            )
            good = 0
            for i in range(rounds):
                write_page(project, "web", f"crash {i}")
                rolled = await recorder.wait_for(ev.RolledBack, "web", i + 1)
                assert isinstance(rolled, ev.RolledBack)
                assert rolled.reason == "container exited with code 1", rolled.reason
                assert any("boom" in line for line in rolled.log_tail), rolled.log_tail
                good += fetch(WEB) == before
            FIGURES["rollbacks"] = f"{good}/{rounds} (reason: exit code 1, log lines shown)"
            assert good == rounds
            assert leftovers(docker_client, project_name) == []

    asyncio.run(scenario())


class Flaky:
    """Wraps the real executor: every `every`-th effect raises before touching anything."""

    def __init__(self, runner: DockerRunner, every: int) -> None:
        self.real = runner.run  # bound before it is replaced by `self.run`
        self.every, self.count, self.raised = every, 0, 0
        self.enabled = True

    async def run(self, effect: Effect) -> Input | None:
        self.count += 1
        if self.enabled and self.count % self.every == 0:
            self.raised += 1
            raise RuntimeError(f"injected fault in {type(effect).__name__}")
        return await self.real(effect)


def test_effects_that_raise_leave_no_service_stuck(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    recorder = Recorder()
    session = make_session(project, project_name, recorder)
    flaky = Flaky(session.runner, every=4)
    session.runner.run = flaky.run  # type: ignore[method-assign]
    flaky.enabled = False  # `up` runs through the same executor: it starts clean
    saves = 15

    async def scenario() -> None:
        async with watching(session, recorder):
            flaky.enabled = True
            for i in range(saves):
                write_page(project, "web", f"v{i}")
                write_page(project, "api", f"a{i}")
                await asyncio.sleep(0.3)  # a save every 0.3 s, while rounds are in flight
            flaky.enabled = False
            write_page(project, "web", "final")
            write_page(project, "api", "final-api")
            assert await served(WEB, "final", 60)
            assert await served("http://127.0.0.1:18001/", "final-api", 60)
            scheduler = session.scheduler
            assert scheduler is not None
            await asyncio.wait_for(scheduler.idle(), 30)
            stuck = [n for n, s in scheduler.state.services.items() if s.phase is not Phase.IDLE]
            FIGURES["effects raising"] = f"{flaky.raised}, services stuck {len(stuck)}"
            assert stuck == [] and flaky.raised >= 5
            assert leftovers(docker_client, project_name) == []

    asyncio.run(scenario())


class Proxy:
    """A TCP front for the engine's unix socket that can be dropped and brought back."""

    def __init__(self, target: str = "/var/run/docker.sock") -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            if self._listener is not None:
                # shutdown first: a close alone leaves the thread blocked in accept() with the
                # socket, and it may still take the next connection (an engine "down" that is not)
                with _quiet():
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for conn in self._conns:
                with _quiet():
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(self.target)
            with self._lock:
                self._conns += [client, engine]
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with _quiet():
        while data := src.recv(65536):
            dst.sendall(data)
    with _quiet():
        dst.shutdown(socket.SHUT_WR)


def session_through(proxy: Proxy, project: Path, project_name: str, recorder: Recorder) -> Session:
    """A session whose engine is reached through `proxy` (so it can be taken away)."""
    client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{proxy.port}")
    return make_session(project, project_name, recorder, Engine(client))


def test_engine_losses_are_ridden_out_and_saves_meanwhile_are_served(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    recorder = Recorder()
    proxy = Proxy()
    session = session_through(proxy, project, project_name, recorder)
    losses, saves_per_loss = 3, 30
    survived = lost_saves = 0

    async def scenario() -> None:
        nonlocal survived, lost_saves
        async with watching(session, recorder):
            for loss in range(losses):
                proxy.down()
                for i in range(saves_per_loss):  # saves while the engine is away
                    write_page(project, "web", f"loss {loss} save {i}")
                    await asyncio.sleep(0.02)
                await recorder.wait_for(ev.EngineLost, None, loss + 1, timeout_s=30)
                await asyncio.sleep(1.0)  # the engine stays away a while
                proxy.up()
                await recorder.wait_for(ev.EngineReturned, None, loss + 1, timeout_s=30)
                last = f"loss {loss} save {saves_per_loss - 1}"
                if await served(WEB, last, 60):
                    survived += 1
                else:
                    lost_saves += 1
            FIGURES["engine losses survived"] = f"{survived}/{losses}"
            FIGURES["saves lost"] = (
                f"{lost_saves}/{losses * saves_per_loss} (last of each burst served)"
            )
            assert survived == losses
            assert session.scheduler is not None
            await asyncio.wait_for(session.scheduler.idle(), 30)  # the last commit included
            assert leftovers(docker_client, project_name) == []

    try:
        asyncio.run(scenario())
    finally:
        proxy.down()


def cli_up(project: Path, project_name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV_BIN / "composewatch"), "-p", project_name, "up"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, signalled as a terminal would
        preexec_fn=sigint_default,
    )


def wait_output(proc: subprocess.Popen[str], text: str, timeout_s: float = 120) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} in {lines}")


def stop_group(proc: subprocess.Popen[str]) -> float:
    """SIGINT to the whole process group, as a terminal's Ctrl-C; the time until it exits.
    No process of the group may be left behind."""
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=10)
    took = time.monotonic() - started
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
    return took


def test_ctrl_c_during_a_build_and_during_a_check_stops_within_a_second(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    dockerfile = project / "web" / "Dockerfile"
    good = dockerfile.read_text()
    health = {"path": "/health.html", "expected_status": 200, "timeout_s": 30}
    add_settings(project / "compose.yaml", {"services": {"web": {"health": health}}})
    (project / "web" / "www" / "health.html").write_text("ok")
    times = []
    proc = cli_up(project, project_name)
    try:
        wait_output(proc, "watching")
        # 1. mid-build: a 20 s build
        dockerfile.write_text(good.replace("COPY www /www", "COPY www /www\nRUN sleep 20"))
        wait_output(proc, "building")
        time.sleep(0.5)
        times.append(stop_group(proc))
        assert fetch(WEB) == "web v1\n"  # the old container serves on
        # 2. mid-check: the new container never gets healthy (no health.html)
        dockerfile.write_text(good)
        proc = cli_up(project, project_name)
        wait_output(proc, "watching")
        (project / "web" / "www" / "health.html").unlink()
        write_page(project, "web", "never healthy")
        wait_output(proc, "built in")
        time.sleep(1.0)  # inside the 30 s health wait
        times.append(stop_group(proc))
        assert leftovers(docker_client, project_name) == []
        names = {
            c.name
            for c in docker_client.containers.list(
                filters={"label": f"com.docker.compose.project={project_name}"}
            )
        }
        assert names == {f"{project_name}-web-1", f"{project_name}-api-1"}
        assert fetch(WEB) != "never healthy"  # the old container serves under its name
        # 3. mid-check again, and the user insists: the second signal exits at once, and
        # what it interrupted is cleaned up by the next start.
        (project / "web" / "www" / "health.html").write_text("ok")
        proc = cli_up(project, project_name)
        wait_output(proc, "watching")
        (project / "web" / "www" / "health.html").unlink()
        write_page(project, "web", "never healthy either")
        wait_output(proc, "built in")
        time.sleep(1.0)
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=10) in (130, -signal.SIGINT)
        times.append(time.monotonic() - started)
        (project / "web" / "www" / "health.html").write_text("ok")
        write_page(project, "web", "healthy again")
        proc = cli_up(project, project_name)
        wait_output(proc, "watching")
        assert leftovers(docker_client, project_name) == []
        assert fetch(WEB) == "healthy again"
        stop_group(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    FIGURES["second Ctrl-C exit"] = f"{times[2]:.2f} s"
    FIGURES["Ctrl-C stop"] = (
        f"{max(times):.2f} s worst (mid-build {times[0]:.2f} s, mid-check {times[1]:.2f} s)"
    )
    assert max(times) < 1.5


def test_a_crash_leftover_is_removed_at_the_next_start_never_adopted(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    project = rebuild_on_save(copy_fixture("two-services"))
    recorder = Recorder()

    async def first() -> None:
        async with watching(make_session(project, project_name, recorder), recorder):
            pass

    asyncio.run(first())
    web = docker_client.containers.get(f"{project_name}-web-1")
    # What a kill -9 between "start the new one" and "commit" leaves: a running `_cw-new`
    # with the service's labels beside the (stopped) container under compose's name.
    leftover = docker_client.containers.run(
        web.attrs["Image"], name=f"{project_name}-web-1_cw-new", labels=web.labels, detach=True
    )
    web.stop(timeout=0)
    again = Recorder()

    async def second() -> None:
        async with watching(make_session(project, project_name, again), again):
            assert fetch(WEB) is not None

    asyncio.run(second())
    assert leftovers(docker_client, project_name) == []
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(id_of(leftover))
    FIGURES["crash leftovers cleaned"] = "1/1"


def test_an_engine_lost_during_startup_is_waited_for(
    copy_fixture: Callable[[str], Path], project_name: str, docker_client: docker.DockerClient
) -> None:
    """The engine goes away before `up` builds anything: `up` says so, waits with backoff,
    and brings the project up once the engine answers again."""
    project = rebuild_on_save(copy_fixture("two-services"))
    recorder = Recorder()
    proxy = Proxy()
    session = session_through(proxy, project, project_name, recorder)

    async def scenario() -> bool:
        proxy.down()
        up = asyncio.create_task(session.up(watch=False))
        await recorder.wait_for(ev.EngineLost, None, 1, timeout_s=30)
        await asyncio.sleep(1.0)  # the engine stays away a while
        proxy.up()
        return await asyncio.wait_for(up, 120)

    try:
        healthy = asyncio.run(scenario())
    finally:
        proxy.down()
    assert healthy
    assert recorder.of(ev.EngineReturned)
    started = [e for e in recorder.of(ev.ServiceStarted) if isinstance(e, ev.ServiceStarted)]
    assert {e.service for e in started} == {"web", "api"}
    assert leftovers(docker_client, project_name) == []
    FIGURES["engine lost during startup"] = "waited for, project up 1/1"
