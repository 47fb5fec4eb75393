"""Probe choice and the wait loop, with a fake clock and scripted answers: no sockets."""

from __future__ import annotations

import asyncio
import http.server
import itertools
import threading
from collections.abc import Iterator

import pytest

from composewatch import events as ev
from composewatch.compose.model import Service
from composewatch.config import HealthSettings
from composewatch.core.probe import REPEAT_S, STALLED_S, unhealthy_reason
from composewatch.health import (
    ContainerStatus,
    ProbeKind,
    ProbePlan,
    ProbeProgress,
    ProbeResult,
    ProbeRoute,
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


# a probe that keeps failing is shown ───────────────────────────────────────────────────────


def run_reported(
    plan: ProbePlan, answers: list[ProbeResult], statuses: list[ContainerStatus] | None = None
) -> tuple[ProbeResult, list[tuple[float, ev.Event]]]:
    """The wait loop on a fake clock; each report with the (fake) time it was made."""
    fake = FakeTime()
    said: list[tuple[float, ev.Event]] = []
    statuses = statuses or [RUNNING]

    async def status() -> ContainerStatus:
        return statuses.pop(0) if len(statuses) > 1 else statuses[0]

    async def http_get() -> ProbeResult:
        fake.now += 0.05  # one in-container GET through the engine
        return answers.pop(0) if len(answers) > 1 else answers[0]

    result = asyncio.run(
        wait_until_healthy(
            plan,
            status=status,
            http_get=http_get,
            sleep=fake.sleep,
            clock=fake.clock,
            service="web",
            report=lambda event: said.append((fake.now, event)),
        )
    )
    return result, said


EXEC_FAILED = ProbeResult(False, 'OCI runtime exec failed: exec: "timeout": executable file not')


def test_a_probe_that_keeps_failing_is_said_within_2_s_then_counted_until_it_gives_up() -> None:
    plan = ProbePlan(ProbeKind.HTTP, 10.0, container_port=80, route=ProbeRoute.ENGINE)
    result, said = run_reported(plan, [EXEC_FAILED])
    assert not result.ok and "not healthy after 10 s" in result.detail
    failed = [(t, e) for t, e in said if isinstance(e, ev.ProbeFailed)]
    assert [type(e) for _, e in said] == [ev.ProbeFailed] * len(failed)  # never "recovered"
    first_at, first = failed[0]
    assert STALLED_S <= first_at < 2.0 and first.first and first.reason == EXEC_FAILED.detail
    assert first.attempts >= 20 and first.seconds == pytest.approx(first_at)
    # Then about once a second (the live view's count), each with the count so far.
    times = [t for t, _ in failed]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(REPEAT_S <= gap < REPEAT_S + 0.1 for gap in gaps) and len(failed) >= 8
    assert [e.first for _, e in failed[1:]] == [False] * (len(failed) - 1)
    counts = [e.attempts for _, e in failed]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)


def test_a_probe_that_recovers_says_so_once() -> None:
    plan = ProbePlan(ProbeKind.HTTP, 60.0, container_port=80, route=ProbeRoute.ENGINE)
    refused = ProbeResult(False, "Connection refused")
    answers = [refused] * 60 + [ProbeResult(True, "HTTP 200")]
    result, said = run_reported(plan, answers)
    assert result.ok
    kinds = [type(e) for _, e in said]
    assert kinds[0] is ev.ProbeFailed and kinds[-1] is ev.ProbeRecovered
    assert kinds.count(ev.ProbeRecovered) == 1
    recovered = said[-1][1]
    assert isinstance(recovered, ev.ProbeRecovered) and recovered.attempts == 60


def test_a_container_that_answers_soon_says_nothing() -> None:
    plan = ProbePlan(ProbeKind.HTTP, 60.0, container_port=80, route=ProbeRoute.ENGINE)
    answers = [ProbeResult(False, "refused")] * 20 + [ProbeResult(True, "HTTP 200")]
    result, said = run_reported(plan, answers)
    assert result.ok and said == []


def test_a_docker_healthcheck_that_stays_starting_is_shown_too() -> None:
    plan = ProbePlan(ProbeKind.DOCKER, 5.0)
    starting = ContainerStatus(True, None, "starting", True)
    result, said = run_reported(plan, [], [starting])
    assert not result.ok
    assert said and all(isinstance(e, ev.ProbeFailed) for _, e in said)
    assert isinstance(said[0][1], ev.ProbeFailed)
    assert said[0][1].reason == "Docker healthcheck: starting"


FAIL, PASS, FINAL = ProbeResult(False, "refused"), ProbeResult(True, "ok"), None


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # (seconds since the check began, result) → what is said at each step
        ([(0.1, FAIL), (1.0, FAIL), (1.4, PASS)], [None, None, None]),
        ([(0.1, FAIL), (1.5, FAIL), (1.9, FAIL), (2.5, FAIL)], [None, "F1", None, "F"]),
        ([(1.6, FAIL), (1.7, PASS)], ["F1", "R"]),
        ([(1.6, ProbeResult(False, "exited", final=True))], [None]),  # the verdict says it
        ([(3.0, PASS)], [None]),  # passing late without failing first: nothing to recover from
    ],
)
def test_probe_progress_by_table(
    steps: list[tuple[float, ProbeResult]], expected: list[str | None]
) -> None:
    progress = ProbeProgress("web", started_at=100.0)
    said: list[str | None] = []
    for at, result in steps:
        progress, event = progress.after(result, 100.0 + at)
        match event:
            case ev.ProbeFailed(first=True):
                said.append("F1")
            case ev.ProbeFailed():
                said.append("F")
            case ev.ProbeRecovered():
                said.append("R")
            case None:
                said.append(None)
    assert said == expected


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (ContainerStatus(False, 3, None, False), "container exited with code 3"),
        (
            ContainerStatus(True, None, "unhealthy", True),
            "Docker healthcheck: unhealthy (HTTP 500)",
        ),
        (ContainerStatus(True, None, "starting", True), "HTTP 500"),
        (ContainerStatus(False, None, None, False), "HTTP 500"),  # not started: no exit code yet
    ],
)
def test_the_rollback_reason_is_decided_in_the_core(status: ContainerStatus, reason: str) -> None:
    assert unhealthy_reason("HTTP 500", status) == reason
