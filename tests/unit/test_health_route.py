"""The HTTP probe's route (host or engine), the switch to the engine route when a remote
engine's host is unreachable, and the in-container GET's parsing on real client outputs.
No Docker, no sockets, no sleeps: the exec and the host GET are scripted."""

from __future__ import annotations

import asyncio
import errno
import socket
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest
from fakes import FakeEngine, ListSink

from composewatch import events as ev
from composewatch.buildcache import BuildCache
from composewatch.compose import ProjectOptions, load_project
from composewatch.compose.model import Service
from composewatch.config import SETTINGS_KEY, HealthSettings, parse_settings
from composewatch.core.probe import FOUND_MARK
from composewatch.engine.containers import Engine
from composewatch.engine.context import Endpoint
from composewatch.engine.executor import DockerRunner
from composewatch.engine.stopsignal import StopSignals
from composewatch.errors import ConfigError, EngineError
from composewatch.health import (
    UNREACHABLE_BEFORE_SWITCH,
    ContainerStatus,
    HttpClient,
    InContainerGet,
    ProbeKind,
    ProbePlan,
    ProbeResult,
    ProbeRoute,
    RouteState,
    choose_probe,
    choose_route,
    exec_verdict,
    find_client_and_get,
    is_unreachable,
    parse_exec_status,
    parse_found_and_got,
    parse_found_client,
    routed_get,
    wait_until_healthy,
)

HOST, ENGINE = ProbeRoute.HOST, ProbeRoute.ENGINE
URL = "http://127.0.0.1:8000/"

# Real outputs (stdout and stderr as the engine's exec returns them), recorded with
# busybox:latest (BusyBox v1.35.0) running `httpd -f -p 8000`, python:3.11-slim running
# `python3 -m http.server 8000`, and GNU Wget 1.21.3 and curl 7.88.1 against the same kind of
# server.
BUSYBOX_WGET_200 = (
    0,
    "  HTTP/1.1 200 OK\n  Date: Wed, 25 Nov 2026 14:29:55 GMT\n  Connection: close\n"
    "  Content-type: text/html\n  Accept-Ranges: bytes\n"
    "  Last-Modified: Wed, 25 Nov 2026 14:29:54 GMT\n"
    '  ETag: "6b06f0e2-3"\n  Content-Length: 3\n  \n',
)
BUSYBOX_WGET_404 = (
    1,
    "  HTTP/1.1 404 Not Found\nwget: server returned error: HTTP/1.1 404 Not Found\n",
)
BUSYBOX_WGET_REFUSED = (1, "wget: can't connect to remote host (127.0.0.1): Connection refused\n")
GNU_WGET_200 = (  # GNU Wget 1.21.3 against python3 -m http.server
    0,
    "  HTTP/1.0 200 OK\n  Server: SimpleHTTP/0.6 Python/3.11.7\n"
    "  Date: Wed, 25 Nov 2026 14:59:11 GMT\n  Content-type: text/html; charset=utf-8\n"
    "  Content-Length: 5219\n",
)
GNU_WGET_404 = (
    8,
    "  HTTP/1.0 404 File not found\n  Server: SimpleHTTP/0.6 Python/3.11.7\n"
    "  Date: Wed, 25 Nov 2026 14:59:11 GMT\n  Connection: close\n"
    "  Content-Type: text/html;charset=utf-8\n  Content-Length: 335\n",
)
GNU_WGET_REFUSED = (4, "")  # -q says nothing
CURL_200, CURL_404, CURL_REFUSED = (0, "200"), (0, "404"), (7, "000")
PYTHON_200, PYTHON_404 = (0, "200\n"), (0, "404\n")
PYTHON_REFUSED = (1, "python3: <urlopen error [Errno 111] Connection refused>\n")
NO_SUCH_EXECUTABLE = (
    126,
    "OCI runtime exec failed: exec failed: unable to start container process: exec: "
    '"sh": executable file not found in $PATH: unknown\r\n',
)


def service(**kw: object) -> Service:
    return Service.model_validate({"image": "x", **kw})


