"""`up`: build, start in dependency order, wait for health, then watch and update on save."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from composewatch import events as ev
from composewatch import state as st
from composewatch.buildcache import BuildCache
from composewatch.builder import build_image, prepare_build
from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.containers import ContainerInfo, Engine
from composewatch.errors import BuildError, ComposewatchError
from composewatch.health import ProbeResult
from composewatch.mapping import (
    Action,
    WatchTarget,
    load_watch_targets,
    map_changes,
    watch_roots,
)
from composewatch.plan import Observed, ServicePlan, Step, plan_up
from composewatch.runner import DockerRunner
from composewatch.scheduler import Scheduler
from composewatch.spec import (
    config_hash,
    container_spec,
    image_name,
    startup_order,
    unsupported_keys,
)
from composewatch.stop import StopPolicy
from composewatch.ui import UI
from composewatch.watcher import watch_changes

__all__ = ["DEPENDENCY_TIMEOUT_S", "Session", "selected_services"]

DEPENDENCY_TIMEOUT_S = 300.0  # how long a dependent waits for its dependency's condition


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
    # Reads the compose files again; None: changes to them are not watched.
    reload: Callable[[], LoadedProject] | None = None

    def __post_init__(self) -> None:
        self.targets: list[WatchTarget] = []
        self.stop_policy = StopPolicy(
            self.loaded.project,
            self.settings,
            self.engine.ignores_sigterm,
            lambda message: self.ui(ev.Note(message)),
        )
        self.runner = DockerRunner(
            self.loaded,
            self.settings,
            self.engine,
            self.ui,
            self.stop_policy,
            BuildCache.load(self.loaded.project.name),
        )

    # up ─────────────────────────────────────────────────────────────────────────────────

    async def up(self, *, watch: bool) -> bool:
        """Bring the project up; then watch when asked. Returns whether every service is
        healthy. The watches are armed first, so a save made during startup is not lost:
        it is acted on as soon as the project is up."""
        if not watch:
            return await self.bring_up()
        scheduler = Scheduler(self.runner, max_parallel_builds=self.settings.max_parallel_builds)
        self.targets = self.watch_targets()
        roots = self.watch_roots()
        armed = asyncio.Event()
        # Either task failing stops the other: a dead scheduler must not leave a live watcher.
        async with asyncio.TaskGroup() as group:
            group.create_task(self.feed(scheduler, roots, armed))
            await armed.wait()
            healthy = await self.bring_up()
            services = tuple(t.service for t in self.targets)
            self.ui(ev.Watching(tuple(str(r) for r in roots), services))
            group.create_task(scheduler.run())
        return healthy

    async def bring_up(self) -> bool:
        self.warn_unsupported()
        found = await asyncio.to_thread(self.engine.observe, self.loaded.project.name)
        images = await self.build_all(found)
        await asyncio.to_thread(self.engine.ensure_networks, self.loaded)
        await asyncio.to_thread(self.engine.ensure_volumes, self.loaded)
        return await self.start_all(images, found)

    def warn_unsupported(self) -> None:
        for name in self.services:
            keys = unsupported_keys(self.loaded.project.services[name])
            if keys:
                self.ui(
                    ev.Note(f"{name}: not applied by composewatch: {', '.join(keys)}", "warning")
                )

    async def build_all(self, found: list[ContainerInfo]) -> dict[str, str]:
        """The image id each selected service runs: built, or reused when its context is
        unchanged since composewatch built it, or when a running container of the service
        already uses it with this configuration (e.g. made by `docker compose up`)."""
        slots = asyncio.Semaphore(self.settings.max_parallel_builds)

        async def one(name: str) -> tuple[str, str]:
            async with slots:
                return name, await asyncio.to_thread(self.image_for, name, found)

        return dict(await asyncio.gather(*(one(n) for n in self.services)))

    def image_for(self, name: str, found: list[ContainerInfo]) -> str:
        service = self.loaded.project.services[name]
        tag = image_name(self.loaded.project, name)
        if service.build is None:
            return self.engine.ensure_image(tag)
        prepared = prepare_build(self.loaded, name)
        digest = prepared.digest
        current = self.engine.image_id(tag)
        if current is not None and self.runner.cache.image_for(name, digest) == current:
            self.runner.built_digest[name] = digest
            return current
        running = [i for i in found if i.service == name and i.status == "running"]
        # An image composewatch did not build (e.g. `docker compose up`'s): no digest says
        # what it was built from, so a container running it as configured is kept as it is.
        built_by_us = self.runner.cache.built(name, current)
        if (
            current is not None
            and not built_by_us
            and any(
                i.image_id == current and i.config_hash == config_hash(service) for i in running
            )
        ):
            self.ui(ev.Note(f"{name}: adopting the running container as it is; saves rebuild it"))
            return current
        started = time.monotonic()
        self.ui(ev.BuildStarted(name, ()))
        try:
            image = build_image(
                self.engine.client,
                self.loaded,
                name,
                tag=tag,
                on_log=lambda line: self.ui(ev.BuildLog(name, line)),
                prepared=prepared,
                builder=self.settings.builder,
            )
        except BuildError as exc:
            if not running:
                raise
            # Something already serves this service: keep it, and let the next save retry.
            self.ui(ev.BuildFailed(name, exc.step, tuple(exc.log_tail)))
            return running[0].image_id
        self.ui(ev.BuildFinished(name, time.monotonic() - started))
        self.runner.cache.record(name, digest, image)
        self.runner.built_digest[name] = digest
        return image

    async def start_all(self, images: dict[str, str], found: list[ContainerInfo]) -> bool:
        observed = self.observed(images, found)
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

    def observed(
        self, images: dict[str, str], found: list[ContainerInfo]
    ) -> dict[str, list[Observed]]:
        """Existing containers per service; one matches when compose would keep it: same
        configuration hash and same image."""
        result: dict[str, list[Observed]] = {}
        for info in found:
            if info.service not in images:
                continue
            service = self.loaded.project.services[info.service]
            matches = (
                info.config_hash == config_hash(service) and info.image_id == images[info.service]
            )
            result.setdefault(info.service, []).append(
                Observed(info.id, info.name, matches, info.status == "running")
            )
        return result

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
        if not result.ok and self.runs_to_completion(name) and container is not None:
            status = await asyncio.to_thread(self.engine.status, container)
            if not status.running and status.exit_code == 0:
                result = ProbeResult(True, "completed")
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
            self.runner.replace(plan.service, image)

    async def wait_for_dependencies(self, name: str) -> None:
        """Hold `name` back until each dependency meets its `depends_on` condition."""
        for dependency, condition in (self.loaded.project.services[name].depends_on or {}).items():
            container = self.runner.serving.get(dependency)
            if container is None:
                continue
            if condition.condition == "service_healthy":
                await self.wait_until(dependency, container, "healthy")
            elif condition.condition == "service_completed_successfully":
                await self.wait_until(dependency, container, "completed")

    async def wait_until(self, dependency: str, container: str, until: str) -> None:
        deadline = time.monotonic() + DEPENDENCY_TIMEOUT_S
        while time.monotonic() < deadline:
            status = await asyncio.to_thread(self.engine.status, container)
            if until == "healthy" and (status.health == "healthy" or not status.has_healthcheck):
                return
            if until == "healthy" and status.health == "unhealthy":
                raise ComposewatchError(f"dependency {dependency} is unhealthy")
            if until == "completed" and not status.running:
                if status.exit_code not in (0, None):
                    raise ComposewatchError(
                        f"dependency {dependency} exited with code {status.exit_code}"
                    )
                return
            await asyncio.sleep(0.05)
        raise ComposewatchError(
            f"dependency {dependency} did not become {until} within {DEPENDENCY_TIMEOUT_S:g} s"
        )

    def runs_to_completion(self, name: str) -> bool:
        """A one-shot job: some service waits for it with service_completed_successfully."""
        return any(
            dep == name and condition.condition == "service_completed_successfully"
            for service in self.loaded.project.services.values()
            for dep, condition in (service.depends_on or {}).items()
        )

    # watch ──────────────────────────────────────────────────────────────────────────────

    def watch_targets(self) -> list[WatchTarget]:
        watched = [n for n in self.services if self.settings.for_service(n).watch]
        return [t for t in load_watch_targets(self.loaded) if t.service in watched]

    def watch_roots(self) -> list[Path]:
        """The build contexts and rules, plus the compose files' folders when the project
        can be reloaded."""
        config_dirs = [
            WatchTarget("", Path(f).parent, None) for f in self.loaded.config_files if self.reload
        ]
        return watch_roots([*self.targets, *config_dirs])

    async def feed(self, scheduler: Scheduler, roots: list[Path], armed: asyncio.Event) -> None:
        """Map each batch of changed files to services and hand the changes to the scheduler."""
        batches = watch_changes(roots, quiet_ms=self.settings.quiet_ms, on_ready=armed.set)
        async for batch in batches:
            saved_at = batch.saved_at()
            config_files = {Path(f) for f in self.loaded.config_files}
            if self.reload is not None and batch.paths & config_files:
                await self.apply_new_config(scheduler, saved_at)
            for service, change in map_changes(batch.paths, self.targets).items():
                scheduler.submit(st.Changed(service, change.action, change.paths, saved_at))

    async def apply_new_config(self, scheduler: Scheduler, saved_at: float) -> None:
        """A compose file changed: reload it and rebuild or recreate the services it changed.
        A broken file changes nothing: the running configuration stays until it is fixed."""
        assert self.reload is not None
        try:
            new = await asyncio.to_thread(self.reload)
        except ComposewatchError as exc:
            self.ui(ev.Note(f"compose file not applied: {exc}", "warning"))
            return
        old_services, new_services = self.loaded.project.services, new.project.services
        if set(old_services) != set(new_services):
            self.ui(ev.Note("services were added or removed: restart composewatch up to apply"))
        changes = []
        for name in self.services:
            if name not in new_services:
                continue
            before, after = old_services[name], new_services[name]
            if before.build != after.build:
                changes.append((name, Action.REBUILD))
            elif config_hash(before) != config_hash(after):
                changes.append((name, Action.RECREATE))
        self.loaded = self.runner.loaded = new
        self.stop_policy.project = new.project
        self.targets = self.watch_targets()
        files = frozenset(Path(f) for f in new.config_files)
        for name, action in changes:
            what = "rebuilding" if action is Action.REBUILD else "recreating"
            self.ui(ev.Note(f"{name}: configuration changed, {what}"))
            scheduler.submit(st.Changed(name, action, files, saved_at))
