"""The executor's health checks: probe a new container (HTTP from the host or inside the
container through the engine, else its HEALTHCHECK, else "running") until it is healthy or
the probe gives up, and say why it was not."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from composewatch import events as ev
from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.core.inputs import CheckFailed, Healthy, Input
from composewatch.core.probe import unhealthy_reason
from composewatch.engine.containers import Engine
from composewatch.engine.waits import FollowedEvents
from composewatch.health import (
    ContainerStatus,
    HttpClient,
    InContainerGet,
    ProbeKind,
    ProbePlan,
    ProbeResult,
    choose_probe,
    http_probe,
    routed_get,
    wait_until_healthy,
)
from composewatch.ui import UI

__all__ = ["LOG_TAIL_LINES", "HealthChecks"]

LOG_TAIL_LINES = 12
# A check waiting on the engine's events reads the state again after this long without one
# (an event lost costs no more).
HEARD_TIMEOUT_S = 0.5


@dataclass
class HealthChecks:
    settings: Settings
    engine: Engine
    ui: UI
    # service -> the HTTP client its last container's image had: a new container (a rebuild,
    # most likely on the same base) tries it first, and searches only when it cannot run it
    _http_clients: dict[str, HttpClient] = field(default_factory=dict)
    # Services whose check found the engine's host unreachable (said once; later checks go
    # through the engine directly).
    _host_unreachable: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # The run's one engine event stream: a check that reads the container's state (a
        # HEALTHCHECK, not HTTP) reads it again on its next event, not every few
        # milliseconds; `up`'s dependency waits share it (engine/waits.py).
        self.events = FollowedEvents(lambda: self.engine.client)

    async def check(
        self,
        loaded: LoadedProject,
        service: str,
        generation: int,
        container: str,
        number: int = 1,
    ) -> Input:
        result = await self.check_health(loaded, service, container)
        if result.ok:
            return Healthy(service, generation, number)
        status = await asyncio.to_thread(self.engine.status, container)
        reason, tail = await asyncio.to_thread(self.why_unhealthy, container, result, status)
        return CheckFailed(service, generation, reason, tail, number, status.exit_code)

    def why_unhealthy(
        self, container: str, result: ProbeResult, status: ContainerStatus | None = None
    ) -> tuple[str, tuple[str, ...]]:
        """The probe's verdict, or the exit code when the container has died meanwhile, and
        the container's last log lines."""
        reason = unhealthy_reason(result.detail, status or self.engine.status(container))
        return reason, self.engine.logs_tail(container, LOG_TAIL_LINES)

    async def check_health(
        self, loaded: LoadedProject, service: str, container: str | None
    ) -> ProbeResult:
        if container is None:
            return ProbeResult(False, "no container", final=True)
        model = loaded.project.services[service]
        remote = not self.engine.endpoint.local
        plan = choose_probe(
            model,
            self.settings.for_service(service).health,
            remote=remote,
            host_unreachable=service in self._host_unreachable,
        )

        heard, mark = self.events.current, 0

        async def status() -> ContainerStatus:
            nonlocal mark
            mark = heard.mark() if heard is not None else 0
            return await asyncio.to_thread(self.engine.status, container)

        async def pause(seconds: float) -> None:
            """Between two attempts. HTTP attempts keep their pace (a save's probe is not
            slowed); a state is read again once the engine says it changed."""
            nonlocal heard
            if plan.kind is ProbeKind.HTTP:
                await asyncio.sleep(seconds)
            elif heard is None or not heard.following:
                fresh = await self.events.get()
                if fresh is heard:  # still not followed: poll
                    await asyncio.sleep(seconds)
                heard = fresh  # else opened now: it did not hear the read before; read again
            else:
                await heard.wait((container,), mark, timeout_s=HEARD_TIMEOUT_S, poll_s=seconds)

        http_get, inside = None, None
        if plan.kind is ProbeKind.HTTP:
            inside = self._in_container_get(service, container, plan)
            http_get = routed_get(
                plan,
                host=self._host_get(container, plan),
                engine=inside,
                switched=partial(self._note_switch, service),
            )
        try:
            return await wait_until_healthy(
                plan,
                status=status,
                http_get=http_get,
                sleep=pause,
                service=service,
                report=self.ui,
            )
        finally:
            if inside is not None and inside.client is not None:
                self._http_clients[service] = inside.client

    def _host_get(self, container: str, plan: ProbePlan) -> Callable[[], Awaitable[ProbeResult]]:
        """The host route: GET the published port (the engine's host for a remote engine)."""
        found: list[str] = [plan.url] if plan.url else []

        async def get() -> ProbeResult:
            # The port is looked up until it shows: a container that crashes at once has
            # none, and the status poll then says it exited, with its code.
            if not found:
                url = await asyncio.to_thread(
                    self.engine.published_url, container, plan.container_port, plan.path
                )
                if url is None:
                    return ProbeResult(False, f"port {plan.container_port} is not published")
                found.append(url)
            return await asyncio.to_thread(http_probe, found[0], plan.expected_status)

        return get

    def _in_container_get(self, service: str, container: str, plan: ProbePlan) -> InContainerGet:
        """The engine route, with the HTTP client found for this service before, if any
        (created here; nothing runs until the route is taken)."""

        async def run(command: list[str]) -> tuple[int, str]:
            return await asyncio.to_thread(self.engine.exec_output, container, command)

        return InContainerGet(
            run,
            plan.in_container_url,
            plan.expected_status,
            service=service,
            client=self._http_clients.get(service),
        )

    def _note_switch(self, service: str, result: ProbeResult) -> None:
        if service in self._host_unreachable:
            return
        self._host_unreachable.add(service)
        key = f"x-composewatch.services.{service}.health.via"
        self.ui(
            ev.Note(
                f"{service}: the engine's host does not answer from here ({result.detail}); "
                "probing health inside the container through the engine instead. "
                f"Set {key}: engine to go there directly.",
                level="warning",
            )
        )
