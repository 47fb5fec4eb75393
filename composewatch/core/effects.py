"""The round's effects: what the core asks the executor to do (imperative), and what serves.

Each effect carries every fact the executor needs; the executor keeps nothing and decides
nothing. `up` and a save share them: a build is `StartBuild`, a replacement is `Swap`, a check
is `CheckHealth`, the end is `Commit` or `Rollback`; `up` adds `PullImage` and `StartReplica`
(where nothing is replaced) and `WatchStatus` (a dependency's condition, read from the
engine's events).
"""

from __future__ import annotations

from dataclasses import dataclass

from composewatch import events as ev
from composewatch.core.inplace import Copy
from composewatch.core.plan import Step
from composewatch.core.progress import ContainerStatus
from composewatch.core.sync import SyncCommand

__all__ = [
    "CancelBuild",
    "CheckHealth",
    "Commit",
    "CreateAhead",
    "Effect",
    "Exchange",
    "HashContext",
    "ObserveUp",
    "PullImage",
    "Report",
    "Rollback",
    "Serving",
    "StartBuild",
    "StartReplica",
    "Steps",
    "Swap",
    "SyncFiles",
    "UpdateInPlace",
    "WatchEngine",
    "WatchStatus",
]

Steps = tuple[tuple[str, float], ...]  # (step, seconds) inside one phase, for the breakdown


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
class PullImage:
    """Make sure the image the service names is on the engine (pulled when missing)."""

    service: str
    generation: int
    tag: str


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
class StartReplica:
    """`up` where nothing is replaced: remove `remove`, then for replica `number` keep the
    running `keep` (ADOPT), start the stopped `keep` (START) or create and start a container
    of `image` under its compose name (CREATE)."""

    service: str
    generation: int
    step: Step
    image: str
    keep: str | None
    number: int = 1
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateAhead:
    """`up`, before the service may start: remove `remove`, then create replica `number`'s
    container of `image` under its compose name, not started (compose creates every
    container before it starts any); its start is then all that is left (`CreatedAhead`)."""

    service: str
    generation: int
    image: str
    number: int = 1
    remove: tuple[str, ...] = ()


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
    number: int = 1


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
class WatchStatus:
    """Read `container`'s status; when it is still `known`, wait for the engine's next event
    about it (health_status, die, start) or `timeout_s`, then read it again."""

    service: str
    container: str
    known: ContainerStatus | None
    timeout_s: float


@dataclass(frozen=True)
class ObserveUp:
    """Observe the services again and plan their `up` anew (after the engine came back)."""

    services: tuple[str, ...]


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
    | PullImage
    | Swap
    | StartReplica
    | CreateAhead
    | UpdateInPlace
    | SyncFiles
    | CheckHealth
    | Commit
    | Rollback
    | WatchStatus
    | ObserveUp
    | WatchEngine
    | Report
)
