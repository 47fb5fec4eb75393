"""Carries out the state machine's effects against Docker, the file system and HTTP.

It keeps the little run-time knowledge the pure core does not need: which container serves
each service, which one is being swapped in, and the digest of the context last built.
Every failure becomes an input (`BuildFailed`, `SwapFailed`, ...), never an exception out of
the loop, so a broken build or container cannot take the watcher down.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from composewatch import events as ev
from composewatch import state as st
from composewatch.buildcache import BuildCache
from composewatch.builder import BuildCancelled, build_digest, build_image, prepare_build
from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.containers import Engine
from composewatch.errors import BuildError, ComposewatchError
from composewatch.health import (
    ContainerStatus,
    ProbeKind,
    ProbeResult,
    choose_probe,
    http_probe,
    wait_until_healthy,
)
from composewatch.mapping import sync_destinations
from composewatch.spec import container_spec, image_name
from composewatch.stop import StopPolicy
from composewatch.ui import UI

__all__ = ["DockerRunner", "Swapping", "build_digest"]


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
class Swapping:
    """A swap in flight: the new container runs, the old one is stopped but kept."""

    new: str
    old: str | None
    name: str  # compose's container name, which the new container takes on commit


@dataclass
class DockerRunner:
    loaded: LoadedProject
    settings: Settings
    engine: Engine
    ui: UI
    stop_policy: StopPolicy
    cache: BuildCache
    serving: dict[str, str] = field(default_factory=dict)  # service -> container id
    built_digest: dict[str, str] = field(default_factory=dict)  # service -> context digest
    served_image: dict[str, str] = field(default_factory=dict)  # service -> image id
    swapping: dict[str, Swapping] = field(default_factory=dict)
    _cancel: dict[tuple[str, int], threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # commit/rollback run once

    def report(self, event: ev.Event) -> None:
        self.ui(event)

    def cancel_build(self, effect: st.CancelBuild) -> None:
        flag = self._cancel.get((effect.service, effect.generation))
        if flag is not None:
            flag.set()

    async def run(self, effect: st.Effect) -> st.Input | None:
        match effect:
            case st.StartBuild(service, generation):
                return await self.build(service, generation)
            case st.Swap(service, generation, image):
                return await self.swap(service, generation, image)
            case st.CheckHealth(service, generation):
                result = await self.check_health(service, self.swapping_or_serving(service))
                if result.ok:
                    return st.Healthy(service, generation)
                return st.Unhealthy(service, generation, result.detail)
            case st.Commit(service, _):
                await asyncio.to_thread(self.commit, service)
            case st.Rollback(service, generation, reason):
                try:
                    await asyncio.to_thread(self.rollback, service)
                except ComposewatchError as exc:
                    reason += f"; the rollback failed too: {exc}"
                return st.RolledBack(service, generation, reason)
            case st.SyncFiles(service, generation, paths, restart):
                return await self.sync(service, generation, paths, restart)
        return None

    # building ───────────────────────────────────────────────────────────────────────────

    async def build(self, service: str, generation: int) -> st.Input:
        cancelled = threading.Event()
        self._cancel[(service, generation)] = cancelled
        try:
            return await asyncio.to_thread(self._build, service, generation, cancelled)
        finally:
            self._cancel.pop((service, generation), None)

    def _build(self, service: str, generation: int, cancelled: threading.Event) -> st.Input:
        build = self.loaded.project.services[service].build
        assert build is not None
        try:
            clock = _StepClock()
            prepared = prepare_build(self.loaded, service)
            digest = prepared.digest
            if digest == self.built_digest.get(service):
                return st.BuildSkipped(service, generation)
            clock.lap("context")  # the walk that chose the files and gave the digest

            def on_log(line: str) -> None:
                self.ui(ev.BuildLog(service, line))

            image = build_image(
                self.engine.client,
                self.loaded,
                service,
                tag=image_name(self.loaded.project, service),
                on_log=on_log,
                cancelled=cancelled,
                prepared=prepared,
                builder=self.settings.builder,
            )
            clock.lap("build")
        except BuildCancelled:
            return st.BuildFailed(service, generation, "superseded")  # stale: dropped by step
        except BuildError as exc:
            return st.BuildFailed(service, generation, exc.step, tuple(exc.log_tail))
        except ComposewatchError as exc:
            return st.BuildFailed(service, generation, str(exc))
        self.built_digest[service] = digest
        self.cache.record(service, digest, image)
        if image == self.served_image.get(service):
            return st.BuildSkipped(service, generation)  # Docker's cache gave the same image
        return st.BuildSucceeded(service, generation, image, clock.steps())

    # swapping ───────────────────────────────────────────────────────────────────────────

    async def swap(self, service: str, generation: int, image: str | None) -> st.Input:
        image = image or self.served_image.get(service)
        if image is None:
            return st.SwapFailed(service, generation, "no image serves this service yet")
        try:
            steps = await asyncio.to_thread(self.replace, service, image)
        except ComposewatchError as exc:
            return st.SwapFailed(service, generation, str(exc))
        self.served_image[service] = image
        return st.Swapped(service, generation, steps)

    def replace(self, service: str, image: str) -> st.Steps:
        """Create the new container beside the old, then stop the old and start the new.

        Old and new publish the same host ports, so the new one can only start once the old
        one has stopped; creating it first keeps that gap as short as it can be.
        """
        self.commit(service)  # a previous swap's cleanup, if it has not run yet
        clock = _StepClock()
        spec = container_spec(self.loaded, service, image)
        old = self.serving.get(service)
        new = self.engine.create(spec, temp_name=f"{spec.name}_cw-new")
        clock.lap("create")
        try:
            if old is not None:
                self.engine.stop(old, self.stop_policy.timeout_s(service, old))
                clock.lap("stop")
            self.engine.start(new)
            clock.lap("start")
        except ComposewatchError:
            self.engine.remove(new)
            if old is not None:
                self.engine.start(old)
            raise
        self.swapping[service] = Swapping(new, old, spec.name)
        return clock.steps()

    def commit(self, service: str) -> None:
        with self._lock:
            swap = self.swapping.pop(service, None)
        if swap is None:
            return
        if swap.old is not None:
            self.engine.remove(swap.old)
        self.engine.rename(swap.new, swap.name)
        self.serving[service] = swap.new
        # Learn the new container's stop policy now, not on the next save's critical path.
        self.stop_policy.learn(service, swap.new)

    def rollback(self, service: str) -> None:
        with self._lock:
            swap = self.swapping.pop(service, None)
        if swap is None:
            return
        self.engine.remove(swap.new)
        self.served_image.pop(service, None)
        self.built_digest.pop(service, None)  # so the next save rebuilds even if unchanged
        if swap.old is not None:
            self.engine.start(swap.old)

    def swapping_or_serving(self, service: str) -> str | None:
        swap = self.swapping.get(service)
        return swap.new if swap is not None else self.serving.get(service)

    # syncing ────────────────────────────────────────────────────────────────────────────

    async def sync(
        self, service: str, generation: int, paths: frozenset[Path], restart: bool
    ) -> st.Input:
        """Mirror the changed files into the running container (as `docker compose watch`
        does: copies, deletions, then a rule's exec command or a restart)."""
        container = self.serving.get(service)
        if container is None:
            return st.SyncFailed(service, generation, "no running container to sync into")
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
            if copies:
                await asyncio.to_thread(self.engine.sync_files, container, copies)
            if deletions:
                await asyncio.to_thread(self.engine.exec, container, ["rm", "-rf", *deletions])
            for command in commands:
                await asyncio.to_thread(self.engine.exec, container, list(command))
            if restart:
                await asyncio.to_thread(
                    self.engine.restart, container, self.stop_policy.timeout_s(service, container)
                )
        except ComposewatchError as exc:
            return st.SyncFailed(service, generation, str(exc))
        return st.Synced(service, generation, restarted=restart)

    # health ─────────────────────────────────────────────────────────────────────────────

    async def check_health(self, service: str, container: str | None) -> ProbeResult:
        if container is None:
            return ProbeResult(False, "no container", final=True)
        model = self.loaded.project.services[service]
        plan = choose_probe(model, self.settings.for_service(service).health)

        async def status() -> ContainerStatus:
            return await asyncio.to_thread(self.engine.status, container)

        http_get = None
        if plan.kind is ProbeKind.HTTP:
            url = plan.url or await asyncio.to_thread(
                self.engine.published_url, container, plan.container_port, plan.path
            )
            if url is None:
                return ProbeResult(False, f"port {plan.container_port} is not published", True)
            expected = plan.expected_status

            async def http_get() -> ProbeResult:
                return await asyncio.to_thread(http_probe, url, expected)

        return await wait_until_healthy(
            plan,
            status=status,
            http_get=http_get,
            sleep=asyncio.sleep,
        )
