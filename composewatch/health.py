"""Is the new container serving? The probes and the wait loop (the plan, the route and the
verdicts are decided in `composewatch.core.probe`, re-exported here).

By default a service with a published TCP port is probed over HTTP from this machine (any
status below 500 counts); otherwise its Docker HEALTHCHECK is followed; otherwise "running" is
enough.

An HTTP probe takes one of two routes (`choose_route`, pure):

    host    GET http://<engine host>:<published port><path> from this machine (127.0.0.1
            for a local engine): the fast path, no engine call per attempt
    engine  GET http://127.0.0.1:<container port><path> inside the container, run through
            the engine's exec API with the first HTTP client the image has (wget, curl,
            python3; `InContainerGet`, one exec per attempt, the first included); for ports
            that are not published, or not reachable from here

With a remote engine and `via: auto`, the host route goes first and `RouteState` switches to
the engine route for the rest of the check once the engine's host keeps not answering (a
connect timeout, an unreachable network: not a refused connection, which is what a starting
app gives).
"""

from __future__ import annotations

import errno
import http.client
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol
from urllib.parse import urlsplit

from composewatch import events as ev
from composewatch.core.probe import (
    CANNOT_RUN,
    HTTP_CLIENTS,
    UNREACHABLE_BEFORE_SWITCH,
    ContainerStatus,
    HttpClient,
    ProbeKind,
    ProbePlan,
    ProbeProgress,
    ProbeResult,
    ProbeRoute,
    RouteState,
    choose_probe,
    choose_route,
    docker_verdict,
    exec_verdict,
    find_client_and_get,
    parse_exec_status,
    parse_found_and_got,
    parse_found_client,
    passes,
)
from composewatch.errors import EngineError

__all__ = [
    "HTTP_CLIENTS",
    "UNREACHABLE_BEFORE_SWITCH",
    "ContainerStatus",
    "HttpClient",
    "InContainerGet",
    "ProbeKind",
    "ProbePlan",
    "ProbeProgress",
    "ProbeResult",
    "ProbeRoute",
    "RouteState",
    "choose_probe",
    "choose_route",
    "exec_verdict",
    "find_client_and_get",
    "http_probe",
    "is_unreachable",
    "parse_exec_status",
    "parse_found_and_got",
    "parse_found_client",
    "routed_get",
    "wait_until_healthy",
]

POLL_INTERVAL_S = 0.015  # between attempts: fast enough to see a server the moment it binds


# the host route ──────────────────────────────────────────────────────────────────────────

_UNREACHABLE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
)


def is_unreachable(exc: BaseException) -> bool:
    """Pure: did a connect fail without reaching the host? A timeout (a firewall that drops
    packets), no route, a name that does not resolve. A refused or reset connection reached
    it: the app just does not listen yet."""
    if isinstance(exc, (TimeoutError, socket.gaierror)):
        return True
    return isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS


