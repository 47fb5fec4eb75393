"""The core's state: each service's phase and round, the project's build queue, and what
`up` knows of the services it brings up. Frozen: only `step` makes a new one."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import Commit, Exchange, Rollback, Serving
from composewatch.core.inplace import Copy
from composewatch.core.inputs import UpRequest
from composewatch.core.plan import ServicePlan
from composewatch.core.progress import ProbeProgress
from composewatch.core.startup import Fact
from composewatch.core.sync import SyncCommand

__all__ = ["ROUND_RESET", "Phase", "ProjectState", "ServiceState", "UpStart"]


class Phase(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    BUILDING = "building"
    PULLING = "pulling"  # up: the image the service names
    HELD = "held"  # up: its image is ready, it waits for the admission (depends_on)
    STARTING = "starting"  # up: replicas started (not replaced) and checked
    SWAPPING = "swapping"
    UPDATING = "updating"
    SYNCING = "syncing"
    CHECKING = "checking"
    COMMITTING = "committing"
    ROLLING_BACK = "rolling_back"


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
    numbers: tuple[int, ...] = ()  # the replicas the round swaps (none: 1..N, all of them)
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
        """The replica the round swaps now (one at a time): the one after those found
        healthy."""
        done = len(self.exchanged)
        return self.numbers[done] if done < len(self.numbers) else done + 1


@dataclass(frozen=True)
class UpStart:
    """A service `up` brings up, until its round ends: its request, the image, `plan_up`'s
    plans, and its replicas started where nothing is replaced (number -> container) and
    their verdicts (number -> healthy)."""

    request: UpRequest
    image: str | None = None
    digest: str | None = None
    plans: tuple[ServicePlan, ...] = ()
    began_at: float = 0.0  # when its containers began to start
    made: dict[int, str | None] = field(default_factory=dict)
    verdicts: dict[int, bool] = field(default_factory=dict)
    held: str = ""  # why it waits, as last said
    replacing: bool = False  # its replicas that replace a container are being swapped
    # Containers created before it may start (number -> container), and those being created
    ahead: dict[int, str] = field(default_factory=dict)
    creating: frozenset[int] = frozenset()
    asked_ahead: bool = False  # its containers were asked for ahead (once per round)
    admitted: bool = False  # may start: it does once the containers created ahead are


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
    # up: the services being brought up, in start order, and what is known of each
    starting: dict[str, UpStart] = field(default_factory=dict)
    facts: dict[str, Fact] = field(default_factory=dict)  # for depends_on (core.startup)
    waits: dict[str, ProbeProgress] = field(default_factory=dict)  # dependencies waited on
    watched: frozenset[str] = frozenset()  # dependencies with a WatchStatus in flight
    timeout_s: float = 300.0  # how long a dependent waits for its dependency's condition
    up_error: str | None = None  # why `up` cannot go on (a dependency failed, a build)
    unhealthy: frozenset[str] = frozenset()  # services `up` left unhealthy
    redo: tuple[str, ...] = ()  # up rounds a lost engine interrupted: observed again

    def service(self, name: str) -> ServiceState:
        return self.services.get(name, _IDLE)

    def building(self) -> list[str]:
        return [n for n, s in self.services.items() if s.phase is Phase.BUILDING]

    def busy(self) -> list[str]:
        """Services with work in flight (for `Stopping`: what must still end)."""
        return [n for n, s in self.services.items() if s.phase is not Phase.IDLE]

    @property
    def up_done(self) -> bool:
        """`up` has nothing left to bring up (or cannot go on)."""
        return self.up_error is not None or not (self.starting or self.redo)


_IDLE = ServiceState()
ROUND_RESET: dict[str, object] = {
    "action": None,
    "paths": frozenset(),
    "saved_at": None,
    "digest": None,
    "image": None,
    "candidate": None,
    "exchanged": (),
    "numbers": (),
    "outcome": None,
    "timings": (),
    "copies": (),
    "commands": (),
    "why": "",
    "updated": 0,
    "restoring": False,
    "background": False,
}
