"""One step's scratch space (`Base`): the state as it evolves, the effects collected, and the
helpers every phase's handlers share. The handlers live beside it, one module per part of a
round (`changes`, `swaps`, `settle`, `upround`); `state.step` puts them together."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import (
    CheckHealth,
    Commit,
    Effect,
    HashContext,
    PullImage,
    Report,
    Rollback,
    Serving,
    StartBuild,
    StartReplica,
    Steps,
    Swap,
    SyncFiles,
    UpdateInPlace,
)
from composewatch.core.inplace import Copy
from composewatch.core.phases import Phase, ProjectState, ServiceState, UpStart

if TYPE_CHECKING:
    from composewatch.core.inputs import (
        Changed,
        CreatedAhead,
        EffectFailed,
        Healthy,
        ReplicaStarted,
    )
    from composewatch.core.sync import SyncCommand

__all__ = ["PHASE_OF", "Base"]


class Base:
    """The state as it evolves through one step, and the effects collected."""

    def __init__(self, state: ProjectState, now: float) -> None:
        self.state = state
        self.now = now
        self.effects: list[Effect] = []
        self.read: set[str] = set()  # dependencies whose status was read in this step

    def get(self, name: str) -> ServiceState:
        return self.state.service(name)

    def put(self, name: str, service: ServiceState) -> None:
        self.state = replace(self.state, services={**self.state.services, name: service})

    def update(self, name: str, **changes: object) -> ServiceState:
        service = replace(self.get(name), **changes)  # type: ignore[arg-type]
        self.put(name, service)
        return service

    def emit(self, *effects: Effect) -> None:
        self.effects.extend(effects)

    def report(self, event: ev.Event) -> None:
        self.effects.append(Report(event))

    def enter(self, name: str, phase: Phase, steps: Steps = ()) -> ServiceState:
        """Close the current phase's clock (recording its steps when the edge measured them)
        and open the next one's."""
        service = self.get(name)
        timings = service.timings
        if steps:
            timings = (*timings, *steps)
        elif service.phase not in (Phase.IDLE, Phase.QUEUED, Phase.HELD):
            timings = (*timings, (phase_name(service), self.now - service.phase_started_at))
        return self.update(name, phase=phase, phase_started_at=self.now, timings=timings)

    def current(self, service: str, generation: int, *phases: Phase) -> bool:
        state = self.get(service)
        return state.generation == generation and state.phase in phases

    def after_round(self, name: str, outcome: ev.Event | None) -> None:
        """Told when a service's round ends (`up` goes on from there)."""

    if TYPE_CHECKING:  # the handlers' parts call each other (see state._Machine)

        def on_changed(self, change: Changed, noticed_at: float | None = None) -> None: ...
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
        ) -> None: ...
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
        ) -> None: ...
        def begin_pending(self, name: str) -> None: ...
        def build_or_queue(self, name: str) -> None: ...
        def start_build(self, name: str) -> None: ...
        def swap_replica(self, name: str) -> None: ...
        def roll_back(self, name: str, outcome: ev.Event | None) -> None: ...
        def undo(self, name: str) -> Rollback: ...
        def on_healthy(self, event: Healthy) -> None: ...
        def report_live(self, name: str) -> None: ...
        def on_live(self, name: str) -> None: ...
        def follow_dependents(self, name: str, saved_at: float | None) -> None: ...
        def finish(self, name: str, outcome: ev.Event | None) -> None: ...
        def run_settle(self, name: str) -> None: ...
        def start_queued(self) -> None: ...
        def update_replica(self, name: str) -> None: ...
        def update_failed(self, name: str, message: str) -> None: ...
        def updated_healthy(self, name: str) -> None: ...
        def on_engine_lost(self, name: str, effect: Effect, message: str) -> None: ...
        def restore(self, name: str, outcome: ev.Event) -> None: ...
        def catch_up(self, name: str, paths: frozenset[Path]) -> None: ...
        def up_made(self, name: str, number: int, container: str) -> None: ...
        def up_effect_failed(self, effect: Effect, message: str) -> bool: ...
        def put_start(self, name: str, start: UpStart) -> None: ...
        def up_build_failed(self, name: str, message: str, log_tail: tuple[str, ...]) -> None: ...
        def start_up(self, name: str) -> None: ...
        def on_replica_started(self, event: ReplicaStarted) -> None: ...
        def create_ahead(self, held: list[str]) -> None: ...
        def on_created_ahead(self, event: CreatedAhead) -> None: ...
        def verdict(self, name: str, number: int, healthy: bool) -> None: ...
        def end_up(self, name: str, healthy: bool) -> None: ...
        def fail_up(self, name: str, why: str) -> None: ...
        def up_watch_failed(self, failure: EffectFailed) -> None: ...


# The phase in which an effect's failure still concerns the round (else it is stale).
PHASE_OF: dict[type, tuple[Phase, ...]] = {
    HashContext: (Phase.BUILDING,),
    StartBuild: (Phase.BUILDING,),
    PullImage: (Phase.PULLING,),
    Swap: (Phase.SWAPPING,),
    StartReplica: (Phase.STARTING,),
    UpdateInPlace: (Phase.UPDATING,),
    SyncFiles: (Phase.SYNCING,),
    CheckHealth: (Phase.CHECKING, Phase.STARTING),
    Commit: (Phase.COMMITTING,),
    Rollback: (Phase.ROLLING_BACK,),
}


def opening_timings(
    saved_at: float, noticed_at: float | None, now: float
) -> tuple[tuple[str, float], ...]:
    """A new round starts with noticing the save (the watcher's event and quiet period), then
    whatever it waited for (the round before, the engine's return)."""
    noticed = now if noticed_at is None else max(saved_at, noticed_at)
    timings: tuple[tuple[str, float], ...] = (("detect", max(0.0, noticed - saved_at)),)
    if now > noticed:
        timings = (*timings, ("waiting", now - noticed))
    return timings


HOW = {
    Action.SYNC: "sync",
    Action.RESTART: "restart",
    Action.SYNC_RESTART: "sync+restart",
    Action.UPDATE: "in place",
    Action.RECREATE: "recreate",
    Action.REBUILD: "rebuild",
}


def shown(paths: frozenset[Path]) -> tuple[str, ...]:
    return tuple(sorted(str(p) for p in paths))


def merge_copies(a: tuple[Copy, ...], b: tuple[Copy, ...]) -> tuple[Copy, ...]:
    """Both rounds' files, one copy per container path (the later save's wins)."""
    merged = {copy.dest: copy for copy in (*a, *b)}
    return tuple(merged.values())


_SYNC_STEPS = {Action.SYNC: "sync", Action.RESTART: "restart", Action.SYNC_RESTART: "sync+restart"}


def phase_name(service: ServiceState) -> str:
    """A phase's name in a round's timings: a sync round says what it did."""
    if service.phase is Phase.SYNCING and service.action is not None:
        return _SYNC_STEPS.get(service.action, "sync")
    return service.phase.value


def digest_kept(serving: Serving | None, image: str) -> str | None:
    """A recreate keeps the image, so it keeps the digest it was built from."""
    return serving.digest if serving is not None and serving.image == image else None


def totals(timings: tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    """One entry per step, in first-seen order: replicas repeat create/stop/start/checking,
    and a superseded build repeats building."""
    found: dict[str, float] = {}
    for step_name, seconds in timings:
        found[step_name] = found.get(step_name, 0.0) + seconds
    return tuple(found.items())


def earliest(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def without(queue: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(n for n in queue if n != name)