# choosing the route ───────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("via", "published", "remote", "loopback_only", "expected"),
    [
        ("auto", True, False, False, (HOST, False)),  # local and published: as ever
        ("auto", True, False, True, (HOST, False)),  # local loopback is this machine's
        ("auto", False, False, False, (ENGINE, False)),  # not published: only inside
        ("auto", True, True, False, (HOST, True)),  # remote: its host first, then engine
        ("auto", True, True, True, (ENGINE, False)),  # remote host's loopback: not from here
        ("auto", False, True, False, (ENGINE, False)),
        ("host", False, True, False, (HOST, False)),  # asked for: never switched
        ("host", True, True, False, (HOST, False)),
        ("engine", True, False, False, (ENGINE, False)),
        ("engine", True, True, False, (ENGINE, False)),
    ],
)
def test_choose_route(
    via: str, published: bool, remote: bool, loopback_only: bool, expected: tuple[ProbeRoute, bool]
) -> None:
    assert (
        choose_route(
            via,  # type: ignore[arg-type]
            published=published,
            remote=remote,
            loopback_only=loopback_only,
        )
        == expected
    )


def test_a_published_port_is_probed_from_here_and_an_exposed_one_inside() -> None:
    published = service(ports=[{"target": 5000, "published": "5000"}])
    plan = choose_probe(published, HealthSettings())
    assert (plan.route, plan.fallback) == (HOST, False)
    exposed = service(expose=["8000"])
    plan = choose_probe(exposed, HealthSettings(port=8000, path="/healthz"))
    assert (plan.kind, plan.route, plan.container_port) == (ProbeKind.HTTP, ENGINE, 8000)
    assert plan.in_container_url == "http://127.0.0.1:8000/healthz"
    # probe: http on a service with no published port, with the port to probe
    plan = choose_probe(service(), HealthSettings(probe="http", port=9000))
    assert (plan.kind, plan.route) == (ProbeKind.HTTP, ENGINE)
    # health.port that is not the published one
    plan = choose_probe(published, HealthSettings(port=6000))
    assert plan.route is ENGINE


def test_a_remote_engine_probes_its_host_first_unless_bound_to_its_loopback() -> None:
    published = service(ports=[{"target": 5000, "published": "5000"}])
    plan = choose_probe(published, HealthSettings(), remote=True)
    assert (plan.route, plan.fallback) == (HOST, True)
    loopback = service(ports=[{"target": 5000, "published": "5000", "host_ip": "127.0.0.1"}])
    assert choose_probe(loopback, HealthSettings(), remote=True).route is ENGINE
    assert choose_probe(loopback, HealthSettings(), remote=False).route is HOST
    # Once a check found the remote host unreachable, later ones go inside at once; a local
    # engine or `via: host` is never moved.
    plan = choose_probe(published, HealthSettings(), remote=True, host_unreachable=True)
    assert (plan.route, plan.fallback) == (ENGINE, False)
    assert choose_probe(published, HealthSettings(), host_unreachable=True).route is HOST
    held = choose_probe(published, HealthSettings(via="host"), remote=True, host_unreachable=True)
    assert held.route is HOST
    # A URL is on this machine by definition: no route, no fallback.
    plan = choose_probe(published, HealthSettings(url="http://127.0.0.1:9/h"), remote=True)
    assert (plan.route, plan.fallback, plan.url) == (HOST, False, "http://127.0.0.1:9/h")


def test_the_route_is_in_the_description() -> None:
    published = service(ports=[{"target": 5000, "published": "5000"}])
    local = choose_probe(published, HealthSettings()).describe()
    assert local == "GET / on published port of 5000/tcp"
    remote = choose_probe(published, HealthSettings(), remote=True).describe()
    assert remote == "GET / on published port of 5000/tcp, through the engine if unreachable"
    inside = choose_probe(service(), HealthSettings(probe="http", port=80)).describe()
    assert inside == "GET http://127.0.0.1:80/ inside the container, through the engine"


