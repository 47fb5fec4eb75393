"""Per-service phases of the watch loop and the pure `step()` that moves them.

    idle ─Changed─▶ building ─BuildSucceeded─▶ swapping ─Swapped─▶ checking ─Healthy─▶ idle
                       │  ▲                        │                   └─Unhealthy─▶ rolling_back
                       │  └─Changed (cancel, build the newest save instead)   ─RolledBack─▶ idle
                       └─BuildFailed / BuildSkipped─▶ idle (the old container keeps serving)
    idle ─Changed (sync / restart rules)─▶ syncing ─Synced─▶ checking | idle

A change that arrives while a service swaps or checks is kept and starts the next round as soon
as the service is idle, so the last save is always what ends up served. Every piece of work
carries the service's generation; a result from an older generation is stale and dropped.
Builds share `max_parallel_builds` slots; a service that waits for one is `queued`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from composewatch import events as ev
from composewatch.mapping import Action

__all__ = [
    "BuildFailed",
    "BuildSkipped",
    "BuildSucceeded",
    "CancelBuild",
    "Changed",
    "CheckHealth",
    "Commit",
    "Effect",
    "Healthy",
    "Input",
    "Phase",
    "ProjectState",
    "Report",
    "Rollback",
    "RolledBack",
    "ServiceState",
    "StartBuild",
    "Steps",
    "Swap",
    "SwapFailed",
    "Swapped",
    "SyncFailed",
    "SyncFiles",
    "Synced",
    "Unhealthy",
    "step",
]


class Phase(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    BUILDING = "building"
    SWAPPING = "swapping"
    SYNCING = "syncing"
    CHECKING = "checking"
    ROLLING_BACK = "rolling_back"


# ── inputs: what happened ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Changed:
    service: str
    action: Action
    paths: frozenset[Path]
    saved_at: float


Steps = tuple[tuple[str, float], ...]  # (step, seconds) inside one phase, for the breakdown


@dataclass(frozen=True)
class BuildSucceeded:
    service: str
    generation: int
    image: str
    steps: Steps = ()  # e.g. (("context", s), ("build", s))


@dataclass(frozen=True)
class BuildSkipped:
    """The build context is byte-for-byte what the serving image was built from."""

    service: str
    generation: int


@dataclass(frozen=True)
class BuildFailed:
    service: str
    generation: int
    message: str
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Swapped:
    service: str
    generation: int
    steps: Steps = ()  # e.g. (("create", s), ("stop", s), ("start", s))


@dataclass(frozen=True)
class SwapFailed:
    service: str
    generation: int
    message: str


@dataclass(frozen=True)
class Synced:
    service: str
    generation: int
    restarted: bool


@dataclass(frozen=True)
class SyncFailed:
    service: str
    generation: int
    message: str


@dataclass(frozen=True)
class Healthy:
    service: str
    generation: int


@dataclass(frozen=True)
class Unhealthy:
    service: str
    generation: int
    reason: str


@dataclass(frozen=True)
class RolledBack:
    """The unhealthy container is gone and the old one serves again."""

    service: str
    generation: int
    reason: str


Result = (
    BuildSucceeded
    | BuildSkipped
    | BuildFailed
    | Swapped
    | SwapFailed
    | Synced
    | SyncFailed
    | Healthy
    | Unhealthy
    | RolledBack
)
Input = Changed | Result

# ── effects: what to do ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class StartBuild:
    service: str
    generation: int


@dataclass(frozen=True)
class CancelBuild:
    service: str
    generation: int


@dataclass(frozen=True)
class Swap:
    """Create the new container beside the old one, then hand the service over to it.
    `image` None: the image that serves now (a configuration change)."""

    service: str
    generation: int
    image: str | None


@dataclass(frozen=True)
class SyncFiles:
    service: str
    generation: int
    paths: frozenset[Path]
    restart: bool


@dataclass(frozen=True)
class CheckHealth:
    service: str
    generation: int


@dataclass(frozen=True)
class Commit:
    """The new container is healthy: remove the old one."""

    service: str
    generation: int


@dataclass(frozen=True)
class Rollback:
    """The new container is unhealthy: remove it and start the old one again."""

    service: str
    generation: int
    reason: str


@dataclass(frozen=True)
class Report:
    event: ev.Event


Effect = StartBuild | CancelBuild | Swap | SyncFiles | CheckHealth | Commit | Rollback | Report

# ── state ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ServiceState:
    phase: Phase = Phase.IDLE
    generation: int = 0
    action: Action | None = None  # what the current round does
    paths: frozenset[Path] = frozenset()  # the changes the current round carries
    saved_at: float | None = None  # the oldest save the current round will make live
    pending: Action | None = None  # a change that arrived while swapping/checking
    pending_paths: frozenset[Path] = frozenset()
    pending_saved_at: float | None = None
    phase_started_at: float = 0.0
    timings: tuple[tuple[str, float], ...] = ()  # (phase, seconds) of the current round


@dataclass(frozen=True)
class ProjectState:
    max_parallel_builds: int = 2
    services: dict[str, ServiceState] = field(default_factory=dict)
    queue: tuple[str, ...] = ()  # services waiting for a build slot, oldest first

    def service(self, name: str) -> ServiceState:
        return self.services.get(name, _IDLE)

    def building(self) -> list[str]:
        return [n for n, s in self.services.items() if s.phase is Phase.BUILDING]


_IDLE = ServiceState()


def step(state: ProjectState, event: Input, now: float) -> tuple[ProjectState, list[Effect]]:
    """Pure: the new state and the effects to run, given one input at time `now`."""
    machine = _Machine(state, now)
    machine.handle(event)
    return machine.state, machine.effects


class _Machine:
    """One step's scratch space: the state as it evolves and the effects collected."""

    def __init__(self, state: ProjectState, now: float) -> None:
        self.state = state
        self.now = now
        self.effects: list[Effect] = []

    # helpers ────────────────────────────────────────────────────────────────────────────

    def get(self, name: str) -> ServiceState:
        return self.state.service(name)

    def put(self, name: str, service: ServiceState) -> None:
        self.state = replace(self.state, services={**self.state.services, name: service})

    def emit(self, *effects: Effect) -> None:
        self.effects.extend(effects)

    def report(self, event: ev.Event) -> None:
        self.effects.append(Report(event))

    def enter(
        self, name: str, service: ServiceState, phase: Phase, steps: Steps = ()
    ) -> ServiceState:
        """Close the current phase's clock (recording its steps when the edge measured them)
        and open the next one's."""
        timings = service.timings
        if steps:
            timings = (*timings, *steps)
        elif service.phase not in (Phase.IDLE, Phase.QUEUED):
            timings = (*timings, (service.phase.value, self.now - service.phase_started_at))
        updated = replace(service, phase=phase, phase_started_at=self.now, timings=timings)
        self.put(name, updated)
        return updated

    def current(self, event: Result, *phases: Phase) -> bool:
        service = self.get(event.service)
        return service.generation == event.generation and service.phase in phases

    # dispatch ───────────────────────────────────────────────────────────────────────────

    def handle(self, event: Input) -> None:
        match event:
            case Changed():
                self.on_changed(event)
            case BuildSucceeded() if self.current(event, Phase.BUILDING):
                self.on_built(event)
            case BuildSkipped() if self.current(event, Phase.BUILDING):
                self.finish(event.service, ev.BuildUnchanged(event.service))
            case BuildFailed() if self.current(event, Phase.BUILDING):
                failed = ev.BuildFailed(event.service, event.message, event.log_tail)
                self.finish(event.service, failed)
            case Swapped() if self.current(event, Phase.SWAPPING):
                self.on_swapped(event)
            case SwapFailed() if self.current(event, Phase.SWAPPING):
                self.finish(event.service, ev.SwapFailed(event.service, event.message))
            case Synced() if self.current(event, Phase.SYNCING):
                self.on_synced(event)
            case SyncFailed() if self.current(event, Phase.SYNCING):
                self.finish(event.service, ev.SyncFailed(event.service, event.message))
            case Healthy() if self.current(event, Phase.CHECKING):
                self.on_healthy(event)
            case Unhealthy() if self.current(event, Phase.CHECKING):
                self.enter(event.service, self.get(event.service), Phase.ROLLING_BACK)
                self.emit(Rollback(event.service, event.generation, event.reason))
            case RolledBack() if self.current(event, Phase.ROLLING_BACK):
                self.finish(event.service, ev.RolledBack(event.service, event.reason))
            case _:
                pass  # a stale result of superseded work

    # transitions ────────────────────────────────────────────────────────────────────────

    def on_changed(self, change: Changed) -> None:
        name, service = change.service, self.get(change.service)
        match service.phase:
            case Phase.IDLE:
                self.begin(name, change.action, change.paths, change.saved_at)
            case Phase.QUEUED | Phase.BUILDING:
                # The running build is for code that is already stale: stop it, build the newest.
                if service.phase is Phase.BUILDING:
                    self.emit(CancelBuild(name, service.generation))
                    self.report(ev.BuildSuperseded(name))
                merged = max(Action.REBUILD, change.action)
                saved_at = _earliest(service.saved_at, change.saved_at)
                self.put(name, replace(service, phase=Phase.IDLE))
                self.state = replace(self.state, queue=_without(self.state.queue, name))
                self.begin(name, merged, service.paths | change.paths, saved_at, service.timings)
                self.start_queued()
            case _:
                pending = max(service.pending or change.action, change.action)
                self.put(
                    name,
                    replace(
                        service,
                        pending=pending,
                        pending_paths=service.pending_paths | change.paths,
                        pending_saved_at=_earliest(service.pending_saved_at, change.saved_at),
                    ),
                )

    def begin(
        self,
        name: str,
        action: Action,
        paths: frozenset[Path],
        saved_at: float,
        timings: tuple[tuple[str, float], ...] = (),
    ) -> None:
        if not timings:  # a new round: it starts with noticing the save (event + quiet period)
            timings = (("detect", max(0.0, self.now - saved_at)),)
        service = replace(
            self.get(name),
            generation=self.get(name).generation + 1,
            action=action,
            paths=paths,
            saved_at=saved_at,
            timings=timings,
            pending=None,
            pending_paths=frozenset(),
            pending_saved_at=None,
        )
        if action is Action.REBUILD:
            if len(self.state.building()) >= self.state.max_parallel_builds:
                self.put(name, replace(service, phase=Phase.QUEUED, phase_started_at=self.now))
                self.state = replace(self.state, queue=(*self.state.queue, name))
                self.report(ev.BuildQueued(name, tuple(self.state.building())))
                return
            self.enter(name, service, Phase.BUILDING)
            self.emit(StartBuild(name, service.generation))
            self.report(ev.BuildStarted(name, tuple(sorted(str(p) for p in paths))))
        elif action is Action.RECREATE:
            self.enter(name, service, Phase.SWAPPING)
            self.emit(Swap(name, service.generation, None))
        else:
            restart = action in (Action.RESTART, Action.SYNC_RESTART)
            self.enter(name, service, Phase.SYNCING)
            sync_paths = frozenset() if action is Action.RESTART else paths
            self.emit(SyncFiles(name, service.generation, sync_paths, restart))

    def on_built(self, event: BuildSucceeded) -> None:
        started = self.get(event.service).phase_started_at
        self.enter(event.service, self.get(event.service), Phase.SWAPPING, event.steps)
        self.report(ev.BuildFinished(event.service, self.now - started))
        self.emit(Swap(event.service, event.generation, event.image))
        self.start_queued()

    def on_swapped(self, event: Swapped) -> None:
        service = self.enter(event.service, self.get(event.service), Phase.CHECKING, event.steps)
        self.emit(CheckHealth(event.service, service.generation))

    def on_synced(self, event: Synced) -> None:
        if event.restarted:
            service = self.enter(event.service, self.get(event.service), Phase.CHECKING)
            self.emit(CheckHealth(event.service, service.generation))
        else:
            self.on_live(event.service)

    def on_healthy(self, event: Healthy) -> None:
        self.emit(Commit(event.service, event.generation))
        self.on_live(event.service)

    def on_live(self, name: str) -> None:
        service = self.enter(name, self.get(name), Phase.IDLE)
        since_save = self.now - service.saved_at if service.saved_at is not None else None
        self.finish(name, ev.Live(name, since_save, service.timings))

    def finish(self, name: str, outcome: ev.Event) -> None:
        """End the round (whatever its outcome), then start what arrived meanwhile."""
        was_building = self.get(name).phase is Phase.BUILDING
        service = self.enter(name, self.get(name), Phase.IDLE)
        self.report(outcome)
        self.put(name, replace(service, timings=(), action=None, paths=frozenset(), saved_at=None))
        if service.pending is not None and service.pending_saved_at is not None:
            self.begin(name, service.pending, service.pending_paths, service.pending_saved_at)
        if was_building:
            self.start_queued()

    def start_queued(self) -> None:
        while self.state.queue and len(self.state.building()) < self.state.max_parallel_builds:
            name, *rest = self.state.queue
            self.state = replace(self.state, queue=tuple(rest))
            service = self.get(name)
            self.enter(name, replace(service, phase=Phase.IDLE), Phase.BUILDING)
            self.emit(StartBuild(name, service.generation))
            self.report(ev.BuildStarted(name, tuple(sorted(str(p) for p in service.paths))))


def _earliest(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def _without(queue: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(n for n in queue if n != name)
