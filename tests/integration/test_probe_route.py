"""The health probe's engine route against the real engine: a port that is not published is
probed inside the container (busybox's httpd and wget), a 404 is not healthy when 200 is
expected, an image without an HTTP client gets one clear answer, and all of it through a
remote engine (a TCP proxy to the local socket), including the switch from an engine host
that does not answer to the engine route.

Run under the shared lock: `flock /tmp/cw-docker.lock .venv/bin/pytest
tests/integration/test_probe_route.py -s` prints the figures.
"""

from __future__ import annotations

import asyncio
import fcntl
import io
import socket
import statistics
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from fakes import ListSink
from test_faults import Proxy

from composewatch import events as ev
from composewatch.buildcache import BuildCache
from composewatch.compose import ProjectOptions, load_project
from composewatch.config import SETTINGS_KEY, parse_settings
from composewatch.engine.containers import Engine
from composewatch.engine.context import Endpoint
from composewatch.engine.executor import DockerRunner
from composewatch.engine.stopsignal import StopSignals
from composewatch.health import HttpClient, ProbeRoute, choose_probe, exec_verdict

BUSYBOX = "busybox:latest"
HTTPD = (
    '["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8000 -h /www"]'
)
FIGURES: dict[str, str] = {}
SIOCGIFADDR = 0x8915  # linux/sockios.h: an interface's IPv4 address


@pytest.fixture(scope="module", autouse=True)
def _print_figures() -> Iterator[None]:
    yield
    if FIGURES:
        print("\nprobe routes: " + "; ".join(f"{k} {v}" for k, v in FIGURES.items()))


def make_runner(
    tmp: Path, project: str, compose: str, engine: Engine
) -> tuple[DockerRunner, ListSink]:
    (tmp / "compose.yaml").write_text(compose)
    loaded = load_project(ProjectOptions(working_dir=str(tmp), project_name=project, environ={}))
    settings = parse_settings(
        loaded.extensions.get(SETTINGS_KEY),
        file="compose.yaml",
        service_names=set(loaded.project.services),
    )
    policy = StopSignals(engine.ignores_sigterm, lambda _: None)
    sink = ListSink()
    runner = DockerRunner(
        loaded, settings, engine, sink, policy, BuildCache(tmp / "cache.json", {})
    )
    engine.ensure_networks(loaded)
    return runner, sink


def start(runner: DockerRunner, service: str, image: str = BUSYBOX) -> str:
    container, _ = runner.swap_in(service, image, None)
    return container


def check(runner: DockerRunner, service: str, container: str) -> tuple[bool, str, bool, float]:
    began = time.monotonic()
    result = asyncio.run(runner.check_health(service, container))
    return result.ok, result.detail, result.final, time.monotonic() - began


def httpd_service(name: str, health: str, image: str = BUSYBOX, ports: str = "") -> str:
    return f"""
services:
  {name}:
    image: {image}
    command: {HTTPD}
    expose: ["8000"]
    {ports}
    stop_grace_period: 1s
x-composewatch:
  services:
    {name}:
      health: {health}
"""


def test_an_unpublished_port_is_probed_healthy_through_the_engine(
    tmp_path: Path, project_name: str, docker_client: docker.DockerClient
) -> None:
    engine = Engine(docker_client)
    assert engine.endpoint.local
    compose = httpd_service("web", "{port: 8000, timeout_s: 20}")
    runner, _ = make_runner(tmp_path, project_name, compose, engine)
    plan = choose_probe(
        runner.loaded.project.services["web"], runner.settings.for_service("web").health
    )
    assert plan.route is ProbeRoute.ENGINE
    container = start(runner, "web")
    ok, detail, _, seconds = check(runner, "web", container)
    assert ok, detail
    assert detail == "HTTP 200 from http://127.0.0.1:8000/ inside the container"
    FIGURES["engine route, start to healthy"] = f"{seconds * 1000:.0f} ms"

    # One in-container GET, measured on the healthy server (the host route's is ~1 ms).
    client = HttpClient("wget", timeout=True)
    timings, verdicts = [], set()
    for _ in range(10):
        began = time.monotonic()
        code, output = engine.exec_output(container, client.command(plan.in_container_url))
        timings.append(time.monotonic() - began)
        verdicts.add(exec_verdict("wget", code, output, plan.in_container_url, None).ok)
    assert verdicts == {True}
    FIGURES["one in-container GET (median of 10)"] = f"{statistics.median(timings) * 1000:.0f} ms"