def test_via_engine_with_a_url_is_a_setting_error() -> None:
    raw = {"services": {"web": {"health": {"url": "http://127.0.0.1:8/", "via": "engine"}}}}
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, file="compose.yaml", service_names={"web"})
    message = str(caught.value)
    assert "compose.yaml: x-composewatch.services.web.health" in message
    assert "via: engine" in message
    with pytest.raises(ConfigError, match=r"health\.via"):
        parse_settings(
            {"services": {"web": {"health": {"via": "inside"}}}},
            file="compose.yaml",
            service_names={"web"},
        )


# switching route when a remote engine's host is unreachable ───────────────────────────────


@pytest.mark.parametrize(
    ("exc", "unreachable"),
    [
        (TimeoutError("timed out"), True),  # packets dropped on the way
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), True),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), True),
        (OSError(errno.EHOSTUNREACH, "No route to host"), True),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), False),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), False),
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), False),
    ],
)
def test_is_unreachable(exc: BaseException, unreachable: bool) -> None:
    assert is_unreachable(exc) is unreachable


UNREACHABLE = ProbeResult(False, "http://10.0.0.5:8000/: TimeoutError", unreachable=True)
REFUSED = ProbeResult(False, "http://10.0.0.5:8000/: Connection refused")
HTTP_502 = ProbeResult(False, "HTTP 502 from http://10.0.0.5:8000/")


def test_unreachable_attempts_in_a_row_switch_to_the_engine_once() -> None:
    state = RouteState(HOST, fallback=True)
    for _ in range(UNREACHABLE_BEFORE_SWITCH - 1):
        state = state.after(UNREACHABLE)
        assert state.route is HOST
    state = state.after(UNREACHABLE)
    assert state == RouteState(ENGINE)
    assert state.after(REFUSED) == state  # never back


@pytest.mark.parametrize("answer", [REFUSED, HTTP_502])
def test_a_host_that_answers_keeps_the_host_route(answer: ProbeResult) -> None:
    state = RouteState(HOST, fallback=True)
    for _ in range(10):
        state = state.after(UNREACHABLE).after(answer)  # never two unreachable in a row
    assert state.route is HOST and state.unreachable == 0


def test_without_fallback_the_route_never_changes() -> None:
    state = RouteState(HOST)  # a local engine, or via: host
    for _ in range(10):
        state = state.after(UNREACHABLE)
    assert state == RouteState(HOST)


class Scripted:
    """An async callable answering from a list (the last answer repeats), counting calls."""

    def __init__(self, *answers: ProbeResult) -> None:
        self.answers, self.calls = list(answers), 0

    async def __call__(self) -> ProbeResult:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_the_local_host_route_is_the_host_get_itself() -> None:
    host, engine = Scripted(REFUSED), Scripted(REFUSED)
    plan = ProbePlan(ProbeKind.HTTP, 5.0, container_port=80)
    assert routed_get(plan, host=host, engine=engine, switched=print) is host
    inside = ProbePlan(ProbeKind.HTTP, 5.0, container_port=80, route=ENGINE)
    assert routed_get(inside, host=host, engine=engine, switched=print) is engine


def test_a_fallback_check_moves_to_the_engine_and_says_so_once() -> None:
    host = Scripted(UNREACHABLE)
    engine = Scripted(ProbeResult(False, "refused inside"), ProbeResult(True, "HTTP 200"))
    said: list[ProbeResult] = []
    plan = ProbePlan(ProbeKind.HTTP, 5.0, container_port=80, route=HOST, fallback=True)
    get = routed_get(plan, host=host, engine=engine, switched=said.append)

    async def attempts(n: int) -> list[ProbeResult]:
        return [await get() for _ in range(n)]

    results = asyncio.run(attempts(UNREACHABLE_BEFORE_SWITCH + 2))
    assert host.calls == UNREACHABLE_BEFORE_SWITCH and engine.calls == 2
    assert said == [UNREACHABLE]
    assert results[-1].ok


# the in-container GET: parsing real outputs ───────────────────────────────────────────────


