"""Is the new container serving? Probe choice (pure), probes, and the wait loop.

By default a service with a published TCP port is probed over HTTP on 127.0.0.1 (any status
below 500 counts); otherwise its Docker HEALTHCHECK is followed; otherwise "running" is enough.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from composewatch.compose.model import Service
from composewatch.config import HealthSettings

__all__ = [
    "ContainerStatus",
    "ProbeKind",
    "ProbePlan",
    "ProbeResult",
    "choose_probe",
    "http_probe",
    "wait_until_healthy",
]

POLL_INTERVAL_S = 0.015  # between attempts: fast enough to see a server the moment it binds


class ProbeKind(StrEnum):
    HTTP = "http"
    DOCKER = "docker"
    RUNNING = "running"


@dataclass(frozen=True)
class ProbePlan:
    kind: ProbeKind
    timeout_s: float
    url: str | None = None  # a full URL, or None to probe `path` on a published container port
    path: str = "/"
    container_port: int | None = None
    expected_status: int | None = None  # None: any status below 500

    def describe(self) -> str:
        if self.kind is not ProbeKind.HTTP:
            return self.kind.value
        return self.url or f"GET {self.path} on published port of {self.container_port}/tcp"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    final: bool = False  # no point in trying again (the container exited, Docker says unhealthy)


@dataclass(frozen=True)
class ContainerStatus:
    running: bool
    exit_code: int | None
    health: str | None  # Docker's HEALTHCHECK status, None when the container has none
    has_healthcheck: bool


def choose_probe(service: Service, settings: HealthSettings) -> ProbePlan:
    """Pure: how to tell that this service serves, from its compose model and our settings."""
    kind = settings.probe
    port = settings.port or _first_published_tcp_port(service)
    if kind == "auto":
        # "docker" falls back to "running" at run time when neither the service nor its image
        # has a HEALTHCHECK: only the created container tells.
        kind = "http" if settings.url or port is not None else "docker"
    if kind == "http" and settings.url is None and port is None:
        kind = "running"
    return ProbePlan(
        kind=ProbeKind(kind),
        timeout_s=settings.timeout_s,
        url=settings.url,
        path=settings.path,
        container_port=port if kind == "http" else None,
        expected_status=settings.expected_status,
    )


def _first_published_tcp_port(service: Service) -> int | None:
    for port in service.ports or ():
        if (port.protocol or "tcp") == "tcp" and port.published != "0":
            return port.target
    return None


def http_probe(url: str, expected_status: int | None, timeout_s: float = 1.0) -> ProbeResult:
    """One GET; a refused or reset connection just means "not yet"."""
    parts = urlsplit(url)
    conn_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_type(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult(False, f"{url}: {exc.__class__.__name__}")
    finally:
        conn.close()
    ok = status == expected_status if expected_status is not None else status < 500
    return ProbeResult(ok, f"HTTP {status} from {url}")


class StatusReader(Protocol):
    def __call__(self) -> Awaitable[ContainerStatus]: ...


async def wait_until_healthy(
    plan: ProbePlan,
    *,
    status: StatusReader,
    http_get: Callable[[], Awaitable[ProbeResult]] | None,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float] = time.monotonic,
) -> ProbeResult:
    """Poll until the plan's probe passes, the container dies, or `plan.timeout_s` runs out.

    `http_get` performs one HTTP probe (None unless the plan is HTTP); `status` reads the
    container's state. Both are injected so the loop is tested without Docker or sockets.
    """
    deadline = clock() + plan.timeout_s
    last = ProbeResult(False, "no answer yet")
    attempt = 0
    while True:
        # The container's state is read every few attempts: it is what tells a crash apart
        # from a slow start, and it is the slower call.
        if attempt % 8 == 0 or plan.kind is not ProbeKind.HTTP:
            current = await status()
            if not current.running:
                return ProbeResult(False, f"container exited with code {current.exit_code}", True)
            last = _docker_verdict(plan, current) or last
            if last.final or (last.ok and plan.kind is not ProbeKind.HTTP):
                return last
        if plan.kind is ProbeKind.HTTP and http_get is not None:
            last = await http_get()
            if last.ok:
                return last
        if clock() >= deadline:
            return ProbeResult(False, f"not healthy after {plan.timeout_s:g} s ({last.detail})")
        attempt += 1
        await sleep(POLL_INTERVAL_S)


def _docker_verdict(plan: ProbePlan, current: ContainerStatus) -> ProbeResult | None:
    if plan.kind is ProbeKind.HTTP:
        return None
    if plan.kind is ProbeKind.DOCKER and current.has_healthcheck:
        if current.health == "healthy":
            return ProbeResult(True, "Docker healthcheck: healthy")
        if current.health == "unhealthy":
            return ProbeResult(False, "Docker healthcheck: unhealthy", final=True)
        return ProbeResult(False, f"Docker healthcheck: {current.health}")
    return ProbeResult(True, "running")