def test_a_path_that_404s_is_not_healthy_when_200_is_expected(
    tmp_path: Path, project_name: str, docker_client: docker.DockerClient
) -> None:
    engine = Engine(docker_client)
    health = "{port: 8000, path: /nothing, expected_status: 200, timeout_s: 2}"
    runner, _ = make_runner(tmp_path, project_name, httpd_service("web", health), engine)
    container = start(runner, "web")
    ok, detail, final, seconds = check(runner, "web", container)
    assert not ok and not final
    assert detail == (
        "not healthy after 2 s (HTTP 404 from http://127.0.0.1:8000/nothing inside the container)"
    )
    assert seconds < 10


def built_image(client: docker.DockerClient, tag: str, dockerfile: str) -> Iterator[str]:
    """Build `dockerfile` as `tag` for a test; afterwards remove it and its containers."""
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True)
    yield tag
    for container in client.containers.list(all=True, filters={"ancestor": tag}):
        container.remove(force=True)
    client.images.remove(tag, force=True)


@pytest.fixture
def image_without_wget(project_name: str, docker_client: docker.DockerClient) -> Iterator[str]:
    """busybox with its wget link deleted: httpd still serves, but no HTTP client is left
    (busybox has no curl and no python3)."""
    dockerfile = f"FROM {BUSYBOX}\nRUN rm /bin/wget\n"
    yield from built_image(docker_client, f"{project_name}-nowget:latest", dockerfile)


def test_an_image_without_an_http_client_gets_one_clear_answer(
    tmp_path: Path,
    project_name: str,
    docker_client: docker.DockerClient,
    image_without_wget: str,
) -> None:
    engine = Engine(docker_client)
    compose = httpd_service("web", "{port: 8000, timeout_s: 30}", image=image_without_wget)
    runner, _ = make_runner(tmp_path, project_name, compose, engine)
    container = start(runner, "web", image_without_wget)
    ok, detail, final, seconds = check(runner, "web", container)
    assert not ok and final, detail
    assert "its image has no HTTP client (wget, curl, python3 not found)" in detail
    assert "x-composewatch.services.web.health.probe to docker" in detail
    assert "x-composewatch.services.web.health.via: host" in detail
    assert seconds < 5  # said at once, not after the 30 s timeout
    FIGURES["no HTTP client, said after"] = f"{seconds * 1000:.0f} ms"


@pytest.fixture
def image_without_timeout(project_name: str, docker_client: docker.DockerClient) -> Iterator[str]:
    """busybox with its timeout link deleted: its sh still runs `timeout` as an applet, a
    direct exec of `timeout` finds nothing."""
    dockerfile = f"FROM {BUSYBOX}\nRUN rm /bin/timeout\n"
    yield from built_image(docker_client, f"{project_name}-notimeout:latest", dockerfile)