@pytest.mark.parametrize(
    ("client", "answer", "status"),
    [
        ("wget", BUSYBOX_WGET_200, 200),
        ("wget", BUSYBOX_WGET_404, 404),
        ("wget", BUSYBOX_WGET_REFUSED, None),
        ("wget", GNU_WGET_200, 200),
        ("wget", GNU_WGET_404, 404),
        ("wget", GNU_WGET_REFUSED, None),
        ("wget", (8, "  HTTP/1.1 301 Moved\n  Location: /a\n  HTTP/1.1 503 Busy\n"), 301),
        ("curl", CURL_200, 200),
        ("curl", CURL_404, 404),
        ("curl", CURL_REFUSED, None),
        ("python3", PYTHON_200, 200),
        ("python3", PYTHON_404, 404),
        ("python3", PYTHON_REFUSED, None),
        ("python3", (1, "Traceback (most recent call last):\n  File 1234\n"), None),
    ],
)
def test_parse_exec_status(client: str, answer: tuple[int, str], status: int | None) -> None:
    assert parse_exec_status(client, answer[1]) == status


@pytest.mark.parametrize(
    ("client", "answer", "expected", "ok"),
    [
        ("wget", BUSYBOX_WGET_200, None, True),
        ("wget", BUSYBOX_WGET_404, None, True),  # any status below 500, as on the host route
        ("wget", BUSYBOX_WGET_404, 200, False),
        ("curl", CURL_404, 404, True),
        ("curl", (0, "503"), None, False),
        ("python3", PYTHON_200, 200, True),
    ],
)
def test_exec_verdict_follows_the_host_rules(
    client: str, answer: tuple[int, str], expected: int | None, ok: bool
) -> None:
    result = exec_verdict(client, *answer, URL, expected)
    assert result.ok is ok and not result.final
    assert result.detail.startswith("HTTP ") and "inside the container" in result.detail


def test_a_refused_connection_inside_is_not_yet() -> None:
    result = exec_verdict("wget", *BUSYBOX_WGET_REFUSED, URL, None)
    assert not result.ok and not result.final
    assert result.detail == (
        f"{URL} inside the container: "
        "wget: can't connect to remote host (127.0.0.1): Connection refused"
    )
    silent = exec_verdict("wget", *GNU_WGET_REFUSED, URL, None)
    assert silent.detail == f"{URL} inside the container: wget exit 4"
    mute = exec_verdict("python3", 0, "", URL, None)
    assert mute.detail == f"{URL} inside the container: python3 printed no HTTP status"
    hostile = exec_verdict("python3", 1, "python3: \x1b[2Jboom\n", URL, None)
    assert "\x1b" not in hostile.detail


def test_parse_found_client() -> None:
    assert parse_found_client("wget timeout") == HttpClient("wget", timeout=True)
    assert parse_found_client(" python3 ") == HttpClient("python3")
    assert parse_found_client(" timeout") is None
    assert parse_found_client("") is None


def test_parse_found_and_got() -> None:
    said = BUSYBOX_WGET_200[1]
    assert parse_found_and_got(f"{FOUND_MARK} wget timeout\n{said}") == (
        HttpClient("wget", timeout=True),
        said,
    )
    assert parse_found_and_got(f"{FOUND_MARK}  \n") == (None, "")
    warned = parse_found_and_got(f"sh: warning\n{FOUND_MARK} curl \n200")
    assert warned == (HttpClient("curl"), "sh: warning\n200")
    assert parse_found_and_got(NO_SUCH_EXECUTABLE[1]) is None  # the shell never ran


def test_client_commands() -> None:
    assert HttpClient("wget").command(URL) == ["wget", "-q", "-S", "-O", "/dev/null", URL]
    curl = HttpClient("curl", timeout=True).command(URL)
    assert curl[:2] == ["timeout", "5"] and curl[2] == "curl" and curl[-1] == URL
    assert "%{http_code}" in curl
    python = HttpClient("python3").command(URL)
    assert python[:2] == ["python3", "-c"] and python[3:] == [URL, "5"]


# the in-container GET: finding the client ─────────────────────────────────────────────────


