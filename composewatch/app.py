"""`up`: build, start in dependency order, wait for health, then watch and update on save.

    UpAsked → observe (engine) + choose_image → UpRequested → core.step: plan_up, admit
    → effects (build, start or swap, check, commit) → results → core.step …  (Scheduler)
    → for each batch of saves: map_changes → Changed → the same Scheduler

The first Ctrl-C (or SIGINT to the process group, or SIGTERM) stops within a second: builds in
flight are told to cancel (their cancel flag is set, and the engine also cancels a build whose
connection closes), a swap in flight is
settled by the core (see `state.Stopping`), the containers keep running. A second one exits at
once; what it interrupts, the next `up` recognises and cleans (see `plan`).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from composewatch import events as ev
from composewatch import spec_keys
from composewatch.buildcache import BuildCache, default_cache_dir
from composewatch.compose.model import LoadedProject, Project
from composewatch.config import Settings
from composewatch.core.action import Action
from composewatch.core.deps import dependents_to_recreate, dependents_to_restart
from composewatch.core.effects import Serving
from composewatch.core.inputs import Started, UpAsked
from composewatch.core.phases import ProjectState
from composewatch.engine.containers import Engine
from composewatch.engine.executor import DockerRunner
from composewatch.engine.stopsignal import StopSignals
from composewatch.errors import ComposewatchError
from composewatch.firstlook import FirstLook
from composewatch.observe import UpObserver
from composewatch.saves import Saves
from composewatch.scheduler import Scheduler
from composewatch.ui import UI
from composewatch.watcher import OwnWrites, after_checkouts, git_locks, watch_changes

__all__ = ["DEPENDENCY_TIMEOUT_S", "Interrupted", "Session", "run_up"]

DEPENDENCY_TIMEOUT_S = 300.0  # how long a dependent waits for its dependency's condition
THREADS = 64  # for engine calls during `up` (see run_up)


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
    serving: dict[str, Serving] = field(default_factory=dict)  # what `watch` attached to
    # `watch` without a watcher: serve what runs as it is; build, create, recreate nothing.
    attach: bool = False
    first_look: FirstLook | None = None  # `up`'s first observation, asked for early

    def __post_init__(self) -> None:
        self.saves = Saves(self)
        self.scheduler: Scheduler | None = None
        self.stop_policy = StopSignals(
            self.engine.ignores_sigterm, lambda message: self.ui(ev.Note(message))
        )
        self.runner = DockerRunner(
            self.loaded,
            self.settings,
            self.engine,
            lambda event: self.ui(event),  # the session's sink, even when swapped later
            self.stop_policy,
            BuildCache.load(self.loaded.project.name),
        )
        self.runner.checks.events.project = self.loaded.project.name  # its engine events
        self.observer = UpObserver(
            self.loaded, self.engine, self.runner, self.services, self.first_look
        )
        self.runner.observe_up = self.observer

    # up ─────────────────────────────────────────────────────────────────────────────────

    def serving_container(self, service: str) -> str | None:
        """The container serving `service` now, as the core's state says (read-only)."""
        if self.scheduler is not None:
            serving = self.scheduler.state.service(service).serving
            if serving is not None:
                return serving.container
        found = self.serving.get(service)
        return found.container if found is not None else None

    async def up(self, *, watch: bool) -> bool:
        """Bring the project up; then watch when asked. Returns whether every service is
        healthy. The watches are armed first, so a save made during startup is not lost:
        it is acted on as soon as its service is up."""
        try:
            return await self.up_and_watch(watch=watch)
        finally:
            self.runner.checks.events.close()  # the run's engine events (engine/waits.py)

    async def up_and_watch(self, *, watch: bool) -> bool:
        scheduler = Scheduler(
            self.runner,
            max_parallel_builds=self.settings.max_parallel_builds,
            state=ProjectState(
                max_parallel_builds=self.settings.max_parallel_builds,
                dependents=dependents_of(self.loaded.project),
            ),
        )
        self.scheduler = scheduler
        if not watch:
            running: list[asyncio.Task[None]] = []
            try:
                return await self.bring_up(scheduler, lambda: running.append(_run(scheduler)))
            finally:  # the stop settles what is in flight (see `Scheduler.stop`)
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
        self.saves.targets = self.saves.watch_targets()
        roots = self.saves.watch_roots()
        try:
            return await self.watch_while_up(scheduler, roots, asyncio.Event())
        except BaseExceptionGroup as group:
            raise _cause(group) from None  # what went wrong, not the task group around it

    async def watch_while_up(
        self, scheduler: Scheduler, roots: list[Path], armed: asyncio.Event
    ) -> bool:
        # Either task failing stops the other: a dead scheduler must not leave a live watcher.
        async with asyncio.TaskGroup() as group:
            group.create_task(self.feed(scheduler, roots, armed))
            await armed.wait()
            healthy = await self.bring_up(scheduler, lambda: group.create_task(scheduler.run()))
            await self.saves.initial_sync(scheduler)
            services = tuple(t.service for t in self.saves.targets)
            self.ui(ev.Watching(tuple(str(r) for r in roots), services))
        return healthy

    async def bring_up(self, scheduler: Scheduler, start: Callable[[], object]) -> bool:
        """`up`'s rounds, through the core as a save's: what serves goes into the core's
        state before the scheduler (`start`) sees any save made meanwhile. Returns whether
        every service is healthy; raises when `up` cannot go on."""
        self.warn_unsupported()
        if self.attach:
            attach, learn = self.observer.attach, self.stop_policy.observe
            self.serving, healthy = await asyncio.to_thread(attach, self.ui, learn)
            for name, serving in self.serving.items():
                scheduler.handle(Started(name, serving))
            start()
            return healthy
        await self.runner.checks.events.get()  # followed before the first start (engine/waits.py)
        scheduler.handle(UpAsked(tuple(self.services), DEPENDENCY_TIMEOUT_S))
        start()
        await scheduler.until(lambda state: state.up_done)
        if scheduler.state.up_error is not None:
            raise ComposewatchError(scheduler.state.up_error)
        return not scheduler.state.unhealthy

    def warn_unsupported(self) -> None:
        """Exactly one warning per key the container will not have, naming the service."""
        for name in self.services:
            for line in spec_keys.warnings(name, self.loaded.project.services[name]):
                self.ui(ev.Note(line, "warning"))

    def reloaded(self, new: LoadedProject) -> None:
        """The compose files changed (`Saves.apply_new_config`): what runs next reads them."""
        self.loaded = self.runner.loaded = new

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
        calm = asyncio.create_task(self.saves.after_storms(scheduler))
        try:
            burst_quiet_s = 2 * self.settings.quiet_ms / 1000
            locks = git_locks(roots)
            async for batch in after_checkouts(batches, locks, burst_quiet_s=burst_quiet_s):
                await self.saves.handle_batch(scheduler, batch)
        finally:
            calm.cancel()


def _cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error a task group collected (a cancellation only when nothing else)."""
    errors = [e for e in group.exceptions if not isinstance(e, asyncio.CancelledError)]
    found = (errors or list(group.exceptions))[0]
    return _cause(found) if isinstance(found, BaseExceptionGroup) else found


def _run(scheduler: Scheduler) -> asyncio.Task[None]:
    return asyncio.create_task(scheduler.run())