def test_an_image_without_a_timeout_file_is_probed_healthy_and_a_failing_probe_is_said(
    tmp_path: Path,
    project_name: str,
    docker_client: docker.DockerClient,
    image_without_timeout: str,
) -> None:
    """The search for the client execs the `timeout` the probe would exec: none here, so the
    probe runs wget bare and the first check is healthy. A probe of a port nothing listens on
    is said (the reason, the count) within 2 s, then again while it goes on."""
    engine = Engine(docker_client)
    compose = f"""
services:
  web:
    image: {image_without_timeout}
    command: {HTTPD}
    stop_grace_period: 1s
  idle:
    image: {image_without_timeout}
    command: {HTTPD}
    stop_grace_period: 1s
x-composewatch:
  services:
    web:
      health: {{port: 8000, timeout_s: 20}}
    idle:
      health: {{port: 8001, timeout_s: 4}}
"""
    runner, sink = make_runner(tmp_path, project_name, compose, engine)
    said_at: list[float] = []

    def heard(event: ev.Event) -> None:
        said_at.append(time.monotonic())
        sink(event)

    runner.ui = heard
    execs: list[list[str]] = []
    exec_output = engine.exec_output

    def recorded(cid: str, command: list[str]) -> tuple[int, str]:
        execs.append(command)
        return exec_output(cid, command)

    engine.exec_output = recorded  # type: ignore[method-assign]

    container = start(runner, "web", image_without_timeout)
    ok, detail, _, seconds = check(runner, "web", container)
    assert ok, detail
    assert detail == "HTTP 200 from http://127.0.0.1:8000/ inside the container"
    assert runner.checks._http_clients["web"] == HttpClient("wget", timeout=False)
    assert sink.events == []  # healthy at once: nothing to say
    # The search and the first GET in one exec, then wget bare: no exec of a `timeout` it lacks
    assert [c[0] for c in execs] == ["sh"] + ["wget"] * (len(execs) - 1)
    FIGURES["no timeout file, start to healthy"] = f"{seconds * 1000:.0f} ms"

    idle = start(runner, "idle", image_without_timeout)
    began = time.monotonic()
    ok, detail, final, seconds = check(runner, "idle", idle)
    assert not ok and not final and "not healthy after 4 s" in detail
    failed = [e for e in sink.of(ev.ProbeFailed) if isinstance(e, ev.ProbeFailed)]
    assert failed and failed[0].first and not any(e.first for e in failed[1:])
    assert "Connection refused" in failed[0].reason, failed[0].reason
    assert said_at[0] - began < 2.0
    assert len(failed) >= 2 and failed[-1].attempts > failed[0].attempts
    FIGURES["a failing probe, first said after"] = f"{(said_at[0] - began) * 1000:.0f} ms"


@pytest.fixture
def image_without_shell(project_name: str, docker_client: docker.DockerClient) -> Iterator[str]:
    """FROM scratch with busybox's static binary as /bin/httpd and /bin/wget only: no sh."""
    dockerfile = (
        f"FROM {BUSYBOX} AS bb\nFROM scratch\n"
        "COPY --from=bb /bin/busybox /bin/httpd\nCOPY --from=bb /bin/busybox /bin/wget\n"
    )
    yield from built_image(docker_client, f"{project_name}-nosh:latest", dockerfile)


def test_an_image_without_a_shell_is_probed_with_its_client_directly(
    tmp_path: Path,
    project_name: str,
    docker_client: docker.DockerClient,
    image_without_shell: str,
) -> None:
    engine = Engine(docker_client)
    compose = f"""
services:
  web:
    image: {image_without_shell}
    command: ["/bin/httpd", "-f", "-p", "8000", "-h", "/bin"]
    expose: ["8000"]
x-composewatch:
  services:
    web:
      health: {{port: 8000, path: /wget, expected_status: 200, timeout_s: 20}}
"""
    runner, _ = make_runner(tmp_path, project_name, compose, engine)
    container = start(runner, "web", image_without_shell)
    assert engine.exec_output(container, ["sh", "-c", "true"])[0] == 126  # no shell indeed
    ok, detail, _, seconds = check(runner, "web", container)
    assert ok, detail
    assert detail == "HTTP 200 from http://127.0.0.1:8000/wget inside the container"
    FIGURES["no shell, direct wget, start to healthy"] = f"{seconds * 1000:.0f} ms"


@pytest.fixture
def tcp_engine() -> Iterator[Engine]:
    """The local engine behind a TCP proxy: a remote engine as composewatch sees one."""
    proxy = Proxy()
    client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{proxy.port}")
    endpoint = Endpoint(f"tcp://127.0.0.1:{proxy.port}", "default", "DOCKER_HOST")
    try:
        yield Engine(client, endpoint)
    finally:
        client.close()
        proxy.down()


