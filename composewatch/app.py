"""`up`: build, start in dependency order, wait for health, then watch and update on save."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from composewatch import events as ev
from composewatch import state as st
from composewatch.builder import build_image
from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.containers import Engine
from composewatch.errors import ComposewatchError
from composewatch.mapping import load_watch_targets, map_changes, watch_roots
from composewatch.plan import Observed, ServicePlan, Step, plan_up
from composewatch.runner import DIGEST_LABEL, DockerRunner, build_digest
from composewatch.scheduler import Scheduler
from composewatch.spec import container_spec, image_name, startup_order, unsupported_keys
from composewatch.stop import StopPolicy
from composewatch.ui import UI
from composewatch.watcher import watch_changes

__all__ = ["Session", "selected_services"]


def selected_services(loaded: LoadedProject, requested: Sequence[str]) -> list[str]:
    """The requested services plus everything they depend on (all services when none)."""
    services = loaded.project.services
    if not requested:
        return list(services)
    chosen: list[str] = []
    todo = list(requested)
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen.append(name)
        todo.extend((services[name].depends_on or {}).keys())
    return [name for name in services if name in chosen]


@dataclass
class Session:
    loaded: LoadedProject
    settings: Settings
    engine: Engine
    ui: UI
    services: list[str]

    def __post_init__(self) -> None:
        self.stop_policy = StopPolicy(
            self.loaded.project,
            self.settings,
            self.engine.ignores_sigterm,
            lambda message: self.ui(ev.Note(message)),
        )
        self.runner = DockerRunner(
            self.loaded, self.settings, self.engine, self.ui, self.stop_policy
        )

    # up ─────────────────────────────────────────────────────────────────────────────────

    async def up(self, *, watch: bool) -> bool:
        """Bring the project up; watch when asked. Returns whether every service is healthy."""
        self.warn_unsupported()
        images = await self.build_all()
        await asyncio.to_thread(self.engine.ensure_networks, self.loaded)
        await asyncio.to_thread(self.engine.ensure_volumes, self.loaded)
        healthy = await self.start_all(images)
        if watch:
            await self.watch()
        return healthy

    def warn_unsupported(self) -> None:
        for name in self.services:
            keys = unsupported_keys(self.loaded.project.services[name])
            if keys:
                self.ui(
                    ev.Note(f"{name}: not applied by composewatch: {', '.join(keys)}", "warning")
                )

    async def build_all(self) -> dict[str, str]:
        """Build every selected service that has `build:`; reuse an image whose context is
        unchanged since it was built. A failed build aborts `up` unless a container for the
        service already serves (then it keeps serving and the watcher retries on save)."""
        slots = asyncio.Semaphore(self.settings.max_parallel_builds)

        async def one(name: str) -> tuple[str, str]:
            async with slots:
                return name, await asyncio.to_thread(self.build_or_reuse, name)

        buildable = [n for n in self.services if self.loaded.project.services[n].build]
        built = dict(await asyncio.gather(*(one(n) for n in buildable)))
        for name in self.services:
            if name not in built:
                built[name] = self.loaded.project.services[name].image or image_name(
                    self.loaded.project, name
                )
        return built

    def build_or_reuse(self, name: str) -> str:
        build = self.loaded.project.services[name].build
        assert build is not None
        tag = image_name(self.loaded.project, name)
        digest = build_digest(self.loaded, name)
        existing = self.engine.image_with_label(tag, DIGEST_LABEL, digest)
        if existing is not None:
            image = existing
        else:
            started = time.monotonic()
            self.ui(ev.BuildStarted(name, ()))
            image = build_image(
                self.engine.client,
                self.loaded,
                name,
                tag=tag,
                on_log=lambda line: self.ui(ev.BuildLog(name, line)),
                labels={DIGEST_LABEL: digest},
            )
            self.ui(ev.BuildFinished(name, time.monotonic() - started))
        self.runner.built_digest[name] = digest
        return image

    async def start_all(self, images: dict[str, str]) -> bool:
        observed = await asyncio.to_thread(self.observe, images)
        order = [
            n for layer in startup_order(self.loaded.project) for n in layer if n in self.services
        ]
        plans = {p.service: p for p in plan_up(observed, order)}
        healthy = True
        for layer in startup_order(self.loaded.project):
            names = [n for n in layer if n in self.services]
            await asyncio.gather(*(self.wait_for_dependencies(n) for n in names))
            results = await asyncio.gather(*(self.start_one(plans[n], images[n]) for n in names))
            healthy = all(results) and healthy
        return healthy

    def observe(self, images: dict[str, str]) -> dict[str, list[Observed]]:
        found: dict[str, list[Observed]] = {}
        for info in self.engine.observe(self.loaded.project.name):
            if info.service not in images:
                continue
            wanted = container_spec(self.loaded, info.service, images[info.service])
            found.setdefault(info.service, []).append(
                Observed(
                    info.id,
                    info.name,
                    info.config_hash == wanted.config_hash,
                    info.status == "running",
                )
            )
        return found

    async def start_one(self, plan: ServicePlan, image: str) -> bool:
        started = time.monotonic()
        name = plan.service
        try:
            await asyncio.to_thread(self.apply_plan, plan, image)
        except ComposewatchError as exc:
            self.ui(ev.Unhealthy(name, str(exc)))
            return False
        container = self.runner.swapping_or_serving(name)
        result = await self.runner.check_health(name, container)
        if name in self.runner.swapping:
            await asyncio.to_thread(self.runner.commit if result.ok else self.runner.rollback, name)
        if not result.ok:
            self.ui(ev.Unhealthy(name, result.detail))
            return False
        self.runner.served_image[name] = image
        serving = self.runner.serving[name]
        self.ui(
            ev.ServiceStarted(
                name, serving[:12], plan.step is Step.ADOPT, time.monotonic() - started
            )
        )
        await asyncio.to_thread(self.stop_policy.learn, name, serving)
        return True

    def apply_plan(self, plan: ServicePlan, image: str) -> None:
        for leftover in plan.remove:
            self.engine.remove(leftover)
        spec = container_spec(self.loaded, plan.service, image)
        if plan.step in (Step.ADOPT, Step.START):
            assert plan.keep is not None
            if plan.step is Step.START:
                self.engine.start(plan.keep)
            self.runner.serving[plan.service] = plan.keep
        elif plan.step is Step.CREATE:
            container = self.engine.create(spec)
            self.engine.start(container)
            self.runner.serving[plan.service] = container
        else:  # RECREATE: the same swap as on save, so the old one serves until replaced
            assert plan.keep is not None
            self.runner.serving[plan.service] = plan.keep
            self.runner._swap(plan.service, image)

    async def wait_for_dependencies(self, name: str) -> None:
        for dependency, condition in (self.loaded.project.services[name].depends_on or {}).items():
            container = self.runner.serving.get(dependency)
            if container is None:
                continue
            if condition.condition == "service_healthy":
                await self.engine_wait(container, "healthy")
            elif condition.condition == "service_completed_successfully":
                await self.engine_wait(container, "exited")

    async def engine_wait(self, container: str, until: str) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = await asyncio.to_thread(self.engine.status, container)
            if until == "healthy" and (status.health == "healthy" or not status.has_healthcheck):
                return
            if until == "exited" and not status.running:
                if status.exit_code not in (0, None):
                    raise ComposewatchError(f"dependency exited with code {status.exit_code}")
                return
            await asyncio.sleep(0.05)

    # watch ──────────────────────────────────────────────────────────────────────────────

    async def watch(self) -> None:
        watched = [n for n in self.services if self.settings.for_service(n).watch]
        targets = [t for t in load_watch_targets(self.loaded) if t.service in watched]
        roots = watch_roots(targets)
        scheduler = Scheduler(self.runner, max_parallel_builds=self.settings.max_parallel_builds)
        ready = ev.Watching(tuple(str(r) for r in roots), tuple(t.service for t in targets))

        async def feed() -> None:
            changes = watch_changes(
                roots, quiet_ms=self.settings.quiet_ms, on_ready=lambda: self.ui(ready)
            )
            async for batch in changes:
                saved_at = batch.saved_at()
                for service, change in map_changes(batch.paths, targets).items():
                    scheduler.submit(st.Changed(service, change.action, change.paths, saved_at))

        # Either task failing stops the other: a dead scheduler must not leave a live watcher.
        async with asyncio.TaskGroup() as group:
            group.create_task(scheduler.run())
            group.create_task(feed())
