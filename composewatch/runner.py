"""Carries out the state machine's effects against Docker, the file system and HTTP.

An executor with no decision logic and no memory of what serves: each effect says which
container to check, commit or roll back (the core's state knows). It returns what happened;
what it raises, the scheduler hands to the core as `EffectFailed` (`failure` says whether the
engine itself went away).

A swap is a transaction. `swap` creates the new container under a temporary name, stops the
old one and starts the new one; if any of that fails it undoes it (removes the new, starts the
old) before returning `SwapFailed`, and raises only when the undo failed too, so the core rolls
back again. `commit` and `rollback` are idempotent: the core runs them again after an
interruption, and the next `swap` first removes whatever an interrupted one left under the
temporary name.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from composewatch import events as ev
from composewatch.buildcache import BuildCache
from composewatch.builder import (
    BuildCancelled,
    PreparedBuild,
    build_image,
    prepare_build,
)
from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.containers import Engine
from composewatch.core import state as st
from composewatch.core.backoff import backoff_delays
from composewatch.core.inplace import Copy
from composewatch.core.plan import LEFTOVER_SUFFIX
from composewatch.core.ports import explain_port_in_use
from composewatch.engine.faults import describe, engine_lost
from composewatch.errors import BuildError, ComposewatchError, EngineError
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
from composewatch.mapping import sync_destinations
from composewatch.spec import (
    ContainerSpec,
    container_name,
    container_spec,
    image_name,
    referenced_services,
)
from composewatch.stop import StopPolicy
from composewatch.ui import UI

__all__ = ["TEMP_SUFFIX", "DockerRunner", "SwapNotUndone", "in_daemon_thread"]

TEMP_SUFFIX = LEFTOVER_SUFFIX  # the name a new container has until it is committed
LOG_TAIL_LINES = 12
SUPERSEDED_END_S = 5.0  # the longest a build waits for the one it supersedes to end

T = TypeVar("T")


async def in_daemon_thread(fn: Callable[[], T], name: str) -> T:
    """Run `fn` in a daemon thread. Unlike `asyncio.to_thread`, abandoning it (Ctrl-C) does
    not make the interpreter wait for it at exit: a build's thread may run for minutes, and
    the engine stops the build once our connection closes."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(set_outcome: Callable[[], None]) -> None:
        if not future.done():
            set_outcome()

    def work() -> None:
        outcome: Callable[[], None]
        try:
            result = fn()
            outcome = partial(future.set_result, result)
        except BaseException as exc:  # handed to the awaiting task
            outcome = partial(future.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await future


class SwapNotUndone(EngineError):
    """A swap failed and so did its undo: the old container may be stopped."""


class _StepClock:
    """Times consecutive steps of one phase."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._steps: list[tuple[str, float]] = []

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self._steps.append((step, now - self._last))
        self._last = now

    def lap_once(self, step: str) -> None:
        if not any(name == step for name, _ in self._steps):
            self.lap(step)

    def steps(self) -> st.Steps:
        return tuple(self._steps)


@dataclass
class DockerRunner:
    loaded: LoadedProject
    settings: Settings
    engine: Engine
    ui: UI
    stop_policy: StopPolicy
    cache: BuildCache
    _cancel: dict[tuple[str, int], threading.Event] = field(default_factory=dict)
    _built: dict[str, threading.Event] = field(default_factory=dict)  # set: its last build ended
    _prepared: dict[str, PreparedBuild] = field(default_factory=dict)  # the last hash's walk
    # service -> (container, the HTTP client its image has): found once per container
    _http_clients: dict[str, tuple[str, HttpClient]] = field(default_factory=dict)
    # Services whose check found the engine's host unreachable (said once; later checks go
    # through the engine directly).
    _host_unreachable: set[str] = field(default_factory=set)

    def report(self, event: ev.Event) -> None:
        self.ui(event)

    def cancel_build(self, effect: st.CancelBuild) -> None:
        flag = self._cancel.get((effect.service, effect.generation))
        if flag is not None:
            flag.set()

    def failure(self, effect: st.Effect, exc: Exception) -> st.EffectFailed:
        return st.EffectFailed(effect, describe(exc), engine_lost(exc))

    async def run(self, effect: st.Effect) -> st.Input | None:
        match effect:
            case st.HashContext(service, generation):
                loaded = self.loaded  # a large context takes a while: never block the exit
                prepared = await in_daemon_thread(
                    lambda: prepare_build(loaded, service), f"hash-{service}"
                )
                # The same walk gives the build's tar members: the build reuses it.
                self._prepared[service] = prepared
                return st.ContextHashed(service, generation, prepared.digest)
            case st.StartBuild(service, generation, digest):
                return await self.build(service, generation, digest)
            case st.Swap(service, generation, image, replaces, number):
                return await asyncio.to_thread(
                    self.swap, service, generation, image, replaces, number
                )
            case st.UpdateInPlace(service, generation, container, copies):
                return await asyncio.to_thread(
                    self.update_in_place, service, generation, container, copies
                )
            case st.CheckHealth(service, generation, container):
                return await self.check(service, generation, container)
            case st.Commit(service, generation, exchanges):
                for exchange in exchanges:
                    await asyncio.to_thread(self.commit, service, exchange)
                return st.Committed(service, generation)
            case st.Rollback(service, generation, exchanges):
                for exchange in exchanges:
                    await asyncio.to_thread(self.rollback, service, exchange)
                return st.RolledBack(service, generation)
            case st.SyncFiles(service, generation, containers, paths, restart):
                return await self.sync(service, generation, containers, paths, restart)
            case st.WatchEngine():
                return await self.wait_for_engine()
        return None

    # building ───────────────────────────────────────────────────────────────────────────

    async def build(self, service: str, generation: int, digest: str) -> st.Input:
        # One build of a service on the engine at a time: the one this supersedes was told to
        # stop; it is let end first, so a storm of saves never queues builds on the engine.
        cancelled, ended = threading.Event(), threading.Event()
        self._cancel[(service, generation)] = cancelled
        before, self._built[service] = self._built.get(service), ended

        def work() -> st.Input:
            try:
                if before is not None:
                    before.wait(SUPERSEDED_END_S)
                if cancelled.is_set():
                    return st.BuildFailed(service, generation, "superseded")  # stale
                return self._build(service, generation, digest, cancelled)
            finally:
                ended.set()

        try:
            return await in_daemon_thread(work, f"build-{service}")
        except asyncio.CancelledError:
            cancelled.set()  # the thread stops at the engine's next line
            raise
        finally:
            self._cancel.pop((service, generation), None)

    def _build(
        self, service: str, generation: int, digest: str, cancelled: threading.Event
    ) -> st.Input:
        clock = _StepClock()

        def on_log(line: str) -> None:
            clock.lap_once("context")  # a reused image sends none
            self.ui(ev.BuildLog(service, line))

        try:
            prepared = self._prepared.pop(service, None)
            if prepared is None or prepared.digest != digest:
                prepared = prepare_build(self.loaded, service)
            image = build_image(
                self.engine.client,
                self.loaded,
                service,
                tag=image_name(self.loaded.project, service),
                on_log=on_log,
                cancelled=cancelled,
                prepared=prepared,
                builder=self.settings.builder,
                on_sent=lambda: clock.lap_once("context"),
            )
        except BuildCancelled:
            return st.BuildFailed(service, generation, "superseded")  # stale: dropped by step
        except BuildError as exc:
            return st.BuildFailed(service, generation, exc.step, tuple(exc.log_tail))
        except ComposewatchError as exc:
            return st.BuildFailed(service, generation, str(exc))
        clock.lap("build")
        self.cache.record(service, prepared.digest, image)
        return st.BuildSucceeded(service, generation, image, clock.steps())

    # swapping ───────────────────────────────────────────────────────────────────────────

    def swap(
        self, service: str, generation: int, image: str, old: str | None, number: int = 1
    ) -> st.Input:
        try:
            new, steps = self.swap_in(service, image, old, number)
        except SwapNotUndone:
            raise  # the core rolls back again: the old container may not serve
        except ComposewatchError as exc:
            return st.SwapFailed(service, generation, self.explain(service, exc))
        return st.Swapped(service, generation, new, steps)

    def update_in_place(
        self, service: str, generation: int, container: str, copies: tuple[Copy, ...]
    ) -> st.Input:
        """Copy the saved files into the running container, then restart it (stop, start:
        the engine's neighbour entries are refreshed as for a new container)."""
        clock = _StepClock()
        try:
            self.engine.update_files(container, copies)
            clock.lap("copy")
            self.engine.restart(container, self.stop_policy.timeout_s(service, container))
            clock.lap("restart")
        except ComposewatchError as exc:
            return st.UpdateFailed(service, generation, str(exc))
        return st.UpdatedInPlace(service, generation, clock.steps())

    def explain(self, service: str, exc: ComposewatchError) -> str:
        """A failure's text; a host port in use names the compose file and key."""
        message = str(exc)
        model = self.loaded.project.services[service]
        files = ", ".join(self.loaded.config_files) or "the compose file"
        return explain_port_in_use(message, service, model, files) or message

    def spec_for(self, service: str, image: str, number: int = 1) -> ContainerSpec:
        """Replica `number`'s container to create, with the containers of the services it
        names (observed only when it names some: `service:x` namespaces, `volumes_from`,
        `links`)."""
        wanted = referenced_services(self.loaded.project.services[service])
        peers = self.engine.peers(self.loaded.project.name, wanted)
        return container_spec(self.loaded, service, image, number=number, peers=peers)

    def swap_in(
        self, service: str, image: str, old: str | None, number: int = 1
    ) -> tuple[str, st.Steps]:
        """Create the new container beside the old, then stop the old and start the new.

        Old and new publish the same host ports, so the new one can only start once the old
        one has stopped; creating it first keeps that gap as short as it can be.
        """
        clock = _StepClock()
        spec = self.spec_for(service, image, number)
        temp = spec.name + TEMP_SUFFIX
        self.engine.remove(temp)  # what an interrupted swap left behind, if anything
        new = self.engine.create(spec, temp_name=temp)
        clock.lap("create")
        try:
            if old is not None:
                self.engine.stop(old, self.stop_policy.timeout_s(service, old))
                clock.lap("stop")
            self.engine.start(new)
            clock.lap("start")
        except BaseException as exc:
            try:
                self.rollback(service, st.Exchange(number, new, old))
            except Exception as undo:  # reported with the cause below
                raise SwapNotUndone(f"{exc}; undoing the swap failed too: {undo}") from exc
            raise
        return new, clock.steps()

    def commit(self, service: str, exchange: st.Exchange) -> None:
        new, old = exchange.new, exchange.old
        if old is not None and old != new:
            self.engine.remove(old)
        if new is None:
            return  # a replica above the scale: removed
        name = container_name(self.loaded.project, service, exchange.number)
        if self.engine.container_name(new) != name:
            self.engine.rename(new, name)
        # Learn the new container's stop policy now, not on the next save's critical path.
        self.stop_policy.learn(service, new)

    def rollback(self, service: str, exchange: st.Exchange) -> None:
        new, old = exchange.new, exchange.old
        spec_name = container_name(self.loaded.project, service, exchange.number)
        if new is not None and new != old:
            self.engine.remove(new)
        self.engine.remove(spec_name + TEMP_SUFFIX)
        if old is not None:
            self.engine.start(old)

    # syncing ────────────────────────────────────────────────────────────────────────────

    async def sync(
        self,
        service: str,
        generation: int,
        containers: tuple[str, ...],
        paths: frozenset[Path],
        restart: bool,
    ) -> st.Input:
        """Mirror the changed files into the running container (as `docker compose watch`
        does: copies, deletions, then a rule's exec command or a restart)."""
        develop = self.loaded.project.services[service].develop
        rules = (develop.watch or []) if develop else []
        targets = sync_destinations(paths, rules)
        copies = {str(p): target for p, target in targets.items() if p.exists()}
        deletions = [target for p, target in targets.items() if not p.exists()]
        commands = [
            rule.exec_["command"]
            for rule in rules
            if rule.action == "sync+exec" and rule.exec_ and rule.exec_.get("command")
            if any(p.is_relative_to(rule.path) for p in paths)
        ]
        try:
            for container in containers:  # every replica
                if copies:
                    await asyncio.to_thread(self.engine.sync_files, container, copies)
                if deletions:
                    await asyncio.to_thread(self.engine.exec, container, ["rm", "-rf", *deletions])
                for command in commands:
                    await asyncio.to_thread(self.engine.exec, container, list(command))
                if restart:
                    timeout_s = self.stop_policy.timeout_s(service, container)
                    await asyncio.to_thread(self.engine.restart, container, timeout_s)
        except (ComposewatchError, OSError) as exc:
            if isinstance(exc, OSError) and engine_lost(exc):
                raise
            return st.SyncFailed(service, generation, describe(exc))
        return st.Synced(service, generation, restarted=restart)

    # health ─────────────────────────────────────────────────────────────────────────────

    async def check(self, service: str, generation: int, container: str) -> st.Input:
        result = await self.check_health(service, container)
        if result.ok:
            return st.Healthy(service, generation)
        reason, tail = await asyncio.to_thread(self.why_unhealthy, container, result)
        return st.Unhealthy(service, generation, reason, tail)

    def why_unhealthy(self, container: str, result: ProbeResult) -> tuple[str, tuple[str, ...]]:
        """The probe's verdict, or the exit code when the container has died meanwhile, and
        the container's last log lines."""
        status = self.engine.status(container)
        reason = result.detail
        if not status.running and status.exit_code is not None:
            reason = f"container exited with code {status.exit_code}"
        elif status.health == "unhealthy":
            reason = f"Docker healthcheck: unhealthy ({result.detail})"
        return reason, self.engine.logs_tail(container, LOG_TAIL_LINES)

    async def check_health(self, service: str, container: str | None) -> ProbeResult:
        if container is None:
            return ProbeResult(False, "no container", final=True)
        model = self.loaded.project.services[service]
        remote = not self.engine.endpoint.local
        plan = choose_probe(
            model,
            self.settings.for_service(service).health,
            remote=remote,
            host_unreachable=service in self._host_unreachable,
        )

        async def status() -> ContainerStatus:
            return await asyncio.to_thread(self.engine.status, container)

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
                sleep=asyncio.sleep,
                service=service,
                report=self.ui,
            )
        finally:
            if inside is not None and inside.client is not None:
                self._http_clients[service] = (container, inside.client)

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
        """The engine route, with the HTTP client found for this container before, if any
        (created here; nothing runs until the route is taken)."""

        async def run(command: list[str]) -> tuple[int, str]:
            return await asyncio.to_thread(self.engine.exec_output, container, command)

        known, client = self._http_clients.get(service, (None, None))
        return InContainerGet(
            run,
            plan.in_container_url,
            plan.expected_status,
            service=service,
            client=client if known == container else None,
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

    # the engine ─────────────────────────────────────────────────────────────────────────

    async def wait_for_engine(self) -> st.EngineReturned:
        """Ask the engine, with backoff, until it answers; then say what it runs."""
        lost_at = time.monotonic()
        for delay_s in backoff_delays():
            await asyncio.sleep(delay_s)
            try:
                running = await asyncio.to_thread(self.engine.running, self.loaded.project.name)
            except Exception as exc:  # still gone, or gone again
                if not engine_lost(exc):
                    raise
                continue
            return st.EngineReturned(time.monotonic() - lost_at, running)
        raise AssertionError("backoff_delays never ends")
