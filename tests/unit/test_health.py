"""Probe choice and the wait loop, with a fake clock and scripted answers: no sockets."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

from composewatch.compose.model import Service
from composewatch.config import HealthSettings
from composewatch.health import (
    ContainerStatus,
    ProbeKind,
    ProbePlan,
    ProbeResult,
    choose_probe,
    http_probe,
    wait_until_healthy,
)

RUNNING = ContainerStatus(running=True, exit_code=None, health=None, has_healthcheck=False)


def service(**kw: object) -> Service:
    return Service.model_validate({"image": "x", **kw})


def test_a_published_port_is_probed_over_http() -> None:
    s = service(ports=[{"target": 5000, "published": "5000", "protocol": "tcp"}])
    plan = choose_probe(s, HealthSettings())
    assert (plan.kind, plan.container_port, plan.path) == (ProbeKind.HTTP, 5000, "/")


def test_udp_only_ports_fall_back_to_docker_health() -> None:
    s = service(ports=[{"target": 53, "published": "53", "protocol": "udp"}])
    assert choose_probe(s, HealthSettings()).kind is ProbeKind.DOCKER


def test_settings_override_the_choice() -> None:
    s = service(ports=[{"target": 5000, "published": "5000"}])
    assert choose_probe(s, HealthSettings(probe="running")).kind is ProbeKind.RUNNING
    plan = choose_probe(s, HealthSettings(url="http://127.0.0.1:9/health"))
    assert plan.url == "http://127.0.0.1:9/health"


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def run_wait(
    plan: ProbePlan, statuses: list[ContainerStatus], answers: list[ProbeResult]
) -> ProbeResult:
    fake = FakeTime()

    async def status() -> ContainerStatus:
        return statuses.pop(0) if len(statuses) > 1 else statuses[0]

    async def http_get() -> ProbeResult:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return asyncio.run(
        wait_until_healthy(
            plan, status=status, http_get=http_get, sleep=fake.sleep, clock=fake.clock
        )
    )


def test_http_wait_returns_on_the_first_good_answer() -> None:
    plan = ProbePlan(ProbeKind.HTTP, 5.0, url="http://127.0.0.1:1/")
    answers = [ProbeResult(False, "refused")] * 3 + [ProbeResult(True, "HTTP 200")]
    assert run_wait(plan, [RUNNING], answers).ok


def test_a_crashed_container_fails_at_once() -> None:
    plan = ProbePlan(ProbeKind.HTTP, 60.0, url="http://127.0.0.1:1/")
    exited = ContainerStatus(running=False, exit_code=3, health=None, has_healthcheck=False)
    result = run_wait(plan, [exited], [ProbeResult(False, "refused")])
    assert not result.ok and result.final and "code 3" in result.detail


def test_timeout_reports_the_last_answer() -> None:
    plan = ProbePlan(ProbeKind.HTTP, 1.0, url="http://127.0.0.1:1/")
    result = run_wait(plan, [RUNNING], [ProbeResult(False, "HTTP 502 from x")])
    assert not result.ok and "after 1 s" in result.detail and "HTTP 502" in result.detail


def test_docker_healthcheck_is_followed_and_running_is_the_fallback() -> None:
    plan = ProbePlan(ProbeKind.DOCKER, 10.0)
    starting = ContainerStatus(True, None, "starting", True)
    healthy = ContainerStatus(True, None, "healthy", True)
    assert run_wait(plan, [starting, starting, healthy], []).ok
    unhealthy = ContainerStatus(True, None, "unhealthy", True)
    assert not run_wait(plan, [unhealthy], []).ok
    assert run_wait(plan, [RUNNING], []).detail == "running"


@pytest.fixture
def local_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503 if self.path == "/down" else 204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_probe_against_a_local_server(local_server: str) -> None:
    assert http_probe(local_server + "/", None).ok
    assert not http_probe(local_server + "/down", None).ok
    assert not http_probe(local_server + "/", 200).ok
    assert not http_probe("http://127.0.0.1:9/", None, timeout_s=0.2).ok