def test_through_a_remote_engine_an_unpublished_port_is_probed_inside(
    tmp_path: Path, project_name: str, tcp_engine: Engine
) -> None:
    assert not tcp_engine.endpoint.local
    compose = httpd_service("web", "{port: 8000, timeout_s: 20}")
    runner, sink = make_runner(tmp_path, project_name, compose, tcp_engine)
    container = start(runner, "web")
    ok, detail, _, seconds = check(runner, "web", container)
    assert ok, detail
    assert detail == "HTTP 200 from http://127.0.0.1:8000/ inside the container"
    assert not [e for e in sink.events if isinstance(e, ev.Note)]
    FIGURES["engine route via tcp proxy, start to healthy"] = f"{seconds * 1000:.0f} ms"


class Blackhole:
    """A listener whose accept queue is full, so a new connection's SYN is dropped and its
    connect times out: what a firewall in front of a remote engine's host does."""

    def __init__(self, host: str, port: int) -> None:
        self.listener = socket.socket()
        self.listener.bind((host, port))
        self.listener.listen(0)
        self.filling = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, port))
            self.filling.append(s)

    def close(self) -> None:
        for s in [*self.filling, self.listener]:
            s.close()


def bridge_address(client: docker.DockerClient) -> str:
    """This host's IPv4 address on the engine's default bridge, read from the interface.

    Not the bridge network's IPAM `Gateway`: a freshly installed engine lists only a `Subnet`
    there (the key appears once docker0 existed before the engine started)."""
    options = client.networks.get("bridge").attrs.get("Options") or {}
    name = options.get("com.docker.network.bridge.name", "docker0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
    return socket.inet_ntoa(packed[20:24])


def test_a_remote_engine_host_that_does_not_answer_moves_the_check_inside(
    tmp_path: Path, project_name: str, docker_client: docker.DockerClient
) -> None:
    """The engine answers on its API (the proxy) but its host's published ports do not
    answer from here: after two connect timeouts the check goes through the engine, with one
    note. The engine's host is 127.0.0.3 to us; the port is published on the docker0 bridge's
    address (not a loopback one: a loopback-published port of a remote engine goes through
    the engine from the start), so nothing of the engine listens on 127.0.0.3."""
    proxy = Proxy()
    client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{proxy.port}")
    engine = Engine(client, Endpoint(f"tcp://127.0.0.3:{proxy.port}", "default", "DOCKER_HOST"))
    bridge = bridge_address(docker_client)
    blackhole = None
    try:
        assert not engine.endpoint.local and engine.endpoint.probe_host == "127.0.0.3"
        compose = httpd_service("web", "{timeout_s: 20}", ports=f'ports: ["{bridge}::8000"]')
        runner, sink = make_runner(tmp_path, project_name, compose, engine)
        plan = choose_probe(
            runner.loaded.project.services["web"],
            runner.settings.for_service("web").health,
            remote=True,
        )
        assert (plan.route, plan.fallback) == (ProbeRoute.HOST, True)
        container = start(runner, "web")
        url = engine.published_url(container, 8000, "/")
        assert url is not None and url.startswith("http://127.0.0.3:")
        blackhole = Blackhole("127.0.0.3", int(url.rsplit(":", 1)[1].rstrip("/")))
        ok, detail, _, seconds = check(runner, "web", container)
        assert ok, detail
        assert detail == "HTTP 200 from http://127.0.0.1:8000/ inside the container"
        notes = [e for e in sink.events if isinstance(e, ev.Note)]
        assert len(notes) == 1 and "does not answer from here" in notes[0].message
        assert 1.5 < seconds < 10  # two 1 s connect timeouts, then the engine route
        FIGURES["unreachable host, switched and healthy after"] = f"{seconds:.1f} s"
    finally:
        if blackhole is not None:
            blackhole.close()
        client.close()
        proxy.down()


def test_a_short_commands_output_arrives_whole_through_a_tcp_engine(
    tmp_path: Path, project_name: str, tcp_engine: Engine
) -> None:
    """docker-py's exec_start loses the output that comes with the response headers over TCP
    (about 3 in 10 here); ours reads it through the response."""
    compose = httpd_service("web", "{port: 8000}")
    runner, _ = make_runner(tmp_path, project_name, compose, tcp_engine)
    container = start(runner, "web")
    answers = [tcp_engine.exec_output(container, ["echo", "wget"]) for _ in range(60)]
    assert answers == [(0, "wget\n")] * 60