class FakeExec:
    """Answers commands run in the container by their first word (after `timeout`)."""

    def __init__(self, answers: dict[str, tuple[int, str]]) -> None:
        self.answers = answers
        self.ran: list[list[str]] = []

    async def __call__(self, command: list[str]) -> tuple[int, str]:
        self.ran.append(command)
        word = command[2] if command[0] == "timeout" else command[0]
        return self.answers.get(word, NO_SUCH_EXECUTABLE)


def get_with(run: FakeExec, expected: int | None = None) -> InContainerGet:
    return InContainerGet(run, URL, expected, service="web")


def twice(get: Callable[[], Awaitable[ProbeResult]]) -> tuple[ProbeResult, ProbeResult]:
    async def go() -> tuple[ProbeResult, ProbeResult]:
        return await get(), await get()

    return asyncio.run(go())


def found(client: str, answer: tuple[int, str]) -> tuple[int, str]:
    """What `find_client_and_get` prints when the search finds `client` and its GET answers."""
    return answer[0], f"{FOUND_MARK} {client}\n{answer[1]}"


def test_the_client_is_found_with_the_first_get_in_one_exec() -> None:
    run = FakeExec({"sh": found("wget timeout", BUSYBOX_WGET_200), "wget": BUSYBOX_WGET_200})
    get = get_with(run)
    first, second = twice(get)
    assert first.ok and second.ok
    assert first.detail == f"HTTP 200 from {URL} inside the container"
    assert run.ran[0] == find_client_and_get(URL)
    assert run.ran[1:] == [["timeout", "5", "wget", "-q", "-S", "-O", "/dev/null", URL]]
    assert get.client == HttpClient("wget", timeout=True)


def test_a_known_client_skips_the_search() -> None:
    run = FakeExec({"curl": CURL_404})
    get = InContainerGet(run, URL, 200, service="web", client=HttpClient("curl"))
    result = asyncio.run(get())
    assert not result.ok and result.detail == f"HTTP 404 from {URL} inside the container"
    assert [c[0] for c in run.ran] == ["curl"]


def test_a_known_client_this_container_cannot_run_is_searched_for_again() -> None:
    run = FakeExec({"sh": found("python3 ", PYTHON_200), "python3": PYTHON_200})
    get = InContainerGet(run, URL, 200, service="web", client=HttpClient("wget", timeout=True))
    first, second = twice(get)
    assert first.ok and second.ok
    # wget with `timeout`, then without (no `timeout` either?), then the search, then python3
    assert [c[0] for c in run.ran] == ["timeout", "wget", "sh", "python3"]
    assert get.client == HttpClient("python3")


def test_a_client_found_here_that_the_exec_cannot_run_is_not_searched_for_again() -> None:
    run = FakeExec({"sh": found("wget ", NO_SUCH_EXECUTABLE)})
    get = get_with(run)
    first, second = twice(get)
    assert not first.ok and not first.final and "executable file not found" in first.detail
    assert second == first
    assert [c[0] for c in run.ran] == ["sh", "wget", "wget"]


def test_without_sh_each_client_is_tried_directly() -> None:
    run = FakeExec({"python3": PYTHON_REFUSED})
    get = get_with(run)
    first = asyncio.run(get())
    assert not first.ok and not first.final and "Connection refused" in first.detail
    assert [c[0] for c in run.ran] == ["sh", "wget", "curl", "python3"]
    assert get.client == HttpClient("python3")
    run.answers["python3"] = PYTHON_200
    assert asyncio.run(get()).ok
    assert len(run.ran) == 5


@pytest.mark.parametrize(
    ("shell", "execs"), [((0, f"{FOUND_MARK}  \n"), 1), ((0, ""), 4), (NO_SUCH_EXECUTABLE, 4)]
)
def test_an_image_without_a_client_gets_one_clear_final_answer(
    shell: tuple[int, str], execs: int
) -> None:
    run = FakeExec({"sh": shell})
    result = asyncio.run(get_with(run)())
    assert len(run.ran) == execs  # the search said "none"; or no shell: each client tried
    assert not result.ok and result.final
    assert "no HTTP client" in result.detail and "wget, curl, python3" in result.detail
    assert "x-composewatch.services.web.health.probe to docker" in result.detail
    assert "x-composewatch.services.web.health.via: host" in result.detail


