"""How to tell that a service's new container serves: the probe's plan and verdicts (pure).

`choose_probe` turns a service's compose model and `x-composewatch` health settings into a
`ProbePlan`; `choose_route` picks the HTTP route (from this machine to the published port, or
inside the container through the engine); `RouteState` moves a remote engine's check to the
engine route once its host keeps not answering; the parsers read an in-container HTTP
client's output. The probes themselves and the wait loop are in `composewatch.health`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace
from enum import StrEnum
from ipaddress import ip_address
from typing import Literal

from composewatch.compose.model import PortConfig, Service
from composewatch.config import HealthSettings
from composewatch.core.progress import (
    REPEAT_S,
    STALLED_S,
    ContainerStatus,
    ProbeProgress,
    ProbeResult,
)

__all__ = [
    "CANNOT_RUN",
    "FOUND_MARK",
    "HTTP_CLIENTS",
    "IN_CONTAINER_TIMEOUT_S",
    "REPEAT_S",
    "STALLED_S",
    "UNREACHABLE_BEFORE_SWITCH",
    "ContainerStatus",
    "HttpClient",
    "ProbeKind",
    "ProbePlan",
    "ProbeProgress",
    "ProbeResult",
    "ProbeRoute",
    "RouteState",
    "Via",
    "choose_probe",
    "choose_route",
    "docker_verdict",
    "exec_verdict",
    "find_client_and_get",
    "parse_exec_status",
    "parse_found_and_got",
    "parse_found_client",
    "passes",
    "unhealthy_reason",
]


# Host attempts in a row that never reached a remote engine's host before the engine route
# takes over: one may be a dropped packet, two in a row say the port is not reachable from here.
UNREACHABLE_BEFORE_SWITCH = 2


IN_CONTAINER_TIMEOUT_S = 5  # bounds one in-container GET when the image has `timeout`


HTTP_CLIENTS = ("wget", "curl", "python3")  # looked for in this order


Via = Literal["auto", "host", "engine"]


class ProbeKind(StrEnum):
    HTTP = "http"
    DOCKER = "docker"
    RUNNING = "running"


class ProbeRoute(StrEnum):
    HOST = "host"  # GET the published port from this machine
    ENGINE = "engine"  # GET 127.0.0.1:<container port> inside the container, through the engine


@dataclass(frozen=True)
class ProbePlan:
    kind: ProbeKind
    timeout_s: float
    url: str | None = None  # a full URL, or None to probe `path` on a published container port
    path: str = "/"
    container_port: int | None = None
    expected_status: int | None = None  # None: any status below 500
    route: ProbeRoute = ProbeRoute.HOST
    fallback: bool = False  # host first; the engine route once the engine's host is unreachable

    @property
    def in_container_url(self) -> str:
        """What the engine route requests inside the container."""
        return f"http://127.0.0.1:{self.container_port}{self.path}"

    def describe(self) -> str:
        if self.kind is not ProbeKind.HTTP:
            return self.kind.value
        if self.url:
            return self.url
        if self.route is ProbeRoute.ENGINE:
            return f"GET {self.in_container_url} inside the container, through the engine"
        published = f"GET {self.path} on published port of {self.container_port}/tcp"
        return published + (", through the engine if unreachable" if self.fallback else "")


def unhealthy_reason(detail: str, status: ContainerStatus) -> str:
    """Why a new container was not healthy, for the rollback: its exit code when it has died
    meanwhile, Docker's HEALTHCHECK verdict when that said unhealthy, else the probe's."""
    if not status.running and status.exit_code is not None:
        return f"container exited with code {status.exit_code}"
    if status.health == "unhealthy":
        return f"Docker healthcheck: unhealthy ({detail})"
    return detail


def choose_probe(
    service: Service,
    settings: HealthSettings,
    *,
    remote: bool = False,
    host_unreachable: bool = False,
) -> ProbePlan:
    """Pure: how to tell that this service serves, from its compose model and our settings.
    `remote`: the engine is not on this machine (a tcp or ssh endpoint); `host_unreachable`:
    an earlier check of this service found the engine's host not answering from here."""
    kind = settings.probe
    port = settings.port or _first_published_tcp_port(service)
    if kind == "auto":
        # "docker" falls back to "running" at run time when neither the service nor its image
        # has a HEALTHCHECK: only the created container tells.
        kind = "http" if settings.url or port is not None else "docker"
    if kind == "http" and settings.url is None and port is None:
        kind = "running"
    route, fallback = ProbeRoute.HOST, False
    if kind == "http" and settings.url is None:
        bindings = _tcp_bindings(service, port)
        route, fallback = choose_route(
            settings.via,
            published=bool(bindings),
            remote=remote,
            loopback_only=bool(bindings) and all(_loopback(b.host_ip) for b in bindings),
            host_unreachable=host_unreachable,
        )
    return ProbePlan(
        kind=ProbeKind(kind),
        timeout_s=settings.timeout_s,
        url=settings.url,
        path=settings.path,
        container_port=port if kind == "http" else None,
        expected_status=settings.expected_status,
        route=route,
        fallback=fallback,
    )


