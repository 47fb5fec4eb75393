"""`up`: build, start in dependency order, wait for health, then watch and update on save.

    UpAsked → observe (engine) + choose_image → UpRequested → core.step: plan_up, admit
    → effects (build, start or swap, check, commit) → results → core.step …  (Scheduler)
    → for each batch of saves: map_changes → Changed → the same Scheduler

The first Ctrl-C (or SIGINT to the process group, or SIGTERM) stops within a second: builds in
flight are abandoned (the engine cancels them when our connection closes), a swap in flight is
settled by the core (see `state.Stopping`), the containers keep running. A second one exits at
once; what it interrupts, the next `up` recognises and cleans (see `plan`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from composewatch import events as ev
from composewatch import spec_keys
from composewatch.buildcache import BuildCache, default_cache_dir
from composewatch.compose.model import LoadedProject, Project
from composewatch.compose.treeload import read_text
from composewatch.compose.yamlload import parse_documents
from composewatch.config import Settings
from composewatch.containers import Engine
from composewatch.core import state as st
from composewatch.core.action import Action
from composewatch.core.deps import dependents_to_recreate, dependents_to_restart
from composewatch.core.plan import Wanted, plan_attach
from composewatch.core.reload import plan_reload
from composewatch.core.storm import WriteStorms
from composewatch.engine.faults import describe
from composewatch.engine.project import image_created_s
from composewatch.errors import ComposewatchError
from composewatch.mapping import (
    WatchTarget,
    initial_sync_rules,
    load_initial_sync,
    load_watch_targets,
    map_changes,
    watch_roots,
)
from composewatch.observe import UpObserver, observed_of, start_order
from composewatch.runner import DockerRunner
from composewatch.scheduler import Scheduler
from composewatch.spec import config_hash, replica_count
from composewatch.spec_project import check_replicas
from composewatch.stop import StopPolicy
from composewatch.ui import UI
from composewatch.watcher import ChangeBatch, OwnWrites, watch_changes

__all__ = ["DEPENDENCY_TIMEOUT_S", "Interrupted", "Session", "run_up", "selected_services"]

DEPENDENCY_TIMEOUT_S = 300.0  # how long a dependent waits for its dependency's condition
THREADS = 64  # for engine calls during `up` (see run_up)
CHECKOUT_POLL_S = 0.1  # how often a running `git checkout` (its index.lock) is looked at
CHECKOUT_MAX_S = 300.0  # a lock older than this is stale (a crashed git): stop waiting
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


def git_locks(roots: Sequence[Path]) -> set[Path]:
    """The `index.lock` of each git repository holding a watched root: present while a
    `git checkout` (or rebase, merge, stash) rewrites the work tree."""
    locks = set()
    for root in roots:
        for folder in (root, *root.parents):
            if (folder / ".git").is_dir():
                locks.add(folder / ".git" / "index.lock")
                break
    return locks


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
    serving: dict[str, st.Serving] = field(default_factory=dict)  # what `watch` attached to
    # `watch` without a watcher: serve what runs as it is; build, create, recreate nothing.
    attach: bool = False

    def __post_init__(self) -> None:
        self.targets: list[WatchTarget] = []
        self.scheduler: Scheduler | None = None
        self.storms = WriteStorms()
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
            lambda event: self.ui(event),  # the session's sink, even when swapped later
            self.stop_policy,
            BuildCache.load(self.loaded.project.name),
        )
        self.runner.observe_up = UpObserver(self.loaded, self.engine, self.runner, self.services)

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
        scheduler = Scheduler(
            self.runner,
            max_parallel_builds=self.settings.max_parallel_builds,
            state=st.ProjectState(
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
        self.targets = self.watch_targets()
        roots = self.watch_roots()
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
            await self.initial_sync(scheduler)
            services = tuple(t.service for t in self.targets)
            self.ui(ev.Watching(tuple(str(r) for r in roots), services))
        return healthy

    async def bring_up(self, scheduler: Scheduler, start: Callable[[], object]) -> bool:
        """`up`'s rounds, through the core as a save's: what serves goes into the core's
        state before the scheduler (`start`) sees any save made meanwhile. Returns whether
        every service is healthy; raises when `up` cannot go on."""
        if self.attach:
            healthy = await asyncio.to_thread(self.attach_running)
            for name, serving in self.serving.items():
                scheduler.handle(st.Started(name, serving))
            start()
            return healthy
        self.warn_unsupported()
        scheduler.handle(st.UpAsked(tuple(self.services), DEPENDENCY_TIMEOUT_S))
        start()
        await scheduler.until(lambda state: state.up_done)
        if scheduler.state.up_error is not None:
            raise ComposewatchError(scheduler.state.up_error)
        return not scheduler.state.unhealthy

    async def initial_sync(self, scheduler: Scheduler) -> None:
        """compose's `initial_sync`: the files of such a rule modified since the serving
        image was made are synced, through the core as a save's sync is, before any save
        (see `mapping.load_initial_sync`)."""
        for target in self.targets:
            serving = scheduler.state.service(target.service).serving
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
                scheduler.submit(st.Changed(target.service, Action.SYNC, paths, time.time()))

    def warn_unsupported(self) -> None:
        """Exactly one warning per key the container will not have, naming the service."""
        for name in self.services:
            for line in spec_keys.warnings(name, self.loaded.project.services[name]):
                self.ui(ev.Note(line, "warning"))

    def attach_running(self) -> bool:
        """Serve what runs, as it is: observe, let `plan_attach` decide, record. Raises when
        nothing of the project runs (there is nothing to watch)."""
        self.warn_unsupported()
        found = self.engine.observe(self.loaded.project.name)
        images = {i.id: i.image_id for i in found}
        services = self.loaded.project.services
        wanted = {
            n: Wanted(config_hash(services[n]), "", replica_count(services[n]))
            for n in self.services
        }
        order = start_order(self.loaded, self.services)
        for plan in plan_attach(observed_of(found, self.services), wanted, order):
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
                self.stop_policy.learn(plan.service, container)
        if not self.serving:
            raise ComposewatchError(
                f"nothing of project {self.loaded.project.name} runs, so there is nothing to "
                "watch: `composewatch up` builds and starts it, then watches"
            )
        return len(self.serving) == len(self.services)

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
            async for batch in _after_checkouts(batches, locks, burst_quiet_s=burst_quiet_s):
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
                service, change.action, change.paths, saved_at, change.copies, change.why
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
        plans = plan_reload(self.loaded.project, new.project, self.services)
        self.loaded = self.runner.loaded = new
        self.stop_policy.project = new.project
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


def _run(scheduler: Scheduler) -> asyncio.Task[None]:
    return asyncio.create_task(scheduler.run())


async def _after_checkouts(
    batches: AsyncIterator[ChangeBatch],
    locks: set[Path],
    settle_s: float = 0.2,
    burst_quiet_s: float = 0.0,
) -> AsyncIterator[ChangeBatch]:
    """Pass batches on, except while a git checkout runs (an `index.lock` exists): then its
    batches are merged, and handed over once the lock has gone and no batch came for
    `settle_s` (the watcher still holds the last files git wrote), so a branch switch of
    thousands of files gives one build per service, of the checked-out state.

    A batch that comes less than `burst_quiet_s` after the one before is a burst (an editor's
    "save all", a formatter, an agent): it is merged with those that follow until the burst
    pauses for `burst_quiet_s`, so the burst's saves go as one round, not one stale restart or
    build after another. The first batch of a burst is never held: a lone save goes at once."""
    queue: asyncio.Queue[ChangeBatch] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    previous_at = -math.inf

    async def read() -> None:
        async for batch in batches:
            queue.put_nowait(batch)

    reader = asyncio.create_task(read())
    try:
        while (batch := await _next(queue, reader)) is not None:
            waited_s = 0.0
            while any(lock.exists() for lock in locks) and waited_s < CHECKOUT_MAX_S:
                await asyncio.sleep(CHECKOUT_POLL_S)
                waited_s += CHECKOUT_POLL_S
                while not queue.empty():
                    batch = _merge(batch, queue.get_nowait())
            if waited_s:
                with contextlib.suppress(TimeoutError):
                    while True:
                        late = await asyncio.wait_for(queue.get(), settle_s)
                        batch = _merge(batch, late)
            arrived_at = loop.time()
            if arrived_at - previous_at < burst_quiet_s:
                with contextlib.suppress(TimeoutError):
                    while True:
                        batch = _merge(batch, await asyncio.wait_for(queue.get(), burst_quiet_s))
                        arrived_at = loop.time()
            previous_at = arrived_at
            while not queue.empty():
                batch = _merge(batch, queue.get_nowait())
            yield batch
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def _next(
    queue: asyncio.Queue[ChangeBatch], reader: asyncio.Task[None]
) -> ChangeBatch | None:
    """The next batch; None once the watcher has ended (what ended it is raised)."""
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    if not queue.empty():
        return queue.get_nowait()
    reader.result()  # the watcher ended: raise what ended it
    return None


def _merge(a: ChangeBatch, b: ChangeBatch) -> ChangeBatch:
    return ChangeBatch(a.paths | b.paths, max(a.delivered_at, b.delivered_at), a.rescan or b.rescan)