def test_an_exec_that_fails_is_not_yet() -> None:
    async def gone(command: list[str]) -> tuple[int, str]:
        raise EngineError("running 'sh' in c1 failed: container is not running")

    result = asyncio.run(InContainerGet(gone, URL, None, service="web")())
    assert not result.ok and not result.final and "not running" in result.detail


def test_the_wait_ends_on_a_final_http_answer() -> None:
    plan = ProbePlan(ProbeKind.HTTP, 60.0, container_port=80, route=ENGINE)
    final = ProbeResult(False, "no HTTP client", final=True)
    http_get = Scripted(final)

    async def status() -> ContainerStatus:
        return ContainerStatus(True, None, None, False)

    async def no_sleep(seconds: float) -> None:
        raise AssertionError("a final answer needs no second attempt")

    result = asyncio.run(
        wait_until_healthy(
            plan, status=status, http_get=http_get, sleep=no_sleep, clock=lambda: 0.0
        )
    )
    assert result is final and http_get.calls == 1


# the executor: which engine calls each route makes ───────────────────────────────────────

COMPOSE = """
services:
  web:
    image: busybox:latest
    ports: ["8080:80"]
  worker:
    image: busybox:latest
    expose: ["8000"]
x-composewatch:
  services:
    worker:
      health: {port: 8000, path: /ready, expected_status: 200}
"""


def make_runner(tmp_path: Path, engine: FakeEngine) -> tuple[DockerRunner, ListSink]:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    loaded = load_project(
        ProjectOptions(working_dir=str(tmp_path), project_name="probe", environ={})
    )
    settings = parse_settings(
        loaded.extensions.get(SETTINGS_KEY), file="compose.yaml", service_names={"web", "worker"}
    )
    policy = StopSignals(engine.ignores_sigterm, lambda _: None)
    sink = ListSink()
    runner = DockerRunner(
        loaded, settings, cast(Engine, engine), sink, policy, BuildCache(tmp_path / "c.json", {})
    )
    return runner, sink


def executed(engine: FakeEngine) -> list[str]:
    """The programs run in containers, in order."""
    return [str(cast(tuple[str, ...], a[1])[0]) for m, a in engine.calls if m == "exec_output"]


def test_an_exposed_port_is_probed_through_the_engine(tmp_path: Path) -> None:
    engine = FakeEngine()
    answers = {"sh": found("wget ", BUSYBOX_WGET_200), "wget": BUSYBOX_WGET_200}
    engine.exec_answers = lambda cid, cmd: answers[cmd[0]]
    runner, _ = make_runner(tmp_path, engine)
    cid = engine.add("probe-worker-1")
    result = asyncio.run(runner.check_health("worker", cid))
    assert result.ok and result.detail == (
        "HTTP 200 from http://127.0.0.1:8000/ready inside the container"
    )
    assert executed(engine) == ["sh"]  # the search and the first GET in one exec
    assert not any(m == "published_url" for m, _ in engine.calls)
    asyncio.run(runner.check_health("worker", cid))  # the same container: no second search
    assert executed(engine) == ["sh", "wget"]


def test_a_local_published_port_makes_no_exec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = FakeEngine()
    runner, _ = make_runner(tmp_path, engine)
    cid = engine.add("probe-web-1")
    monkeypatch.setattr(
        engine, "published_url", lambda c, port, path: f"http://127.0.0.1:8080{path}"
    )
    monkeypatch.setattr(
        "composewatch.engine.checks.http_probe",
        lambda url, expected: ProbeResult(True, "HTTP 200"),
    )
    assert asyncio.run(runner.check_health("web", cid)).ok
    assert not any(m == "exec_output" for m, _ in engine.calls)