def http_probe(url: str, expected_status: int | None, timeout_s: float = 1.0) -> ProbeResult:
    """One GET; a refused or reset connection just means "not yet"."""
    parts = urlsplit(url)
    conn_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_type(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        try:
            conn.connect()  # apart from the request: only a connect failure can be "unreachable"
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            return ProbeResult(False, f"{url}: {reason}", unreachable=is_unreachable(exc))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult(False, f"{url}: {exc.__class__.__name__}")
    finally:
        conn.close()
    return ProbeResult(passes(status, expected_status), f"HTTP {status} from {url}")


# the engine route ────────────────────────────────────────────────────────────────────────


class Exec(Protocol):
    """Runs a command in the container: (exit code, stdout and stderr)."""

    def __call__(self, command: list[str]) -> Awaitable[tuple[int, str]]: ...


class InContainerGet:
    """The engine route: each call is one GET inside the container, run by the engine's exec
    API with the first client the image has. The first call finds it and GETs in one exec;
    it is kept for the next calls. A `client` given (found for the service's container
    before, most likely the same base image) is used at once, and searched for again if
    this container cannot run it."""

    def __init__(
        self,
        run: Exec,
        url: str,
        expected_status: int | None,
        *,
        service: str,
        client: HttpClient | None = None,
    ) -> None:
        self.run, self.url, self.expected_status = run, url, expected_status
        self.service = service
        self.client = client
        self._searched = False  # the client was found in this container

    async def __call__(self) -> ProbeResult:
        client = self.client
        try:
            if client is None:
                return await self._first_get()
            return await self._get(client)
        except EngineError as exc:  # e.g. the container is not running: the status poll tells
            return ProbeResult(False, f"running the probe inside the container failed: {exc}")

    async def _get(self, client: HttpClient) -> ProbeResult:
        code, output = await self.run(client.command(self.url))
        if client.timeout and code in CANNOT_RUN:
            # The search found a `timeout` this exec could not run: probe without it from now
            # on rather than fail every attempt the same way.
            client = self.client = replace(client, timeout=False)
            code, output = await self.run(client.command(self.url))
        if code in CANNOT_RUN and not self._searched:
            # Found in another container, whose image had it: this one has not.
            self.client = None
            return await self._first_get()
        return exec_verdict(client.name, code, output, self.url, self.expected_status)

    async def _first_get(self) -> ProbeResult:
        """Find the image's client (kept in `client`), and GET with it, in one exec."""
        self._searched = True
        code, output = await self.run(find_client_and_get(self.url))
        found = parse_found_and_got(output)
        if found is None:  # no shell (or none that ran the search): each client directly
            return await self._try_each()
        client, said = found
        if client is None:
            return self._no_client()
        self.client = client
        if code in CANNOT_RUN:  # what the shell ran, a direct exec may not: try it so
            return await self._get(client)
        return exec_verdict(client.name, code, said, self.url, self.expected_status)

    async def _try_each(self) -> ProbeResult:
        """Without a shell: the first client that runs gives the first answer."""
        for client in map(HttpClient, HTTP_CLIENTS):
            code, output = await self.run(client.command(self.url))
            if code not in CANNOT_RUN:
                self.client = client
                return exec_verdict(client.name, code, output, self.url, self.expected_status)
        return self._no_client()

    def _no_client(self) -> ProbeResult:
        key = f"x-composewatch.services.{self.service}.health"
        return ProbeResult(
            False,
            f"cannot probe {self.url} inside the container: its image has no HTTP client "
            f"({', '.join(HTTP_CLIENTS)} not found). Set {key}.probe to docker (its "
            f"HEALTHCHECK) or running, or publish the port and set {key}.via: host",
            final=True,
        )


# choosing the route as the check goes ────────────────────────────────────────────────────


Get = Callable[[], Awaitable[ProbeResult]]


def routed_get(
    plan: ProbePlan, *, host: Get, engine: Get, switched: Callable[[ProbeResult], None]
) -> Get:
    """One HTTP attempt per call, by the plan's route; `switched(last host result)` is
    called when a fallback moves the check to the engine route."""
    if plan.route is ProbeRoute.ENGINE:
        return engine
    if not plan.fallback:
        return host  # the local fast path: nothing between the loop and the GET
    state = RouteState(plan.route, plan.fallback)

    async def get() -> ProbeResult:
        nonlocal state
        if state.route is ProbeRoute.ENGINE:
            return await engine()
        result = await host()
        state, before = state.after(result), state
        if state.route is not before.route:
            switched(result)
        return result

    return get


class StatusReader(Protocol):
    def __call__(self) -> Awaitable[ContainerStatus]: ...


async def wait_until_healthy(
    plan: ProbePlan,
    *,
    status: StatusReader,
    http_get: Callable[[], Awaitable[ProbeResult]] | None,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float] = time.monotonic,
    service: str = "",
    report: Callable[[ev.Event], None] = lambda event: None,
) -> ProbeResult:
    """Poll until the plan's probe passes, the container dies, or `plan.timeout_s` runs out.

    `http_get` performs one HTTP probe (None unless the plan is HTTP); `status` reads the
    container's state. Both are injected so the loop is tested without Docker or sockets.
    `report` hears what `ProbeProgress` says of the attempts (a probe that keeps failing).
    """
    started = clock()
    deadline = started + plan.timeout_s
    progress = ProbeProgress(service, started)
    last = ProbeResult(False, "no answer yet")
    attempt = 0

    def attempted(result: ProbeResult) -> None:
        nonlocal progress
        progress, said = progress.after(result, clock())
        if said is not None:
            report(said)

    while True:
        # The container's state is read every few attempts: it is what tells a crash apart
        # from a slow start, and it is the slower call.
        if attempt % 8 == 0 or plan.kind is not ProbeKind.HTTP:
            current = await status()
            if not current.running:
                return ProbeResult(False, f"container exited with code {current.exit_code}", True)
            last = docker_verdict(plan, current) or last
            if plan.kind is not ProbeKind.HTTP:
                attempted(last)
            if last.final or (last.ok and plan.kind is not ProbeKind.HTTP):
                return last
        if plan.kind is ProbeKind.HTTP and http_get is not None:
            last = await http_get()
            attempted(last)
            if last.ok or last.final:
                return last
        if clock() >= deadline:
            return ProbeResult(False, f"not healthy after {plan.timeout_s:g} s ({last.detail})")
        attempt += 1
        await sleep(POLL_INTERVAL_S)
