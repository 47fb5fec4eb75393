"""Per-service phases of the watch loop and the pure `step()` that moves them.

    idle ─Changed─▶ building ─BuildSucceeded─▶ swapping ─Swapped─▶ checking ─Healthy─▶ committing
      ▲              │ ▲ (HashContext first;        │                  │                  │
      │              │ │  an unchanged context      │                  └─Unhealthy─┐  Committed
      │              │ │  ends the round)           └─fails─▶ rolling_back ◀───────┘      │
      │              │ └─Changed (cancel, build the newest save instead)   │               │
      └──────────────┴─BuildFailed (the old container keeps serving)    RolledBack ──▶ idle ◀┘
    idle ─Changed (sync / restart rules)─▶ syncing ─Synced─▶ checking | idle

A service with replicas (`scale`, `deploy.replicas`) swaps them one at a time, each found
healthy before the next is swapped, so the others serve meanwhile; the round commits them all
together, or rolls back every replica it swapped.

What serves each service (containers, image, context digest) lives here and changes only
through `step`: `Started` (from `up`), then each committed swap. The executor is told which
container to check, commit or roll back; it keeps nothing.

Every effect the executor runs ends in a result, and an exception is a result too
(`EffectFailed`): a failed build frees its slot, a failed swap or check is rolled back, a failed
commit or rollback is kept as the service's `settle` effect and run again before the service
does anything else. When the failure says the engine went away, the round in flight goes back
to `pending`, saves made meanwhile are kept, one `WatchEngine` waits for the engine, and
`EngineReturned` settles and restarts what was interrupted.

A change that arrives while a service is busy is kept and starts the next round as soon as the
service is idle, so the last save is always what ends up served. Every piece of work carries
the service's generation; a result from an older generation is stale and dropped. Builds share
`max_parallel_builds` slots; a service that waits for one is `queued`.

`Stopping` (Ctrl-C) ends the watch as a transaction: builds are cancelled, a new container not
yet found healthy is rolled back, a commit or rollback still owed is run, so the old container
or the new one serves under compose's name, never a half-swapped pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from composewatch import events as ev
from composewatch.core.action import Action, merge_actions
from composewatch.core.inplace import Copy
from composewatch.core.sync import SyncCommand, merge_commands

__all__ = [
    "BuildFailed",
    "BuildSucceeded",
    "CancelBuild",
    "Changed",
    "CheckHealth",
    "Commit",
    "Committed",
    "ContextHashed",
    "Effect",
    "EffectFailed",
    "EngineReturned",
    "Exchange",
    "HashContext",
    "Healthy",
    "Input",
    "Phase",
    "ProjectState",
    "Report",
    "Rescaled",
    "Rollback",
    "RolledBack",
    "ServiceState",
    "Serving",
    "StartBuild",
    "Started",
    "Steps",
    "Stopping",
    "Swap",
    "SwapFailed",
    "Swapped",
    "SyncFailed",
    "SyncFiles",
    "Synced",
    "Unhealthy",
    "UpdateFailed",
    "UpdateInPlace",
    "UpdatedInPlace",
    "WatchEngine",
    "step",
]


class Phase(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    BUILDING = "building"
    SWAPPING = "swapping"
    UPDATING = "updating"
    SYNCING = "syncing"
    CHECKING = "checking"
    COMMITTING = "committing"
    ROLLING_BACK = "rolling_back"


@dataclass(frozen=True)
class Serving:
    """The containers that serve a service under compose's names, and what they run:
    `container` is replica 1, `replicas` are replicas 2..N (`scale`, `deploy.replicas`)."""

    container: str
    image: str
    digest: str | None = None  # the build context's digest the image was built from
    replicas: tuple[str, ...] = ()

    @property
    def containers(self) -> tuple[str, ...]:
        return (self.container, *self.replicas)


@dataclass(frozen=True)
class Exchange:
    """Replica `number` of a service: `new` replaces `old` (None: no container; for `new`,
    whatever a swap left under the replica's temporary name)."""

    number: int
    new: str | None
    old: str | None


# ── inputs: what happened ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Changed:
    """A save concerns the service. For an in-place update (`Action.UPDATE`) or a sync,
    `copies` say which container paths mirror which saved files (a sync's `commands` run
    after them); `why` names the Dockerfile line that decided the way (in place or rebuild)."""

    service: str
    action: Action
    paths: frozenset[Path]
    saved_at: float
    copies: tuple[Copy, ...] = ()
    why: str = ""
    commands: tuple[SyncCommand, ...] = ()


@dataclass(frozen=True)
class Rescaled:
    """The compose files now ask for `replicas` containers of the service (a reload): its
    next round swaps that many replicas, creating the missing ones, and its commit removes
    those above."""

    service: str
    replicas: int
    saved_at: float


@dataclass(frozen=True)
class Started:
    """`up` made `serving` the service's container."""

    service: str
    serving: Serving


Steps = tuple[tuple[str, float], ...]  # (step, seconds) inside one phase, for the breakdown


@dataclass(frozen=True)
class ContextHashed:
    service: str
    generation: int
    digest: str


@dataclass(frozen=True)
class BuildSucceeded:
    service: str
    generation: int
    image: str
    steps: Steps = ()  # e.g. (("context", s), ("build", s))


@dataclass(frozen=True)
class BuildFailed:
    service: str
    generation: int
    message: str
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Swapped:
    """The new container runs (under a temporary name); the old one is stopped, kept."""

    service: str
    generation: int
    container: str
    steps: Steps = ()  # e.g. (("create", s), ("stop", s), ("start", s))


@dataclass(frozen=True)
class SwapFailed:
    """The swap failed and was undone by the executor: the old container serves."""

    service: str
    generation: int
    message: str


@dataclass(frozen=True)
class UpdatedInPlace:
    """The saved files are in the container, which restarted in place."""

    service: str
    generation: int
    steps: Steps = ()  # (("copy", s), ("restart", s))


@dataclass(frozen=True)
class UpdateFailed:
    """The files could not be copied in (or the restart failed): the save is rebuilt."""

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
    log_tail: tuple[str, ...] = ()  # the failed container's last log lines


@dataclass(frozen=True)
class Committed:
    service: str
    generation: int


@dataclass(frozen=True)
class RolledBack:
    """The new container is gone and the old one serves again."""

    service: str
    generation: int


@dataclass(frozen=True)
class EffectFailed:
    """Carrying out `effect` raised. `engine_lost`: the engine did not answer at all."""

    effect: Effect
    message: str
    engine_lost: bool = False


@dataclass(frozen=True)
class EngineReturned:
    """The engine answers again after `down_s`; `running` are the container ids it runs."""

    down_s: float
    running: frozenset[str]


@dataclass(frozen=True)
class Stopping:
    """The user asked to stop watching."""


Result = (
    ContextHashed
    | BuildSucceeded
    | BuildFailed
    | Swapped
    | SwapFailed
    | UpdatedInPlace
    | UpdateFailed
    | Synced
    | SyncFailed
    | Healthy
    | Unhealthy
    | Committed
    | RolledBack
)
Input = Changed | Rescaled | Started | Result | EffectFailed | EngineReturned | Stopping

# ── effects: what to do ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class HashContext:
    """Digest the service's build context (what a build would send)."""

    service: str
    generation: int


@dataclass(frozen=True)
class StartBuild:
    service: str
    generation: int
    digest: str  # of the context being built, recorded with the image


@dataclass(frozen=True)
class CancelBuild:
    service: str
    generation: int


@dataclass(frozen=True)
class Swap:
    """Create replica `number`'s container of `image` beside `replaces` (under a temporary
    name), stop the old one and start the new; on any failure undo it all, so the old one
    serves."""

    service: str
    generation: int
    image: str
    replaces: str | None
    number: int = 1


@dataclass(frozen=True)
class UpdateInPlace:
    """Mirror each copy's host file at its container path in replica `number`'s `container`
    (a missing host file is deleted there), then restart that container."""

    service: str
    generation: int
    container: str
    copies: tuple[Copy, ...]
    number: int = 1


@dataclass(frozen=True)
class SyncFiles:
    """Mirror each copy's host file at its container path in each of `containers` (every
    replica; a missing host file is deleted there), run `commands`, then restart them when
    asked."""

    service: str
    generation: int
    containers: tuple[str, ...]
    copies: tuple[Copy, ...]
    commands: tuple[SyncCommand, ...]
    restart: bool


@dataclass(frozen=True)
class CheckHealth:
    service: str
    generation: int
    container: str


@dataclass(frozen=True)
class Commit:
    """Every new container is healthy: for each exchange, remove `old` and give `new` its
    replica's compose name (no `new`: a replica above the scale, removed). Idempotent, so it
    can run again after an interruption."""

    service: str
    generation: int
    exchanges: tuple[Exchange, ...]


@dataclass(frozen=True)
class Rollback:
    """For each exchange, in order: remove `new` (and whatever a swap left under the
    replica's temporary name) and make sure `old` runs again. Idempotent."""

    service: str
    generation: int
    exchanges: tuple[Exchange, ...]


@dataclass(frozen=True)
class WatchEngine:
    """Wait, with backoff, until the engine answers again."""


@dataclass(frozen=True)
class Report:
    event: ev.Event


Effect = (
    HashContext
    | StartBuild
    | CancelBuild
    | Swap
    | UpdateInPlace
    | SyncFiles
    | CheckHealth
    | Commit
    | Rollback
    | WatchEngine
    | Report
)

# ── state ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ServiceState:
    phase: Phase = Phase.IDLE
    generation: int = 0
    serving: Serving | None = None
    settle: Commit | Rollback | None = None  # owed before anything else (it failed last time)
    action: Action | None = None  # what the current round does
    paths: frozenset[Path] = frozenset()  # the changes the current round carries
    saved_at: float | None = None  # the oldest save the current round will make live
    digest: str | None = None  # the current round's build context digest
    image: str | None = None  # the current round's new image
    candidate: str | None = None  # the new container being checked
    exchanged: tuple[Exchange, ...] = ()  # replicas swapped and found healthy this round
    outcome: ev.Event | None = None  # reported when the current rollback is done
    copies: tuple[Copy, ...] = ()  # the current in-place or sync round's files
    commands: tuple[SyncCommand, ...] = ()  # the current sync round's commands
    why: str = ""  # why the current round takes its way (in place or rebuild)
    updated: int = 0  # replicas updated in place and found healthy this round
    restoring: bool = False  # the round puts back the image that served (in place failed)
    background: bool = False  # the round is the image's catch-up build after an update
    # The serving containers hold in-place updates their image lacks (until it catches up).
    behind: bool = False
    pending: Action | None = None  # a change that arrived while busy
    pending_paths: frozenset[Path] = frozenset()
    pending_saved_at: float | None = None
    pending_copies: tuple[Copy, ...] = ()
    pending_commands: tuple[SyncCommand, ...] = ()
    pending_why: str = ""
    pending_noticed_at: float | None = None  # when the oldest pending save reached the core
    phase_started_at: float = 0.0
    timings: tuple[tuple[str, float], ...] = ()  # (phase, seconds) of the current round

    @property
    def number(self) -> int:
        """The replica the round swaps now (1..N, one at a time): the one after those found
        healthy."""
        return len(self.exchanged) + 1


@dataclass(frozen=True)
class ProjectState:
    max_parallel_builds: int = 2
    services: dict[str, ServiceState] = field(default_factory=dict)
    queue: tuple[str, ...] = ()  # services waiting for a build slot, oldest first
    engine_lost: bool = False
    stopping: bool = False
    # What a new container of a service asks of others (compose's rules, core.deps): its
    # `depends_on: {restart: true}` dependents restart, its `service:` sharers are recreated.
    dependents: dict[str, tuple[tuple[str, Action], ...]] = field(default_factory=dict)
    # Replicas wanted per service, once a reload changed the scale (else: as many as serve).
    replicas: dict[str, int] = field(default_factory=dict)

    def service(self, name: str) -> ServiceState:
        return self.services.get(name, _IDLE)

    def building(self) -> list[str]:
        return [n for n, s in self.services.items() if s.phase is Phase.BUILDING]

    def busy(self) -> list[str]:
        """Services with work in flight (for `Stopping`: what must still end)."""
        return [n for n, s in self.services.items() if s.phase is not Phase.IDLE]


_IDLE = ServiceState()
_ROUND_RESET: dict[str, object] = {
    "action": None,
    "paths": frozenset(),
    "saved_at": None,
    "digest": None,
    "image": None,
    "candidate": None,
    "exchanged": (),
    "outcome": None,
    "timings": (),
    "copies": (),
    "commands": (),
    "why": "",
    "updated": 0,
    "restoring": False,
    "background": False,
}


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
        elif service.phase not in (Phase.IDLE, Phase.QUEUED):
            timings = (*timings, (_phase_name(service), self.now - service.phase_started_at))
        return self.update(name, phase=phase, phase_started_at=self.now, timings=timings)

    def current(self, service: str, generation: int, *phases: Phase) -> bool:
        state = self.get(service)
        return state.generation == generation and state.phase in phases

    # dispatch ───────────────────────────────────────────────────────────────────────────

    def handle(self, event: Input) -> None:
        match event:
            case Changed():
                self.on_changed(event)
            case Started(service, serving):
                self.update(service, serving=serving)
            case Rescaled():
                self.on_rescaled(event)
            case ContextHashed() if self.current(event.service, event.generation, Phase.BUILDING):
                self.on_hashed(event)
            case BuildSucceeded() if self.current(event.service, event.generation, Phase.BUILDING):
                self.on_built(event)
            case BuildFailed() if self.current(event.service, event.generation, Phase.BUILDING):
                message = event.message
                if self.get(event.service).background:
                    message = f"the image could not catch up with the container: {message}"
                failed = ev.BuildFailed(event.service, message, event.log_tail)
                self.finish(event.service, failed)
            case Swapped() if self.current(event.service, event.generation, Phase.SWAPPING):
                self.on_swapped(event)
            case SwapFailed() if self.current(event.service, event.generation, Phase.SWAPPING):
                self.finish(event.service, ev.SwapFailed(event.service, event.message))
            case UpdatedInPlace() if self.current(event.service, event.generation, Phase.UPDATING):
                self.on_updated(event)
            case UpdateFailed() if self.current(event.service, event.generation, Phase.UPDATING):
                self.update_failed(event.service, event.message)
            case Synced() if self.current(event.service, event.generation, Phase.SYNCING):
                self.on_synced(event)
            case SyncFailed() if self.current(event.service, event.generation, Phase.SYNCING):
                self.finish(event.service, ev.SyncFailed(event.service, event.message))
            case Healthy() if self.current(event.service, event.generation, Phase.CHECKING):
                self.on_healthy(event)
            case Unhealthy() if self.current(event.service, event.generation, Phase.CHECKING):
                self.roll_back(
                    event.service, ev.RolledBack(event.service, event.reason, event.log_tail)
                )
            case Committed() if self.current(event.service, event.generation, Phase.COMMITTING):
                done = self.get(event.service)
                self.update(event.service, settle=None)
                self.finish(event.service, done.outcome)  # a restore reports why
                self.follow_dependents(event.service, done.saved_at)
            case RolledBack() if self.current(event.service, event.generation, Phase.ROLLING_BACK):
                self.update(event.service, settle=None)
                self.finish(event.service, self.get(event.service).outcome)
            case EffectFailed():
                self.on_effect_failed(event)
            case EngineReturned():
                self.on_engine_returned(event)
            case Stopping():
                self.on_stopping()
            case _:
                pass  # a stale result of superseded work

    # transitions ────────────────────────────────────────────────────────────────────────

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
                self.state = replace(self.state, queue=_without(self.state.queue, name))
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
                saved_at = _earliest(service.saved_at, change.saved_at)
                self.update(name, phase=Phase.IDLE)
                self.state = replace(self.state, queue=_without(self.state.queue, name))
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
            pending_copies=_merge_copies(service.pending_copies, copies),
            pending_commands=merge_commands(service.pending_commands, commands),
            pending_paths=service.pending_paths | paths,
            pending_saved_at=(
                _earliest(service.pending_saved_at, saved_at)
                if saved_at is not None
                else service.pending_saved_at
            ),
            pending_noticed_at=_earliest(
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
            timings = _opening_timings(saved_at, noticed_at, self.now)
        action, why = self.way(name, action, why)
        service = self.update(
            name,
            **{
                **_ROUND_RESET,
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
            self.report(ev.UpdateStarted(name, _shown(paths), why))
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
        self.emit(HashContext(name, service.generation))
        started = ev.BuildStarted(name, _shown(service.paths), service.why, service.background)
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

    def on_swapped(self, event: Swapped) -> None:
        service = self.enter(event.service, Phase.CHECKING, event.steps)
        self.update(event.service, candidate=event.container)
        if self.state.stopping:  # never checked: the old container serves again
            self.roll_back(event.service, None)
            return
        self.emit(CheckHealth(event.service, service.generation, event.container))
        self.report(ev.CheckStarted(event.service))

    def update_replica(self, name: str) -> None:
        """Update the round's next replica in place (the others serve meanwhile)."""
        service = self.get(name)
        assert service.serving is not None
        container = service.serving.containers[service.updated]
        number = service.updated + 1
        self.emit(UpdateInPlace(name, service.generation, container, service.copies, number))

    def on_updated(self, event: UpdatedInPlace) -> None:
        service = self.enter(event.service, Phase.CHECKING, event.steps)
        assert service.serving is not None
        if self.state.stopping or service.pending is not None:
            # Stopping: it restarted with the saved code, leave it so. A newer save waits:
            # checking code that is already stale would only delay it (its round checks).
            self.update(event.service, behind=True)
            self.finish(event.service, None)
            return
        container = service.serving.containers[service.updated]
        self.emit(CheckHealth(event.service, service.generation, container))
        self.report(ev.CheckStarted(event.service))

    def update_failed(self, name: str, message: str) -> None:
        """The files could not go in place: build and swap instead, for the same save."""
        service = self.get(name)
        assert service.saved_at is not None
        self.update(name, phase=Phase.IDLE)
        why = f"rebuild: the in-place update failed ({message})"
        self.begin(name, Action.REBUILD, service.paths, service.saved_at, service.timings, (), why)

    def updated_healthy(self, name: str) -> None:
        """One more replica serves the saved code: the next one, or the round is live and the
        image catches up in the background."""
        service = self.update(name, updated=self.get(name).updated + 1, behind=True)
        assert service.serving is not None
        if service.updated < len(service.serving.containers):
            self.enter(name, Phase.UPDATING)
            self.update_replica(name)
            return
        self.report_live(name)
        saved_at = service.saved_at
        self.finish(name, None)
        self.follow_dependents(name, saved_at)
        if self.get(name).phase is Phase.IDLE and not self.state.stopping:
            self.catch_up(name, service.paths)

    def catch_up(self, name: str, paths: frozenset[Path]) -> None:
        """Build the image the container now matches, off the critical path: a newer save
        cancels it; its result changes the image, never the container."""
        self.update(
            name,
            generation=self.get(name).generation + 1,
            action=Action.REBUILD,
            paths=paths,
            background=True,
            why="the image catches up with the container",
        )
        self.build_or_queue(name)

    def restore(self, name: str, outcome: ev.Event) -> None:
        """An in-place update did not come up healthy: put back containers of the image that
        served before the save (the code that served), then report why."""
        service = self.get(name)
        assert service.serving is not None
        self.update(
            name,
            action=Action.RECREATE,
            image=service.serving.image,
            restoring=True,
            outcome=outcome,
            updated=0,
            exchanged=(),
            candidate=None,
        )
        self.enter(name, Phase.SWAPPING)
        self.swap_replica(name)

    def on_synced(self, event: Synced) -> None:
        service = self.get(event.service)
        if event.restarted and service.serving is not None:
            self.enter(event.service, Phase.CHECKING)
            self.emit(CheckHealth(event.service, event.generation, service.serving.container))
            self.report(ev.CheckStarted(event.service))
        else:
            self.on_live(event.service)

    def swap_replica(self, name: str) -> None:
        """Swap the round's next replica (the others serve meanwhile) with its image."""
        service = self.get(name)
        assert service.image is not None
        swap = Swap(name, service.generation, service.image, self.replaced(name), service.number)
        self.emit(swap)

    def wanted(self, name: str) -> int:
        """How many replicas the service's round swaps."""
        serving = self.get(name).serving
        return self.state.replicas.get(name, len(serving.containers) if serving else 1)

    def replaced(self, name: str) -> str | None:
        """The container the replica being swapped replaces (None: it had none)."""
        service = self.get(name)
        serving = service.serving.containers if service.serving is not None else ()
        return serving[service.number - 1] if service.number <= len(serving) else None

    def on_healthy(self, event: Healthy) -> None:
        name, service = event.service, self.get(event.service)
        if service.action is Action.UPDATE:
            self.updated_healthy(name)
            return
        if service.candidate is None:  # a restarted container after a sync: nothing to commit
            self.on_live(name)
            return
        old = service.serving
        exchanged = (
            *service.exchanged,
            Exchange(service.number, service.candidate, self.replaced(name)),
        )
        self.update(name, exchanged=exchanged, candidate=None)
        if len(exchanged) < self.wanted(name):
            # One replica at a time: the next one is swapped once this one is found healthy.
            self.enter(name, Phase.SWAPPING)
            self.swap_replica(name)
            return
        image = service.image or (old.image if old is not None else "")
        above = old.containers[len(exchanged) :] if old is not None else ()
        removed = tuple(Exchange(n, None, c) for n, c in enumerate(above, len(exchanged) + 1))
        commit = Commit(name, event.generation, (*exchanged, *removed))
        new = tuple(e.new for e in exchanged if e.new is not None)
        self.update(
            name,
            serving=Serving(new[0], image, service.digest or _digest(old, image), new[1:]),
            settle=commit,  # owed until Committed
            behind=False,
        )
        if not service.restoring:
            self.report_live(name)
        self.enter(name, Phase.COMMITTING)
        self.emit(commit)

    def undo(self, name: str) -> Rollback:
        """Undo the round's swaps: the replica in flight first, then those already found
        healthy, latest first, so the others serve while each one is put back."""
        service = self.get(name)
        current = Exchange(service.number, service.candidate, self.replaced(name))
        return Rollback(name, service.generation, (current, *reversed(service.exchanged)))

    def roll_back(self, name: str, outcome: ev.Event | None) -> None:
        service = self.get(name)
        if service.action is Action.UPDATE and not self.state.stopping and outcome is not None:
            self.restore(name, outcome)
            return
        if service.action is Action.UPDATE:  # stopping: the updated container stays as it is
            self.update(name, behind=True)
            self.finish(name, outcome)
            return
        rollback = self.undo(name)
        self.update(name, outcome=outcome, settle=rollback)
        self.enter(name, Phase.ROLLING_BACK)
        self.emit(rollback)

    def report_live(self, name: str) -> None:
        service = self.enter(name, self.get(name).phase)  # close the current phase's clock
        since_save = self.now - service.saved_at if service.saved_at is not None else None
        how = _HOW.get(service.action, "") if service.action is not None else ""
        self.report(ev.Live(name, since_save, _totals(service.timings), how))

    def on_live(self, name: str) -> None:
        self.report_live(name)
        self.finish(name, None)

    def follow_dependents(self, name: str, saved_at: float | None) -> None:
        """A new container now serves `name`: its dependents restart or are recreated, as
        `docker compose up` does (each one as if it had changed)."""
        for dependent, action in self.state.dependents.get(name, ()):
            if dependent in self.state.services:  # only the services this session runs
                change = Changed(dependent, action, frozenset(), saved_at or 0.0)
                self.on_changed(change, noticed_at=saved_at)  # it waited for `name`'s round

    def finish(self, name: str, outcome: ev.Event | None) -> None:
        """End the round (whatever its outcome), then start what arrived meanwhile."""
        was_building = self.get(name).phase is Phase.BUILDING
        self.enter(name, Phase.IDLE)
        if outcome is not None:
            self.report(outcome)
        service = self.update(name, **_ROUND_RESET)
        # A commit or rollback still owed (it failed) waits for the next save, the engine's
        # return or the stop, never retried in a loop here.
        if (
            service.pending is not None
            and service.pending_saved_at is not None
            and service.settle is None
            and not self.state.engine_lost
            and not self.state.stopping
        ):
            self.begin_pending(name)
        if was_building:
            self.start_queued()

    def run_settle(self, name: str) -> None:
        """Run again the commit or rollback that failed, before anything else."""
        service = self.get(name)
        assert service.settle is not None
        phase = Phase.COMMITTING if isinstance(service.settle, Commit) else Phase.ROLLING_BACK
        settle = replace(service.settle, generation=service.generation)
        self.update(name, settle=settle)
        self.enter(name, phase)
        self.emit(settle)

    def start_queued(self) -> None:
        while self.state.queue and len(self.state.building()) < self.state.max_parallel_builds:
            name, *rest = self.state.queue
            self.state = replace(self.state, queue=tuple(rest))
            self.update(name, phase=Phase.IDLE)
            self.start_build(name)

    # failures ───────────────────────────────────────────────────────────────────────────

    def on_effect_failed(self, failure: EffectFailed) -> None:
        effect, message = failure.effect, failure.message
        if isinstance(effect, WatchEngine):
            if self.state.engine_lost and not self.state.stopping:
                self.emit(WatchEngine())  # the engine answered oddly: keep waiting for it
            return
        if isinstance(effect, Report | CancelBuild):
            return  # nothing of a service's round hangs on these
        name = effect.service
        if not self.current(name, effect.generation, *_PHASE_OF[type(effect)]):
            return  # superseded work failed: nothing waits for it
        if failure.engine_lost and not self.state.stopping:
            self.on_engine_lost(name, effect, message)
            return
        match effect:
            case HashContext() | StartBuild():
                self.finish(name, ev.BuildFailed(name, message, ()))
            case Swap():
                # The executor could not undo the swap itself: make sure the old one serves.
                self.roll_back(name, ev.SwapFailed(name, message))
            case UpdateInPlace():
                self.update_failed(name, message)
            case SyncFiles():
                self.finish(name, ev.SyncFailed(name, message))
            case CheckHealth():
                reason = f"the health check failed: {message}"
                self.roll_back(name, ev.RolledBack(name, reason, ()))
            case Commit() | Rollback():
                # Kept as `settle`: run again at the next save, on return or when stopping.
                event = ev.CommitFailed if isinstance(effect, Commit) else ev.RollbackFailed
                self.finish(name, event(name, message))

    def on_engine_lost(self, name: str, effect: Effect, message: str) -> None:
        service = self.get(name)
        if service.action is not None and service.saved_at is not None and not service.background:
            # The interrupted round runs again once the engine is back; its save was noticed
            # when it was (the outage is waiting, not detecting).
            detect_s = dict(service.timings).get("detect", 0.0)
            noticed = service.saved_at + detect_s
            self.keep_pending(
                name,
                service.action,
                service.paths,
                service.saved_at,
                service.copies,
                service.why,
                noticed,
                service.commands,
            )
        if isinstance(effect, Swap | CheckHealth):
            self.update(name, settle=self.undo(name))
        was_building = service.phase is Phase.BUILDING
        self.enter(name, Phase.IDLE)
        self.update(name, **_ROUND_RESET)
        if not self.state.engine_lost:
            self.state = replace(self.state, engine_lost=True)
            self.report(ev.EngineLost(message))
            self.emit(WatchEngine())
        if was_building:
            self.start_queued()

    def on_engine_returned(self, event: EngineReturned) -> None:
        if not self.state.engine_lost:
            return
        self.state = replace(self.state, engine_lost=False)
        self.report(ev.EngineReturned(event.down_s))
        for name in sorted(self.state.services):
            service = self.get(name)
            if service.phase is not Phase.IDLE:
                continue
            serving = service.serving.containers if service.serving is not None else ()
            gone = [(n, c) for n, c in enumerate(serving, 1) if c not in event.running]
            if service.settle is None and gone:
                # Reconcile: the engine came back without our containers running.
                exchanges = tuple(Exchange(n, None, c) for n, c in gone)
                service = self.update(name, settle=Rollback(name, service.generation, exchanges))
            if service.settle is not None:
                self.run_settle(name)
            elif service.pending is not None and service.pending_saved_at is not None:
                self.begin_pending(name)

    def on_stopping(self) -> None:
        self.state = replace(self.state, stopping=True, queue=())
        for name in sorted(self.state.services):
            service = self.get(name)
            match service.phase:
                case Phase.BUILDING:
                    self.emit(CancelBuild(name, service.generation))
                    self.finish(name, None)
                case Phase.QUEUED:
                    self.finish(name, None)
                case Phase.CHECKING if service.candidate is not None:
                    self.roll_back(name, None)
                case Phase.IDLE if service.settle is not None and not self.state.engine_lost:
                    self.run_settle(name)
                case _:
                    pass  # swapping, syncing, committing, rolling back: their result settles it


_PHASE_OF: dict[type, tuple[Phase, ...]] = {
    HashContext: (Phase.BUILDING,),
    StartBuild: (Phase.BUILDING,),
    Swap: (Phase.SWAPPING,),
    UpdateInPlace: (Phase.UPDATING,),
    SyncFiles: (Phase.SYNCING,),
    CheckHealth: (Phase.CHECKING,),
    Commit: (Phase.COMMITTING,),
    Rollback: (Phase.ROLLING_BACK,),
}


def _opening_timings(
    saved_at: float, noticed_at: float | None, now: float
) -> tuple[tuple[str, float], ...]:
    """A new round starts with noticing the save (the watcher's event and quiet period), then
    whatever it waited for (the round before, the engine's return)."""
    noticed = now if noticed_at is None else max(saved_at, noticed_at)
    timings: tuple[tuple[str, float], ...] = (("detect", max(0.0, noticed - saved_at)),)
    if now > noticed:
        timings = (*timings, ("waiting", now - noticed))
    return timings


_HOW = {
    Action.SYNC: "sync",
    Action.RESTART: "restart",
    Action.SYNC_RESTART: "sync+restart",
    Action.UPDATE: "in place",
    Action.RECREATE: "recreate",
    Action.REBUILD: "rebuild",
}


def _shown(paths: frozenset[Path]) -> tuple[str, ...]:
    return tuple(sorted(str(p) for p in paths))


def _merge_copies(a: tuple[Copy, ...], b: tuple[Copy, ...]) -> tuple[Copy, ...]:
    """Both rounds' files, one copy per container path (the later save's wins)."""
    merged = {copy.dest: copy for copy in (*a, *b)}
    return tuple(merged.values())


_SYNC_STEPS = {Action.SYNC: "sync", Action.RESTART: "restart", Action.SYNC_RESTART: "sync+restart"}


def _phase_name(service: ServiceState) -> str:
    """A phase's name in a round's timings: a sync round says what it did."""
    if service.phase is Phase.SYNCING and service.action is not None:
        return _SYNC_STEPS.get(service.action, "sync")
    return service.phase.value


def _digest(serving: Serving | None, image: str) -> str | None:
    """A recreate keeps the image, so it keeps the digest it was built from."""
    return serving.digest if serving is not None and serving.image == image else None


def _totals(timings: tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    """One entry per step, in first-seen order: replicas repeat create/stop/start/checking,
    and a superseded build repeats building."""
    totals: dict[str, float] = {}
    for step_name, seconds in timings:
        totals[step_name] = totals.get(step_name, 0.0) + seconds
    return tuple(totals.items())


def _earliest(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def _without(queue: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(n for n in queue if n != name)