def test_an_unreachable_remote_host_moves_the_check_inside_with_one_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("composewatch.health.POLL_INTERVAL_S", 0)  # no sleeping between tries
    engine = FakeEngine()
    engine.endpoint = Endpoint("tcp://10.0.0.5:2375", "default", "DOCKER_HOST")
    assert not engine.endpoint.local
    answers = {"sh": found("curl ", CURL_200), "curl": CURL_200}
    engine.exec_answers = lambda cid, cmd: answers[cmd[0]]
    runner, sink = make_runner(tmp_path, engine)
    cid = engine.add("probe-web-1")
    monkeypatch.setattr(
        engine, "published_url", lambda c, port, path: f"http://10.0.0.5:8080{path}"
    )
    tried: list[str] = []

    def unreachable(url: str, expected: int | None) -> ProbeResult:
        tried.append(url)
        return ProbeResult(False, f"{url}: TimeoutError", unreachable=True)

    monkeypatch.setattr("composewatch.engine.checks.http_probe", unreachable)
    for _ in range(2):  # two checks (two saves): the note is said once
        result = asyncio.run(runner.check_health("web", cid))
        assert result.ok and "inside the container" in result.detail
    # Only the first check paid the timeouts: the second went inside at once.
    assert tried == ["http://10.0.0.5:8080/"] * UNREACHABLE_BEFORE_SWITCH
    notes = [e for e in sink.events if isinstance(e, ev.Note)]
    assert len(notes) == 1
    assert "web: the engine's host does not answer from here" in notes[0].message
    assert "x-composewatch.services.web.health.via: engine" in notes[0].message


def test_a_new_container_of_the_service_probes_with_the_client_found_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("composewatch.health.POLL_INTERVAL_S", 0)
    engine = FakeEngine()
    engine.endpoint = Endpoint("ssh://root@10.0.0.5", "default", "DOCKER_HOST")
    answers = {"sh": found("curl ", CURL_200), "curl": CURL_200}
    ran: list[tuple[str, str]] = []

    def answer(cid: str, command: list[str]) -> tuple[int, str]:
        ran.append((cid, command[0]))
        return answers[command[0]]

    engine.exec_answers = answer
    runner, _ = make_runner(tmp_path, engine)
    monkeypatch.setattr(
        "composewatch.engine.checks.http_probe",
        lambda url, expected: ProbeResult(False, "TimeoutError", unreachable=True),
    )
    monkeypatch.setattr(engine, "published_url", lambda c, port, path: f"http://h:1{path}")
    old, new = engine.add("probe-web-1"), engine.add("probe-web-2")
    assert asyncio.run(runner.check_health("web", old)).ok
    assert asyncio.run(runner.check_health("web", new)).ok  # a swap's new container
    assert ran == [(old, "sh"), (new, "curl")]


# where the route is shown: the live view's health column and `doctor` ─────────────────────


def test_the_live_view_and_doctor_show_the_route(tmp_path: Path) -> None:
    from composewatch.commands.wiring import health_shown as _health_shown
    from composewatch.doctor import judge_probes

    engine = FakeEngine()
    runner, _ = make_runner(tmp_path, engine)
    loaded, settings = runner.loaded, runner.settings
    shown = {
        name: _health_shown(loaded, settings, name, cast(Engine, engine))
        for name in loaded.project.services
    }
    assert shown == {
        "web": "http://127.0.0.1:8080/",
        "worker": "http://127.0.0.1:8000/ready in the container (via engine)",
    }
    engine.endpoint = Endpoint("tcp://10.0.0.5:2375", "default", "DOCKER_HOST")
    assert _health_shown(loaded, settings, "web", cast(Engine, engine)) == (
        "http://10.0.0.5:8080/ (else via engine)"
    )

    plans = {
        name: choose_probe(s, settings.for_service(name).health, remote=True)
        for name, s in loaded.project.services.items()
    }
    plans["db"] = ProbePlan(ProbeKind.DOCKER, 60.0)
    check = judge_probes(plans, "10.0.0.5")
    assert (check.name, check.level) == ("health probes", "ok")
    assert check.detail == (
        "HTTP from here (at 10.0.0.5, through the engine if that host does not answer): web; "
        "HTTP inside the container, through the engine: worker; HEALTHCHECK or running: db"
    )