def choose_route(
    via: Via,
    *,
    published: bool,
    remote: bool,
    loopback_only: bool = False,
    host_unreachable: bool = False,
) -> tuple[ProbeRoute, bool]:
    """Pure: (route, fallback) for an HTTP probe of a container port.

    `published`: the port is published on the engine's host; `loopback_only`: only on its
    loopback address, which this machine reaches only when the engine is local.
    """
    if via == "host":
        return ProbeRoute.HOST, False
    if via == "engine" or not published:
        return ProbeRoute.ENGINE, False
    if remote and (loopback_only or host_unreachable):
        # Not reachable from here, or found so before: no timeouts paid again on each check.
        return ProbeRoute.ENGINE, False
    # A remote engine's host may not be reachable from here (a firewall, a private network):
    # try it, and go through the engine when it does not answer.
    return ProbeRoute.HOST, remote


def _first_published_tcp_port(service: Service) -> int | None:
    for port in service.ports or ():
        if (port.protocol or "tcp") == "tcp" and port.published != "0":
            return port.target
    return None


def _tcp_bindings(service: Service, port: int | None) -> list[PortConfig]:
    return [p for p in service.ports or () if p.target == port and (p.protocol or "tcp") == "tcp"]


def _loopback(host_ip: str | None) -> bool:
    if not host_ip:
        return False  # all the host's addresses
    try:
        return host_ip == "localhost" or ip_address(host_ip.strip("[]")).is_loopback
    except ValueError:
        return False


def passes(status: int, expected_status: int | None) -> bool:
    return status == expected_status if expected_status is not None else status < 500


# The search: the first client and whether `timeout` works (busybox's before 1.30 wanted -t).
# Both are looked for as executable files on PATH rather than asked of `command -v` or run by
# name: busybox's sh answers `command -v` with the applet's name, and runs `timeout` as its
# own applet, whether or not the applet's link exists, while the probe's direct exec finds
# only a file. `timeout` is tried by the path the exec will find (the first on PATH), so the
# check runs exactly the program the probe runs. What it found is printed on one line after
# FOUND_MARK.
FOUND_MARK = "composewatch-probe-client:"
_SEARCH = (
    f"IFS=:; c=; for n in {' '.join(HTTP_CLIENTS)}; do for d in $PATH; do "
    'if [ -x "$d/$n" ]; then c=$n; break 2; fi; done; done; t=; '
    'for d in $PATH; do if [ -x "$d/timeout" ]; then '
    '"$d/timeout" 1 true >/dev/null 2>&1 && t=timeout; break; fi; done; unset IFS; '
    f'echo "{FOUND_MARK} $c $t"; '
)


def find_client_and_get(url: str) -> list[str]:
    """Pure: a container's first probe as ONE exec (each exec is a new connection to the
    engine, which over ssh is a new ssh session): the search, then in the same shell the GET
    with the client found, exactly the command `HttpClient.command` gives (its stderr joined
    to stdout, so the search's line comes first). A search that finds no client exits 0
    having printed only its line."""
    arms = []
    for name in HTTP_CLIENTS:
        for timeout in (False, True):
            found = f"{name} timeout" if timeout else f"{name} "
            command = shlex.join(HttpClient(name, timeout).command(url))
            arms.append(f'"{found}") exec {command} 2>&1;;')
    return ["sh", "-c", _SEARCH + f'case "$c $t" in {" ".join(arms)} esac; exit 0']


# urllib without redirects (as the host route and curl): the status the server answered.
_PYTHON_GET = """import sys,urllib.request as r,urllib.error as e
class N(r.HTTPRedirectHandler):
    def redirect_request(s,*a):return None
try:print(r.build_opener(N).open(sys.argv[1],timeout=float(sys.argv[2])).status)
except e.HTTPError as x:print(x.code)
except OSError as x:sys.exit(f"python3: {x}")"""


