"""A save's side of the session: from the watcher's batches to the core's inputs.

Write storms are held back (`core.storm`), each batch's files are mapped to services and the
way each takes (`mapping.map_changes`), and an edit of a compose file, `.env` or `env_file`
reloads the project (`core.reload`). What each change does is decided by the core.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from composewatch import events as ev
from composewatch.compose.model import LoadedProject
from composewatch.compose.treeload import read_text
from composewatch.compose.yamlload import parse_documents
from composewatch.core.action import Action
from composewatch.core.inputs import Changed, Rescaled
from composewatch.core.reload import plan_reload
from composewatch.core.storm import WriteStorms
from composewatch.core.sync import plan_sync
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
from composewatch.scheduler import Scheduler
from composewatch.spec import config_hash
from composewatch.spec_project import check_replicas
from composewatch.watcher import ChangeBatch

if TYPE_CHECKING:
    from composewatch.app import Session

__all__ = ["Saves", "load_env_file_paths"]

STORM_CHECK_S = 1.0  # how often stopped write storms are looked for


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


@dataclass
class Saves:
    """The session's watched targets and write storms, and what a batch of saves becomes."""

    session: Session
    targets: list[WatchTarget] = field(default_factory=list)
    storms: WriteStorms = field(default_factory=WriteStorms)

    def watch_targets(self) -> list[WatchTarget]:
        watched = [n for n in self.session.services if self.session.settings.for_service(n).watch]
        targets = load_watch_targets(self.session.loaded, self.session.settings.updates_in_place)
        return [t for t in targets if t.service in watched]

    def reload_triggers(self) -> set[Path]:
        """The files whose edit reloads the project: compose files, `.env`, `env_file`s."""
        if self.session.reload is None:
            return set()
        return {Path(f) for f in self.session.loaded.config_files} | load_env_file_paths(
            self.session.loaded
        )

    def watch_roots(self) -> list[Path]:
        """The build contexts and rules, plus the folders of the files that reload the
        project when it can be reloaded."""
        extra = [WatchTarget("", f.parent, None) for f in self.reload_triggers()]
        return watch_roots([*self.targets, *(t for t in extra if t.context and t.context.is_dir())])

    async def handle_batch(self, scheduler: Scheduler, batch: ChangeBatch) -> None:
        try:
            await self.on_batch(scheduler, batch)
        except Exception as exc:  # one bad batch must not end the watch
            self.session.ui(ev.Note(f"a change could not be handled: {exc!r}", "warning"))

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
            self.session.ui(ev.Note(storm_note(self.storms, self.targets, path), "warning"))
        return replace(batch, paths=admitted)

    async def on_batch(self, scheduler: Scheduler, batch: ChangeBatch) -> None:
        batch = self.without_storms(batch)
        if not batch.paths and not batch.rescan:
            return
        saved_at = batch.saved_at()
        if self.session.on_save is not None:
            self.session.on_save(frozenset(batch.paths))
        if batch.rescan:  # changes went unseen: every build is checked (its digest decides)
            for target in self.targets:
                if target.context is not None:
                    scheduler.submit(Changed(target.service, Action.REBUILD, frozenset(), saved_at))
        if batch.paths & self.reload_triggers():
            await self.apply_new_config(scheduler, saved_at)
        for service, change in map_changes(batch.paths, self.targets).items():
            changed = Changed(
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
        assert self.session.reload is not None
        try:
            new = await asyncio.to_thread(self.session.reload)
            kept = [name for name in self.session.services if name in new.project.services]
            check_replicas(new.project, kept, ", ".join(new.config_files) or None)
        except Exception as exc:  # whatever the file holds, the watch goes on
            message = str(exc) if isinstance(exc, ComposewatchError) else repr(exc)
            self.session.ui(
                ev.Note(f"changes not applied, the project runs as it was: {message}", "warning")
            )
            return
        plans = plan_reload(
            self.session.loaded.project, new.project, self.session.services, config_hash
        )
        self.session.reloaded(new)
        self.targets = self.watch_targets()
        files = frozenset(Path(f) for f in new.config_files)
        for plan in plans:
            if plan.action is None:
                self.session.ui(ev.Note(f"{plan.service}: {plan.cause}"))
                continue
            what = "rebuilding" if plan.action is Action.REBUILD else "recreating"
            self.session.ui(ev.Note(f"{plan.service}: {plan.cause}, {what}"))
            if plan.replicas is not None:
                scheduler.submit(Rescaled(plan.service, plan.replicas, saved_at))
            else:
                scheduler.submit(Changed(plan.service, plan.action, files, saved_at))

    async def initial_sync(self, scheduler: Scheduler) -> None:
        """compose's `initial_sync`: the files of such a rule modified since the serving
        image was made are synced, through the core as a save's sync is, before any save
        (see `mapping.load_initial_sync`)."""
        for target in self.targets:
            serving = scheduler.state.service(target.service).serving
            if serving is None or not initial_sync_rules(target):
                continue
            service = self.session.loaded.project.services[target.service]
            binds = [Path(v.source) for v in service.volumes or () if v.type == "bind" and v.source]
            try:
                created_s = await asyncio.to_thread(
                    image_created_s, self.session.engine.client, serving.image
                )
                # An image gone meanwhile tells no time: everything is synced.
                paths = await asyncio.to_thread(load_initial_sync, target, created_s or 0.0, binds)
            except Exception as exc:  # the watch starts anyway, and saves sync as usual
                skipped = f"{target.service}: initial_sync skipped: {describe(exc)}"
                self.session.ui(ev.Note(skipped, "warning"))
                continue
            if paths:
                self.session.ui(
                    ev.Note(
                        f"{target.service}: initial_sync: {len(paths)} file(s) changed since "
                        "its image was made, synced before the first save"
                    )
                )
                copies, commands = plan_sync(paths, target.rules)
                scheduler.submit(
                    Changed(
                        target.service, Action.SYNC, paths, time.time(), copies, commands=commands
                    )
                )


def storm_note(storms: WriteStorms, targets: list[WatchTarget], path: Path) -> str:
    """What a write storm is said with: the file, how often, and how to keep it out."""
    contexts = [t for t in targets if t.context is not None and path.is_relative_to(t.context)]
    where = "; ".join(
        f"add /{path.relative_to(t.context).as_posix()} to {t.context / '.dockerignore'} or "
        f"set x-composewatch.services.{t.service}.watch: false"
        for t in contexts
        if t.context is not None
    )
    return (
        f"{path} changed {storms.count(path)} times in "
        f"{storms.span_s(path):.1f} s: a file "
        "written this often is not source (a log?), so its changes start no build while "
        "it keeps changing (once it stops, its last state is built). To keep it out"
        f"{': ' + where if where else ''}."
    )