# `timeout`: the search runs what the probe's exec will run ────────────────────────────────


def find_client_in(path: Path, *, shell_has_timeout: bool, url: str = URL) -> str:
    """`find_client_and_get`'s script under the local sh, with PATH = `path` only.
    `shell_has_timeout` gives the shell a `timeout` of its own (busybox's sh runs its applet
    so, with no file): a direct exec cannot use that one."""
    prelude = "timeout() { return 0; }; " if shell_has_timeout else ""
    sh, flag, script = find_client_and_get(url)
    done = subprocess.run(
        ["/bin/sh", flag, prelude + script],
        env={"PATH": str(path)},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert sh == "sh"
    return done.stdout


def found_in(path: Path, *, shell_has_timeout: bool) -> HttpClient | None:
    parsed = parse_found_and_got(find_client_in(path, shell_has_timeout=shell_has_timeout))
    assert parsed is not None
    return parsed[0]


def executable(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_a_timeout_only_the_shell_has_is_not_used(tmp_path: Path) -> None:
    executable(tmp_path / "wget", "exit 0")
    assert found_in(tmp_path, shell_has_timeout=True) == HttpClient("wget", timeout=False)


def test_a_timeout_file_that_works_is_used_and_one_that_fails_is_not(tmp_path: Path) -> None:
    executable(tmp_path / "wget", "exit 0")
    executable(tmp_path / "timeout", '[ "$1" = 1 ] && exec "$2"')  # runs `true` by PATH
    executable(tmp_path / "true", "exit 0")
    assert found_in(tmp_path, shell_has_timeout=False) == HttpClient("wget", timeout=True)
    executable(tmp_path / "timeout", "echo 'usage: timeout -t SECS PROG' >&2; exit 1")  # < 1.30
    assert found_in(tmp_path, shell_has_timeout=False) == HttpClient("wget", timeout=False)


def test_no_client_found_prints_only_the_search(tmp_path: Path) -> None:
    assert find_client_in(tmp_path, shell_has_timeout=False) == f"{FOUND_MARK}  \n"


@pytest.mark.parametrize("timeout", [False, True])
def test_the_get_runs_in_the_same_shell_with_the_client_found(
    tmp_path: Path, timeout: bool
) -> None:
    # The first client on the list wins; its stderr (wget -S's status line) is read too.
    executable(tmp_path / "python3", "echo python3 ran; exit 3")
    executable(tmp_path / "wget", 'echo "  HTTP/1.1 200 OK" >&2; echo "url: $5" >&2; exit 0')
    if timeout:
        executable(tmp_path / "timeout", 'if [ "$1" = 5 ]; then echo timed >&2; fi; shift; "$@"')
        executable(tmp_path / "true", "exit 0")
    url = "http://127.0.0.1:8000/it's a [path]?q=$HOME"
    output = find_client_in(tmp_path, shell_has_timeout=False, url=url)
    parsed = parse_found_and_got(output)
    assert parsed is not None
    client, said = parsed
    assert client == HttpClient("wget", timeout=timeout)
    assert f"url: {url}" in said and ("timed" in said) is timeout
    assert exec_verdict("wget", 0, said, url, 200).ok


TIMEOUT_NOT_FOUND = (
    126,
    "OCI runtime exec failed: exec failed: unable to start container process: exec: "
    '"timeout": executable file not found in $PATH: unknown\r\n',
)


def test_a_timeout_the_exec_cannot_run_is_dropped_after_one_attempt() -> None:
    ran: list[list[str]] = []

    async def run(command: list[str]) -> tuple[int, str]:
        ran.append(command)
        if command[0] == "sh":
            return found("wget timeout", BUSYBOX_WGET_200)
        return TIMEOUT_NOT_FOUND if command[0] == "timeout" else BUSYBOX_WGET_200

    get = InContainerGet(run, URL, None, service="web")
    first, second = twice(get)
    assert first.ok and second.ok
    assert [c[0] for c in ran] == ["sh", "timeout", "wget"]
    assert get.client == HttpClient("wget", timeout=False)