CANNOT_RUN = frozenset({126, 127})  # the engine (or `timeout`) found no such executable


_WGET_STATUS = re.compile(r"^\s*HTTP/[\d.]+\s+(\d{3})\b", re.M)


_BARE_STATUS = re.compile(r"^(\d{3})\s*$", re.M)


@dataclass(frozen=True)
class HttpClient:
    """The HTTP client an image has, and how it is asked for one GET's status."""

    name: str  # one of HTTP_CLIENTS
    timeout: bool = False  # the image has a working `timeout`: bound a GET the app never answers

    def command(self, url: str) -> list[str]:
        seconds = str(IN_CONTAINER_TIMEOUT_S)
        if self.name == "wget":  # busybox and GNU; -S prints the status line on stderr
            argv = ["wget", "-q", "-S", "-O", "/dev/null", url]  # (busybox crashes on -T)
        elif self.name == "curl":
            argv = ["curl", "-s", "-o", "/dev/null", "-m", seconds, "-w", "%{http_code}", url]
        else:
            argv = ["python3", "-c", _PYTHON_GET, url, seconds]
        return ["timeout", seconds, *argv] if self.timeout else argv


def parse_found_client(output: str) -> HttpClient | None:
    """Pure: the search's line (after FOUND_MARK) → the image's client, None when it has
    none."""
    words = output.split()
    name = next((w for w in words if w in HTTP_CLIENTS), None)
    return HttpClient(name, timeout="timeout" in words) if name else None


def parse_found_and_got(output: str) -> tuple[HttpClient | None, str] | None:
    """Pure: `find_client_and_get`'s output → (the client found, None for none; what the GET
    printed). None when the search's line is missing: the shell did not run it."""
    before, mark, rest = output.partition(FOUND_MARK)
    if not mark:
        return None
    line, _, after = rest.partition("\n")
    return parse_found_client(line), before + after


def parse_exec_status(client: str, output: str) -> int | None:
    """Pure: the HTTP status a client's output shows, None when no server answered. wget
    prints each response's status line (the first: redirects are not followed elsewhere);
    curl's -w and our python3 print the bare code (curl: 000 without an answer)."""
    if client == "wget":
        match = _WGET_STATUS.search(output)
    else:
        match = _BARE_STATUS.search(output)
    if match is None or match.group(1) == "000":
        return None
    return int(match.group(1))


def exec_verdict(
    client: str, exit_code: int, output: str, url: str, expected_status: int | None
) -> ProbeResult:
    """Pure: one in-container GET's verdict, with the host route's rules."""
    status = parse_exec_status(client, output)
    if status is not None:
        ok = passes(status, expected_status)
        return ProbeResult(ok, f"HTTP {status} from {url} inside the container")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    said = "".join(c if c.isprintable() else "?" for c in lines[-1][:200]) if lines else ""
    if not said:  # success without an answer is no answer: never "exit 0, unhealthy"
        said = f"{client} exit {exit_code}" if exit_code else f"{client} printed no HTTP status"
    return ProbeResult(False, f"{url} inside the container: {said}")


@dataclass(frozen=True)
class RouteState:
    """Where the next HTTP attempt goes. With `fallback`, the host route gives way to the
    engine route after UNREACHABLE_BEFORE_SWITCH unreachable attempts in a row, once."""

    route: ProbeRoute
    fallback: bool = False
    unreachable: int = 0  # host attempts in a row that never reached the host

    def after(self, result: ProbeResult) -> RouteState:
        if self.route is not ProbeRoute.HOST or not self.fallback:
            return self
        if not result.unreachable:  # refused, or an HTTP answer: the host is reachable
            return replace(self, unreachable=0)
        if self.unreachable + 1 >= UNREACHABLE_BEFORE_SWITCH:
            return RouteState(ProbeRoute.ENGINE)
        return replace(self, unreachable=self.unreachable + 1)


def docker_verdict(plan: ProbePlan, current: ContainerStatus) -> ProbeResult | None:
    if plan.kind is ProbeKind.HTTP:
        return None
    if plan.kind is ProbeKind.DOCKER and current.has_healthcheck:
        if current.health == "healthy":
            return ProbeResult(True, "Docker healthcheck: healthy")
        if current.health == "unhealthy":
            return ProbeResult(False, "Docker healthcheck: unhealthy", final=True)
        return ProbeResult(False, f"Docker healthcheck: {current.health}")
    return ProbeResult(True, "running")
