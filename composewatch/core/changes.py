"""A save's round begins: a change arrives (now, or kept until the service is idle), and the
round takes its way (in place, sync, recreate, or build first, in a slot or queued)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from composewatch import events as ev
from composewatch.core.action import Action, merge_actions
from composewatch.core.effects import CancelBuild, HashContext, StartBuild, SyncFiles
from composewatch.core.inplace import Copy
from composewatch.core.inputs import BuildSucceeded, Changed, ContextHashed, Rescaled
from composewatch.core.machine import (
    Base,
    earliest,
    merge_copies,
    opening_timings,
    shown,
    without,
)
from composewatch.core.phases import ROUND_RESET, Phase
from composewatch.core.sync import SyncCommand, merge_commands

__all__ = ["Begin", "Changes"]


class Changes(Base):
    """A change arrives: a round begins, supersedes a stale build, or waits its turn."""

    def on_changed(self, change: Changed, noticed_at: float | None = None) -> None:
        """`noticed_at`: when the change was known (now, for a save the watcher hands over;
        a dependent's round knows of its dependency's save only once that one is live)."""
        name, service = change.service, self.get(change.service)
        noticed = self.now if noticed_at is None else noticed_at
        if self.state.stopping:
            return
        match service.phase:
            case Phase.IDLE if not self.state.engine_lost and service.settle is None:
                self.begin_change(change, noticed)
            case Phase.QUEUED | Phase.BUILDING if service.background:
                # The image's catch-up is for code already served: the new save goes first,
                # and brings its own catch-up (or a build) with it.
                if service.phase is Phase.BUILDING:
                    self.emit(CancelBuild(name, service.generation))
                self.update(name, phase=Phase.IDLE)
                self.state = replace(self.state, queue=without(self.state.queue, name))
                self.begin_change(change, noticed)
                self.start_queued()
            case Phase.QUEUED | Phase.BUILDING:
                # The running build is for code that is already stale: stop it, build the newest.
                timings = service.timings
                if service.phase is Phase.BUILDING:
                    self.emit(CancelBuild(name, service.generation))
                    self.report(ev.BuildSuperseded(name))
                    # Its time is the storm's, not a slow build's: kept apart, under its name.
                    timings = (*timings, ("superseded", self.now - service.phase_started_at))
                merged = max(Action.REBUILD, change.action)
                saved_at = earliest(service.saved_at, change.saved_at)
                self.update(name, phase=Phase.IDLE)
                self.state = replace(self.state, queue=without(self.state.queue, name))
                why = change.why if change.action is Action.REBUILD else service.why
                self.begin(name, merged, service.paths | change.paths, saved_at, timings, (), why)
                self.start_queued()
            case _:
                self.keep_pending(
                    name,
                    change.action,
                    change.paths,
                    change.saved_at,
                    change.copies,
                    change.why,
                    noticed,
                    change.commands,
                )
                service = self.get(name)
                idle = service.phase is Phase.IDLE and not self.state.engine_lost
                if idle and service.settle is not None:  # it failed last time: try it again
                    self.run_settle(name)

    def begin_change(self, change: Changed, noticed_at: float) -> None:
        """A round for this change alone (its files, and why it takes its way)."""
        self.begin(
            change.service,
            change.action,
            change.paths,
            change.saved_at,
            (),
            change.copies,
            change.why,
            noticed_at=noticed_at,
            commands=change.commands,
        )

    def on_rescaled(self, event: Rescaled) -> None:
        wanted = {**self.state.replicas, event.service: event.replicas}
        self.state = replace(self.state, replicas=wanted)
        self.on_changed(Changed(event.service, Action.RECREATE, frozenset(), event.saved_at))

    def keep_pending(
        self,
        name: str,
        action: Action,
        paths: frozenset[Path],
        saved_at: float | None,
        copies: tuple[Copy, ...] = (),
        why: str = "",
        noticed_at: float | None = None,
        commands: tuple[SyncCommand, ...] = (),
    ) -> None:
        service = self.get(name)
        pending = merge_actions(service.pending or action, action)
        self.update(
            name,
            pending=pending,
            pending_why=why
            if action is pending or not service.pending_why
            else service.pending_why,
            pending_copies=merge_copies(service.pending_copies, copies),
            pending_commands=merge_commands(service.pending_commands, commands),
            pending_paths=service.pending_paths | paths,
            pending_saved_at=(
                earliest(service.pending_saved_at, saved_at)
                if saved_at is not None
                else service.pending_saved_at
            ),
            pending_noticed_at=earliest(
                service.pending_noticed_at, self.now if noticed_at is None else noticed_at
            ),
        )

    def begin_pending(self, name: str) -> None:
        """Start the round of the changes that arrived while the service was busy."""
        service = self.get(name)
        assert service.pending is not None and service.pending_saved_at is not None
        self.begin(
            name,
            service.pending,
            service.pending_paths,
            service.pending_saved_at,
            (),
            service.pending_copies,
            service.pending_why,
            noticed_at=service.pending_noticed_at,
            commands=service.pending_commands,
        )


class Begin(Base):
    """A round takes its way; a build runs in a slot or waits for one."""

    def begin(
        self,
        name: str,
        action: Action,
        paths: frozenset[Path],
        saved_at: float,
        timings: tuple[tuple[str, float], ...] = (),
        copies: tuple[Copy, ...] = (),
        why: str = "",
        *,
        noticed_at: float | None = None,
        commands: tuple[SyncCommand, ...] = (),
    ) -> None:
        if not timings:
            timings = opening_timings(saved_at, noticed_at, self.now)
        action, why = self.way(name, action, why)
        service = self.update(
            name,
            **{
                **ROUND_RESET,
                "generation": self.get(name).generation + 1,
                "action": action,
                "paths": paths,
                "saved_at": saved_at,
                "timings": timings,
                "copies": copies,
                "commands": commands,
                "why": why,
                "pending": None,
                "pending_paths": frozenset(),
                "pending_saved_at": None,
                "pending_copies": (),
                "pending_commands": (),
                "pending_why": "",
                "pending_noticed_at": None,
            },
        )
        if action is Action.UPDATE:
            self.enter(name, Phase.UPDATING)
            self.report(ev.UpdateStarted(name, shown(paths), why))
            self.update_replica(name)
        elif action is Action.REBUILD:
            self.build_or_queue(name)
        elif action is Action.RECREATE:
            if service.serving is None:
                self.finish(name, ev.SwapFailed(name, "no container serves this service yet"))
                return
            self.enter(name, Phase.SWAPPING)
            self.update(name, image=service.serving.image)
            self.swap_replica(name)
        else:
            if service.serving is None:
                self.finish(name, ev.SyncFailed(name, "no running container to sync into"))
                return
            restart = action in (Action.RESTART, Action.SYNC_RESTART)
            self.enter(name, Phase.SYNCING)
            # A restart-only round copies no file and runs no command.
            copies, commands = ((), ()) if action is Action.RESTART else (copies, commands)
            containers = service.serving.containers
            self.emit(SyncFiles(name, service.generation, containers, copies, commands, restart))

    def way(self, name: str, action: Action, why: str) -> tuple[Action, str]:
        """The way a round goes: an update without a container, or a recreate while the image
        lags the container's in-place updates, builds instead."""
        service = self.get(name)
        if action is Action.UPDATE and service.serving is None:
            return Action.REBUILD, "rebuild: no container runs to update in place"
        if action is Action.RECREATE and service.behind:
            return Action.REBUILD, "rebuild: the image has not caught up with the container"
        return action, why

    def build_or_queue(self, name: str) -> None:
        """Build now, or wait for a build slot (a save's wait is said; a catch-up's is not)."""
        if len(self.state.building()) < self.state.max_parallel_builds:
            self.start_build(name)
            return
        self.update(name, phase=Phase.QUEUED, phase_started_at=self.now)
        self.state = replace(self.state, queue=(*self.state.queue, name))
        if not self.get(name).background:
            self.report(ev.BuildQueued(name, tuple(self.state.building())))

    def start_build(self, name: str) -> None:
        service = self.enter(name, Phase.BUILDING)
        if name in self.state.starting and service.digest is not None:
            # `up` hashed the context to choose the image: the build reuses that walk.
            self.emit(StartBuild(name, service.generation, service.digest))
        else:
            self.emit(HashContext(name, service.generation))
        started = ev.BuildStarted(name, shown(service.paths), service.why, service.background)
        self.report(started)

    def on_hashed(self, event: ContextHashed) -> None:
        service = self.get(event.service)
        if service.serving is not None and service.serving.digest == event.digest:
            self.update(event.service, behind=False)  # the image already holds this code
            outcome: ev.Event = ev.BuildUnchanged(event.service)
            if service.background:
                outcome = ev.ImageCaughtUp(event.service, self.now - service.phase_started_at)
            self.finish(event.service, outcome)
            return
        self.update(event.service, digest=event.digest)
        self.emit(StartBuild(event.service, event.generation, event.digest))

    def on_built(self, event: BuildSucceeded) -> None:
        name, service = event.service, self.get(event.service)
        if service.serving is not None and (
            service.serving.image == event.image or service.background
        ):
            # Docker's cache gave the image that serves (nothing to swap), or the image caught
            # up with a container updated in place (which already runs this code).
            serving = replace(service.serving, image=event.image, digest=service.digest)
            self.update(name, serving=serving, behind=False)
            outcome: ev.Event = ev.BuildUnchanged(name)
            if service.background:
                outcome = ev.ImageCaughtUp(name, self.now - service.phase_started_at)
            self.finish(name, outcome)
            return
        started = service.phase_started_at
        service = self.enter(name, Phase.SWAPPING, event.steps)
        self.update(name, image=event.image)
        self.report(ev.BuildFinished(name, self.now - started))
        self.swap_replica(name)
        self.start_queued()
