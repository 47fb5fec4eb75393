"""`up`: build, start in dependency order, wait for health, then watch and update on save.

    observe (engine) → plan_up (pure, with causes) → apply_plan (no decisions) → Started
    → for each batch of saves: map_changes → Changed → Scheduler (core.step + executor)

The first Ctrl-C (or SIGINT to the process group, or SIGTERM) stops within a second: builds in
flight are abandoned (the engine cancels them when our connection closes), a swap in flight is
settled by the core (see `state.Stopping`), the containers keep running. A second one exits at
once; what it interrupts, the next `up` recognises and cleans (see `plan`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from composewatch import events as ev
from composewatch import spec_keys
from composewatch.buildcache import BuildCache, default_cache_dir
from composewatch.compose.model import LoadedProject, Project
from composewatch.compose.treeload import read_text
from composewatch.compose.yamlload import parse_documents
from composewatch.config import Settings
from composewatch.core import state as st
from composewatch.core.action import Action
from composewatch.core.deps import dependents_to_recreate, dependents_to_restart
from composewatch.core.images import ImageFacts, ImageStep, choose_image
from composewatch.core.plan import Observed, ServicePlan, Step, Wanted, plan_attach, plan_up
from composewatch.core.reload import plan_reload
from composewatch.core.startup import Fact, admit, needs_of
from composewatch.core.storm import WriteStorms
from composewatch.core.sync import plan_sync
from composewatch.engine.builder import build_image, prepare_build
from composewatch.engine.containers import ContainerInfo, Engine
from composewatch.engine.executor import DockerRunner
from composewatch.engine.faults import describe, engine_lost
from composewatch.engine.project import image_created_s
from composewatch.engine.steps import in_daemon_thread
from composewatch.engine.stopsignal import StopSignals
from composewatch.errors import BuildError, ComposewatchError
from composewatch.health import ProbeProgress, ProbeResult
from composewatch.mapping import (
    WatchTarget,
    initial_sync_rules,
    load_initial_sync,
    load_watch_targets,
    map_changes,
    watch_roots,
)
from composewatch.scheduler import Scheduler
from composewatch.spec import (
    config_hash,
    image_name,
    replica_count,
    startup_order,
)
from composewatch.spec_project import check_replicas
from composewatch.ui import UI
from composewatch.watcher import ChangeBatch, OwnWrites, after_checkouts, git_locks, watch_changes

__all__ = ["DEPENDENCY_TIMEOUT_S", "Interrupted", "Session", "run_up", "selected_services"]

DEPENDENCY_TIMEOUT_S = 300.0  # how long a dependent waits for its dependency's condition
THREADS = 64  # for engine calls during `up` (see run_up)
POLL_S = 0.05  # how often a dependency's status is read while someone waits on it
STORM_CHECK_S = 1.0  # how often stopped write storms are looked for


class Interrupted(Exception):
    """The user stopped `up` (Ctrl-C, SIGINT to the group, SIGTERM)."""


def dependents_of(project: Project) -> dict[str, tuple[tuple[str, Action], ...]]:
    """Per service, what a new container of it asks of the others (core.deps)."""
    found: dict[str, tuple[tuple[str, Action], ...]] = {}
    for name in project.services:
        recreate = dependents_to_recreate(project, [name])
        restart = [d for d in dependents_to_restart(project, [name]) if d not in recreate]
        pairs = [(d, Action.RECREATE) for d in recreate] + [(d, Action.RESTART) for d in restart]
        if pairs:
            found[name] = tuple(pairs)
    return found


def run_up(session: Session, *, watch: bool) -> bool:
    """`asyncio.run(session.up(...))` with composewatch's stop: the first signal cancels `up`
    (which settles what is in flight), a second one exits at once with code 130."""

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        # Engine calls run in threads (`asyncio.to_thread`): every service starting at once
        # polls its container's status while others create theirs. asyncio's default pool
        # (cores + 4 threads: 6 on 2 cores) made them queue behind each other; these calls
        # wait on the engine, not on the CPU, so there are enough for every service (the
        # pool starts threads only as they are needed).
        loop.set_default_executor(ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="cw"))
        task = asyncio.current_task()
        assert task is not None
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                os._exit(130)  # the user insists: no cleanup; the next `up` cleans leftovers
            session.ui(ev.Note("stopping (Ctrl-C again to exit at once)"))
            task.cancel()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        try:
            return await session.up(watch=watch)
        except asyncio.CancelledError:
            if signals:
                raise Interrupted from None
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


def load_env_file_paths(loaded: LoadedProject) -> set[Path]:
    """The files whose edit changes the resolved project besides the compose files: the
    project's `.env` and every service's `env_file` (read from the compose files as written,
    since the loaded model has them merged into `environment` already)."""
    project_dir = Path(loaded.working_dir)
    found = {project_dir / ".env"}
    for file in loaded.config_files:
        try:
            documents = parse_documents(read_text(Path(file)), file)
        except (ComposewatchError, OSError):
            continue  # the reload reports a broken file; here it only means "watch less"
        for doc in documents:
            services = doc.get("services") if isinstance(doc, dict) else None
            for service in (services or {}).values() if isinstance(services, dict) else ():
                entries = service.get("env_file") if isinstance(service, dict) else None
                for entry in entries if isinstance(entries, list) else [entries]:
                    path = entry.get("path") if isinstance(entry, dict) else entry
                    if isinstance(path, str) and path and "$" not in path:
                        found.add(Path(os.path.normpath(project_dir / path)))
    return found


def selected_services(loaded: LoadedProject, requested: Sequence[str]) -> list[str]:
    """The requested services plus everything they depend on (all services when none), but
    those scaled to 0 replicas, which compose runs no container of."""
    services = loaded.project.services
    if not requested:
        return [name for name in services if replica_count(services[name]) > 0]
    chosen: list[str] = []
    todo = list(requested)
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen.append(name)
        todo.extend((services[name].depends_on or {}).keys())
    return [name for name in services if name in chosen and replica_count(services[name]) > 0]


@dataclass
class Session:
    loaded: LoadedProject
    settings: Settings
    engine: Engine
    ui: UI
    services: list[str]
    # Reads the compose files again; None: changes to them are not watched.
    reload: Callable[[], LoadedProject] | None = None
    # Told of every batch of saved files (commands on save); must not block.
    on_save: Callable[[frozenset[Path]], None] | None = None
    serving: dict[str, st.Serving] = field(default_factory=dict)  # what `up` made serve
    # `watch` without a watcher: serve what runs as it is; build, create, recreate nothing.
    attach: bool = False
    unhealthy: set[str] = field(default_factory=set)  # services `up` found unhealthy

    def __post_init__(self) -> None:
        self.targets: list[WatchTarget] = []
        self.scheduler: Scheduler | None = None
        self.storms = WriteStorms()
        self.stop_policy = StopSignals(
            self.engine.ignores_sigterm, lambda message: self.ui(ev.Note(message))
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

    def serving_container(self, service: str) -> str | None:
        """The container serving `service` now, as the core's state says (read-only)."""
        if self.scheduler is not None:
            serving = self.scheduler.state.service(service).serving
            if serving is not None:
                return serving.container
        found = self.serving.get(service)
        return found.container if found is not None else None

    async def bring_up_riding_out_engine_loss(self) -> bool:
        """`bring_up`; when the engine goes away meanwhile, say so, wait for it with backoff,
        and bring up again: `bring_up` starts from what it observes, so what was done is kept
        and a half-made container is cleaned as at any start."""
        while True:
            try:
                return await self.bring_up()
            except Exception as exc:
                if not engine_lost(exc):
                    raise
                self.ui(ev.EngineLost(f"during startup: {describe(exc)}"))
            returned = await self.runner.wait_for_engine()
            self.ui(ev.EngineReturned(returned.down_s))

    async def up(self, *, watch: bool) -> bool:
        """Bring the project up; then watch when asked. Returns whether every service is
        healthy. The watches are armed first, so a save made during startup is not lost:
        it is acted on as soon as the project is up."""
        if not watch:
            return await self.bring_up_riding_out_engine_loss()
        scheduler = Scheduler(
            self.runner,
            max_parallel_builds=self.settings.max_parallel_builds,
            state=st.ProjectState(
                max_parallel_builds=self.settings.max_parallel_builds,
                dependents=dependents_of(self.loaded.project),
            ),
        )
        self.scheduler = scheduler
        self.targets = self.watch_targets()
        roots = self.watch_roots()
        armed = asyncio.Event()
        try:
            return await self.watch_while_up(scheduler, roots, armed)
        except BaseExceptionGroup as group:
            raise _cause(group) from None  # what went wrong, not the task group around it

    async def watch_while_up(
        self, scheduler: Scheduler, roots: list[Path], armed: asyncio.Event
    ) -> bool:
        # Either task failing stops the other: a dead scheduler must not leave a live watcher.
        async with asyncio.TaskGroup() as group:
            group.create_task(self.feed(scheduler, roots, armed))
            await armed.wait()
            if self.attach:
                healthy = await asyncio.to_thread(self.attach_running)
            else:
                healthy = await self.bring_up_riding_out_engine_loss()
            # What serves goes into the core's state before any save made meanwhile is seen.
            for name, serving in self.serving.items():
                scheduler.handle(st.Started(name, serving))
            await self.initial_sync(scheduler)
            services = tuple(t.service for t in self.targets)
            self.ui(ev.Watching(tuple(str(r) for r in roots), services))
            group.create_task(scheduler.run())
        return healthy

    async def initial_sync(self, scheduler: Scheduler) -> None:
        """compose's `initial_sync`: the files of such a rule modified since the serving
        image was made are synced, through the core as a save's sync is, before any save
        (see `mapping.load_initial_sync`)."""
        for target in self.targets:
            serving = self.serving.get(target.service)
            if serving is None or not initial_sync_rules(target):
                continue
            service = self.loaded.project.services[target.service]
            binds = [Path(v.source) for v in service.volumes or () if v.type == "bind" and v.source]
            try:
                created_s = await asyncio.to_thread(
                    image_created_s, self.engine.client, serving.image
                )
                # An image gone meanwhile tells no time: everything is synced.
                paths = await asyncio.to_thread(load_initial_sync, target, created_s or 0.0, binds)
            except Exception as exc:  # the watch starts anyway, and saves sync as usual
                skipped = f"{target.service}: initial_sync skipped: {describe(exc)}"
                self.ui(ev.Note(skipped, "warning"))
                continue
            if paths:
                self.ui(
                    ev.Note(
                        f"{target.service}: initial_sync: {len(paths)} file(s) changed since "
                        "its image was made, synced before the first save"
                    )
                )
                copies, commands = plan_sync(paths, target.rules)
                scheduler.submit(
                    st.Changed(
                        target.service, Action.SYNC, paths, time.time(), copies, commands=commands
                    )
                )

    async def bring_up(self) -> bool:
        self.warn_unsupported()
        found = await asyncio.to_thread(self.engine.observe, self.loaded.project.name)
        images = await self.build_all(found)
        await asyncio.to_thread(self.engine.ensure_networks, self.loaded)
        await asyncio.to_thread(self.engine.ensure_volumes, self.loaded)
        return await self.start_all(images, found)

    def warn_unsupported(self) -> None:
        """Exactly one warning per key the container will not have, naming the service."""
        for name in self.services:
            for line in spec_keys.warnings(name, self.loaded.project.services[name]):
                self.ui(ev.Note(line, "warning"))

    async def build_all(self, found: list[ContainerInfo]) -> dict[str, tuple[str, str | None]]:
        """The image id (and its context digest) each selected service runs: built, or
        reused when its context is unchanged since composewatch built it, or when a running
        container of the service already uses it with this configuration (e.g. made by
        `docker compose up`)."""
        slots = asyncio.Semaphore(self.settings.max_parallel_builds)

        async def one(name: str) -> tuple[str, tuple[str, str | None]]:
            async with slots:
                # A daemon thread: Ctrl-C must not wait for a build to end.
                image = await in_daemon_thread(lambda: self.image_for(name, found), f"up-{name}")
                return name, image

        return dict(await asyncio.gather(*(one(n) for n in self.services)))

    def image_for(self, name: str, found: list[ContainerInfo]) -> tuple[str, str | None]:
        """Observe, let `choose_image` decide, carry it out."""
        service = self.loaded.project.services[name]
        tag = image_name(self.loaded.project, name)
        prepared = prepare_build(self.loaded, name) if service.build is not None else None
        digest = prepared.digest if prepared is not None else None
        current = self.engine.image_id(tag) if service.build is not None else None
        running = [i for i in found if i.service == name and i.status == "running"]
        choice = choose_image(
            ImageFacts(
                has_build=service.build is not None,
                tagged=current,
                cached_for_digest=(
                    self.runner.cache.image_for(name, digest) if digest is not None else None
                ),
                built_by_us=self.runner.cache.built(name, current),
                running_as_configured=any(
                    i.image_id == current and i.config_hash == config_hash(service) for i in running
                ),
            )
        )
        match choice.step:
            case ImageStep.PULL:
                return self.engine.ensure_image(tag), None
            case ImageStep.REUSE:
                assert choice.image is not None
                return choice.image, digest
            case ImageStep.ADOPT:
                assert choice.image is not None
                self.ui(
                    ev.Note(f"{name}: adopting the running container as it is ({choice.cause})")
                )
                return choice.image, None
        assert digest is not None
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
            return running[0].image_id, None
        self.ui(ev.BuildFinished(name, time.monotonic() - started))
        self.runner.cache.record(name, digest, image)
        return image, digest

    def observed(self, found: list[ContainerInfo]) -> dict[str, list[Observed]]:
        observed: dict[str, list[Observed]] = {}
        for info in found:
            if info.service in self.services:
                observed.setdefault(info.service, []).append(
                    Observed(
                        info.id,
                        info.name,
                        info.status == "running",
                        info.config_hash,
                        info.image_id,
                        info.number,
                    )
                )
        return observed

    def wanted(self, images: dict[str, str]) -> dict[str, Wanted]:
        services = self.loaded.project.services
        return {
            n: Wanted(config_hash(services[n]), images.get(n, ""), replica_count(services[n]))
            for n in self.services
        }

    def start_order(self) -> list[str]:
        layers = startup_order(self.loaded.project)
        return [n for layer in layers for n in layer if n in self.services]

    def attach_running(self) -> bool:
        """Serve what runs, as it is: observe, let `plan_attach` decide, record. Raises when
        nothing of the project runs (there is nothing to watch)."""
        self.warn_unsupported()
        found = self.engine.observe(self.loaded.project.name)
        images = {i.id: i.image_id for i in found}
        plans = plan_attach(self.observed(found), self.wanted({}), self.start_order())
        for plan in plans:
            if not plan.containers:
                self.ui(ev.Note(f"{plan.service}: {plan.cause}", "warning"))
                continue
            first, *rest = plan.containers
            image = images[first]
            digest = self.runner.cache.digest_of(plan.service, image)
            self.serving[plan.service] = st.Serving(first, image, digest, tuple(rest))
            if not plan.current:
                self.ui(ev.Note(f"{plan.service}: {plan.cause}", "warning"))
            count = len(plan.containers)
            self.ui(ev.ServiceStarted(plan.service, first[:12], True, 0.0, count))
            for container in plan.containers:
                self.stop_policy.observe(plan.service, container)
        if not self.serving:
            raise ComposewatchError(
                f"nothing of project {self.loaded.project.name} runs, so there is nothing to "
                "watch: `composewatch up` builds and starts it, then watches"
            )
        return all(plan.containers for plan in plans)

    async def start_all(
        self, images: dict[str, tuple[str, str | None]], found: list[ContainerInfo]
    ) -> bool:
        """Start each service as soon as its own depends_on conditions hold, not layer by
        layer: `core.startup.admit` decides who starts and why the others wait; here only
        what happened is recorded (containers started, checks ended, engine statuses)."""
        wanted = self.wanted({n: image for n, (image, _) in images.items()})
        plans: dict[str, list[ServicePlan]] = {}
        for plan in plan_up(self.observed(found), wanted, self.start_order()):
            plans.setdefault(plan.service, []).append(plan)
        image_of = {info.id: info.image_id for info in found}
        needs = needs_of(self.loaded.project, self.services)
        facts: dict[str, Fact] = {}
        first: dict[str, str] = {}  # per service, the container whose status is read
        pending = [n for n in self.start_order() if n in plans]
        tasks: dict[str, asyncio.Task[bool]] = {}
        results: dict[str, bool] = {}
        changed = asyncio.Event()

        def on_made(name: str) -> Callable[[int, str], None]:
            left = {p.number for p in plans[name]}

            def made(number: int, container: str) -> None:
                first.setdefault(name, container)
                left.discard(number)
                if not left:  # every replica started: `service_started` holds
                    facts[name] = replace(facts.get(name, Fact()), started_at_s=time.monotonic())
                    changed.set()

            return made

        poll: tuple[str, ...] = ()
        waits: dict[str, ProbeProgress] = {}
        try:
            while pending or tasks:
                changed.clear()
                for name in [n for n, task in tasks.items() if task.done()]:
                    results[name] = tasks.pop(name).result()
                    fact = facts.get(name, Fact())
                    started_s = fact.started_at_s or time.monotonic()
                    facts[name] = replace(fact, found=results[name], started_at_s=started_s)
                for dep in (d for d in poll if d in first):
                    status = await asyncio.to_thread(self.engine.status, first[dep])
                    facts[dep] = replace(facts[dep], status=status)
                admission = admit(needs, facts, pending, time.monotonic(), DEPENDENCY_TIMEOUT_S)
                waits = self.say_waits(waits, admission.poll, facts, admission.waiting)
                if admission.failed:
                    raise ComposewatchError(next(iter(admission.failed.values())))
                for name in admission.start:
                    pending.remove(name)
                    task = asyncio.create_task(
                        self.start_service(plans[name], *images[name], image_of, on_made(name))
                    )
                    task.add_done_callback(lambda _: changed.set())
                    tasks[name] = task
                poll = admission.poll
                if admission.start:
                    continue
                if not tasks and not poll:  # nothing left that could change a condition
                    if not pending:
                        break
                    held = "; ".join(f"{n} {why}" for n, why in admission.waiting.items())
                    raise ComposewatchError(f"services cannot start: {held}")
                if poll:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), POLL_S)
                else:
                    await changed.wait()
        except BaseException:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
        return all(results.values())

    def say_waits(
        self,
        waits: dict[str, ProbeProgress],
        polled: Sequence[str],
        facts: dict[str, Fact],
        waiting: dict[str, str],
    ) -> dict[str, ProbeProgress]:
        """A dependency waited on for a while is said as a probe's wait is (`ProbeProgress`),
        so `up` is never silent while it waits; and once it is no longer waited on."""
        now = time.monotonic()
        kept: dict[str, ProbeProgress] = {}
        for dep in polled:
            status = facts[dep].status if dep in facts else None
            state = "not started"
            if status is not None:
                state = (
                    f"Docker healthcheck: {status.health}"
                    if status.has_healthcheck
                    else (
                        "still running"
                        if status.running
                        else f"exited with code {status.exit_code}"
                    )
                )
            waiters = ", ".join(n for n, why in waiting.items() if dep in why) or "a service"
            until = "healthy" if status is not None and status.has_healthcheck else "completed"
            reason = f"{state}; {waiters} waits until it is {until}"
            progress = waits.get(dep, ProbeProgress(dep, now))
            kept[dep], said = progress.after(ProbeResult(False, reason), now)
            if said is not None:
                self.ui(said)
        for dep, progress in waits.items():
            if dep not in kept:
                _, said = progress.after(ProbeResult(True, "the condition holds"), now)
                if said is not None:
                    self.ui(said)
        return kept

    async def start_service(
        self,
        plans: list[ServicePlan],
        image: str,
        digest: str | None,
        image_of: dict[str, str],
        on_made: Callable[[int, str], None] | None = None,
    ) -> bool:
        """Start each replica's plan: new ones together, replacements in turn (see
        `replace_in_turn`). Returns whether every replica is healthy.

        What runs under the replicas' names is recorded as serving even when unhealthy (an
        unhealthy new container, or the old one a failed replacement put back), so the next
        save replaces it under its name."""
        started = time.monotonic()
        name = plans[0].service

        replacing = [p for p in plans if p.step is Step.RECREATE]
        others = [p for p in plans if p.step is not Step.RECREATE]
        fresh, replaced = await asyncio.gather(
            asyncio.gather(*(self.start_one(p, image, on_made) for p in others)),
            self.replace_in_turn(replacing, image, on_made),
        )
        made = {p.number: (c, ok) for p, (c, ok, _) in zip(others, fresh, strict=True)}
        made.update(replaced)
        containers = [made[p.number][0] for p in plans]
        healthy = all(made[p.number][1] for p in plans)
        if any(c is None for c in containers):
            return False  # a replica has no container at all: the next `up` makes it
        first, *rest = [c for c in containers if c is not None]
        runs = image_of.get(first, image)  # a failed replacement put the old one back
        self.serving[name] = st.Serving(first, runs, digest if healthy else None, tuple(rest))
        if not healthy:
            self.unhealthy.add(name)
        else:
            adopted = all(p.step is Step.ADOPT for p in plans)
            elapsed_s = time.monotonic() - started
            self.ui(ev.ServiceStarted(name, first[:12], adopted, elapsed_s, len(plans)))
        return healthy

    async def replace_in_turn(
        self,
        plans: list[ServicePlan],
        image: str,
        on_made: Callable[[int, str], None] | None = None,
    ) -> dict[int, tuple[str | None, bool]]:
        """Replacements, as a save's round makes them: one replica at a time, each new
        container found healthy before the next is replaced (the others serve meanwhile);
        then all committed together or, when one is not healthy, every one put back, the
        latest first. Per replica number: the container under its name, and whether healthy."""
        if not plans:
            return {}
        name = plans[0].service
        swapped: list[st.Exchange] = []  # healthy or not, each holds its old one stopped
        healthy = True
        try:
            for plan in plans:
                container, healthy, old = await self.start_one(plan, image, on_made)
                if container is None or old is None:  # none made: the swap undid itself
                    healthy = False
                    break
                swapped.append(st.Exchange(plan.number, container, old))
                if not healthy:
                    break
        except BaseException:
            await _finish_even_if_cancelled(self.settle(name, swapped, commit=False))
            raise
        await self.settle(name, swapped, commit=healthy)
        if healthy:
            return {e.number: (e.new, True) for e in swapped}
        return {p.number: (p.keep, False) for p in plans}  # the old ones, as they were

    async def settle(self, name: str, swapped: list[st.Exchange], *, commit: bool) -> None:
        """Commit every exchange, or put every one back (the latest first)."""
        if commit:
            for exchange in swapped:
                await asyncio.to_thread(self.runner.commit, name, exchange)
        else:
            for exchange in reversed(swapped):
                await asyncio.to_thread(self.runner.rollback, name, exchange)

    async def start_one(
        self,
        plan: ServicePlan,
        image: str,
        on_made: Callable[[int, str], None] | None = None,
    ) -> tuple[str | None, bool, str | None]:
        """One replica: the container made, started or kept (None: none could be made),
        whether it is healthy (when not, it is said), and for a replacement the old
        container it stopped, left for the caller to remove or start again. `on_made` is
        told as soon as the container runs, before its check."""
        name = plan.service
        container: str
        old: str | None
        try:
            container, old = await _finish_even_if_cancelled(
                asyncio.to_thread(self.apply_plan, plan, image)
            )
        except ComposewatchError as exc:
            self.ui(ev.Unhealthy(name, self.runner.explain(name, exc)))
            return None, False, None
        if on_made is not None:
            on_made(plan.number, container)
        try:
            result = await self.runner.check_health(name, container)
            if not result.ok and self.runs_to_completion(name):
                status = await asyncio.to_thread(self.engine.status, container)
                if not status.running and status.exit_code == 0:
                    result = ProbeResult(True, "completed")
        except BaseException:
            if old is not None:  # interrupted before the new one was found healthy
                undo = st.Exchange(plan.number, container, old)
                await _finish_even_if_cancelled(asyncio.to_thread(self.runner.rollback, name, undo))
            raise
        if not result.ok:
            self.ui(ev.Unhealthy(name, result.detail))
            return container, False, old
        await asyncio.to_thread(self.stop_policy.observe, name, container)
        return container, True, old

    def apply_plan(self, plan: ServicePlan, image: str) -> tuple[str, str | None]:
        """Carry the plan out; no decisions. Returns the container to check and, for a
        recreate, the old one it replaces (commit or roll back once the check is done)."""
        for leftover in plan.removed:
            self.engine.remove(leftover)
        match plan.step:
            case Step.ADOPT:
                assert plan.keep is not None
                return plan.keep, None
            case Step.START:
                assert plan.keep is not None
                self.engine.start(plan.keep)
                return plan.keep, None
            case Step.CREATE:
                spec = self.runner.spec_for(plan.service, image, plan.number)
                container = self.engine.create(spec)
                self.engine.start(container)
                return container, None
            case Step.RECREATE:  # the same swap as on save, so the old one serves until replaced
                assert plan.keep is not None
                new, _ = self.runner.swap_in(plan.service, image, plan.keep, plan.number)
                return new, plan.keep
        raise AssertionError(plan.step)

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
        targets = load_watch_targets(self.loaded, self.settings.updates_in_place)
        return [t for t in targets if t.service in watched]

    def reload_triggers(self) -> set[Path]:
        """The files whose edit reloads the project: compose files, `.env`, `env_file`s."""
        if self.reload is None:
            return set()
        return {Path(f) for f in self.loaded.config_files} | load_env_file_paths(self.loaded)

    def watch_roots(self) -> list[Path]:
        """The build contexts and rules, plus the folders of the files that reload the
        project when it can be reloaded."""
        extra = [WatchTarget("", f.parent, None) for f in self.reload_triggers()]
        return watch_roots([*self.targets, *(t for t in extra if t.context and t.context.is_dir())])

    async def feed(self, scheduler: Scheduler, roots: list[Path], armed: asyncio.Event) -> None:
        """Map each batch of changed files to services and hand the changes to the scheduler.
        A batch that cannot be mapped (a name the OS gives oddly, a file gone) is reported,
        never the end of the watch."""
        batches = watch_changes(
            roots,
            quiet_ms=self.settings.quiet_ms,
            on_ready=armed.set,
            on_error=lambda message: self.ui(ev.Note(message, "warning")),
            own=OwnWrites.load([default_cache_dir()]),
        )
        calm = asyncio.create_task(self.after_storms(scheduler))
        try:
            burst_quiet_s = 2 * self.settings.quiet_ms / 1000
            locks = git_locks(roots)
            async for batch in after_checkouts(batches, locks, burst_quiet_s=burst_quiet_s):
                await self.handle_batch(scheduler, batch)
        finally:
            calm.cancel()

    async def handle_batch(self, scheduler: Scheduler, batch: ChangeBatch) -> None:
        try:
            await self.on_batch(scheduler, batch)
        except Exception as exc:  # one bad batch must not end the watch
            self.ui(ev.Note(f"a change could not be handled: {exc!r}", "warning"))

    async def after_storms(self, scheduler: Scheduler) -> None:
        """A write storm that has stopped is acted on once, for the file's last state."""
        while True:
            await asyncio.sleep(STORM_CHECK_S)
            self.storms, calmed = self.storms.calmed(time.time())
            if calmed:
                await self.handle_batch(scheduler, ChangeBatch(calmed, time.time()))

    def without_storms(self, batch: ChangeBatch) -> ChangeBatch:
        """The batch without the files in a write storm (`core.storm`); each storm said once,
        with the way out."""
        self.storms, admitted, started = self.storms.after(batch.paths, batch.delivered_at)
        for path in started:
            self.ui(ev.Note(self.storm_note(path), "warning"))
        return replace(batch, paths=admitted)

    def storm_note(self, path: Path) -> str:
        contexts = [
            t for t in self.targets if t.context is not None and path.is_relative_to(t.context)
        ]
        where = "; ".join(
            f"add /{path.relative_to(t.context).as_posix()} to {t.context / '.dockerignore'} or "
            f"set x-composewatch.services.{t.service}.watch: false"
            for t in contexts
            if t.context is not None
        )
        return (
            f"{path} changed {self.storms.count(path)} times in "
            f"{self.storms.span_s(path):.1f} s: a file "
            "written this often is not source (a log?), so its changes start no build while "
            "it keeps changing (once it stops, its last state is built). To keep it out"
            f"{': ' + where if where else ''}."
        )

    async def on_batch(self, scheduler: Scheduler, batch: ChangeBatch) -> None:
        batch = self.without_storms(batch)
        if not batch.paths and not batch.rescan:
            return
        saved_at = batch.saved_at()
        if self.on_save is not None:
            self.on_save(frozenset(batch.paths))
        if batch.rescan:  # changes went unseen: every build is checked (its digest decides)
            for target in self.targets:
                if target.context is not None:
                    scheduler.submit(
                        st.Changed(target.service, Action.REBUILD, frozenset(), saved_at)
                    )
        if batch.paths & self.reload_triggers():
            await self.apply_new_config(scheduler, saved_at)
        for service, change in map_changes(batch.paths, self.targets).items():
            changed = st.Changed(
                service,
                change.action,
                change.paths,
                saved_at,
                change.copies,
                change.why,
                change.commands,
            )
            scheduler.submit(changed)

    async def apply_new_config(self, scheduler: Scheduler, saved_at: float) -> None:
        """A compose file, `.env` or `env_file` changed: reload the project and rebuild or
        recreate the services whose resolved configuration changed. A broken file changes
        nothing: the running configuration stays until it is fixed."""
        assert self.reload is not None
        try:
            new = await asyncio.to_thread(self.reload)
            kept = [name for name in self.services if name in new.project.services]
            check_replicas(new.project, kept, ", ".join(new.config_files) or None)
        except Exception as exc:  # whatever the file holds, the watch goes on
            message = str(exc) if isinstance(exc, ComposewatchError) else repr(exc)
            self.ui(
                ev.Note(f"changes not applied, the project runs as it was: {message}", "warning")
            )
            return
        plans = plan_reload(self.loaded.project, new.project, self.services, config_hash)
        self.loaded = self.runner.loaded = new
        self.targets = self.watch_targets()
        files = frozenset(Path(f) for f in new.config_files)
        for plan in plans:
            if plan.action is None:
                self.ui(ev.Note(f"{plan.service}: {plan.cause}"))
                continue
            what = "rebuilding" if plan.action is Action.REBUILD else "recreating"
            self.ui(ev.Note(f"{plan.service}: {plan.cause}, {what}"))
            if plan.replicas is not None:
                scheduler.submit(st.Rescaled(plan.service, plan.replicas, saved_at))
            else:
                scheduler.submit(st.Changed(plan.service, plan.action, files, saved_at))


def _cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error a task group collected (a cancellation only when nothing else)."""
    errors = [e for e in group.exceptions if not isinstance(e, asyncio.CancelledError)]
    found = (errors or list(group.exceptions))[0]
    return _cause(found) if isinstance(found, BaseExceptionGroup) else found


async def _finish_even_if_cancelled(work: Any) -> Any:
    """Await `work` to its end even when the caller is cancelled meanwhile (then re-raise):
    a swap running in a thread goes on anyway, and its outcome must be known to be undone."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # the cancellation is what the caller hears
            await task
        raise
