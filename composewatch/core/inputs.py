"""The round's inputs: what happened (past tense), handed to `step` one at a time.

A save's round starts with `Changed`; `up`'s with `UpRequested` (what `choose_image` chose
and what the engine showed, per service: `plan_up` then decides inside the core). Every
effect ends in one of the results below, or in `EffectFailed`.

These are what the executor observed; what the user is told is `composewatch.events`, and no
name is both (`tests/unit/test_twins.py`): a failed build comes in as `BuildErrored` and goes
out as `ev.BuildFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from composewatch.core.action import Action
from composewatch.core.effects import Effect, Serving, Steps
from composewatch.core.images import ImageChoice
from composewatch.core.inplace import Copy
from composewatch.core.plan import Observed
from composewatch.core.progress import ContainerStatus
from composewatch.core.sync import SyncCommand

__all__ = [
    "BuildErrored",
    "BuildSucceeded",
    "Changed",
    "CheckFailed",
    "Committed",
    "ContextHashed",
    "CreatedAhead",
    "EffectFailed",
    "EngineAnswered",
    "Healthy",
    "ImageReady",
    "Input",
    "ReplicaStarted",
    "Rescaled",
    "RollbackDone",
    "Started",
    "StatusRead",
    "Stopping",
    "SwapUndone",
    "Swapped",
    "SyncErrored",
    "Synced",
    "UpAsked",
    "UpRequest",
    "UpRequested",
    "UpdateFailed",
    "UpdatedInPlace",
]


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
    """`watch` (attach) made `serving` the service's containers, as they run."""

    service: str
    serving: Serving


@dataclass(frozen=True)
class UpRequest:
    """What `up` observed of one service, and what `choose_image` chose for it."""

    service: str
    choice: ImageChoice
    observed: tuple[Observed, ...]
    config_hash: str
    replicas: int
    tag: str  # the image name (pulled for a service without a build section)
    digest: str | None = None  # the context's digest (a build or a reuse)
    fallback: str | None = None  # the image a running container uses: kept if the build fails
    needs: tuple[tuple[str, str], ...] = ()  # depends_on among those brought up: (dep, condition)
    completes: bool = False  # a one-shot job: someone waits for it to complete
    optional: tuple[str, ...] = ()  # those of `needs` marked `required: false`
    # Its container names another's (`network_mode: service:x`, `volumes_from`, `links`):
    # it cannot be created before that one runs.
    names_others: bool = False


@dataclass(frozen=True)
class UpAsked:
    """`up` brings these services up: they are observed first (`ObserveUp`); a dependent
    waits at most `timeout_s` for its dependency's condition."""

    services: tuple[str, ...]
    timeout_s: float = 300.0


@dataclass(frozen=True)
class UpRequested:
    """What `up` observed of the services it brings up (in start order)."""

    requests: tuple[UpRequest, ...]


@dataclass(frozen=True)
class ImageReady:
    service: str
    generation: int
    image: str


@dataclass(frozen=True)
class ReplicaStarted:
    """Replica `number`'s container runs (None: none could be made, `message` says why)."""

    service: str
    generation: int
    number: int
    container: str | None
    message: str = ""


@dataclass(frozen=True)
class CreatedAhead:
    """Replica `number`'s container, created ahead, not started (None: it could not be;
    its start then creates it as usual)."""

    service: str
    generation: int
    number: int
    container: str | None


@dataclass(frozen=True)
class StatusRead:
    """A dependency's container, as the engine reports it now."""

    service: str
    status: ContainerStatus


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
class BuildErrored:
    """The build gave no image: `message` says why (the failed step), `log_tail` its last
    lines. The old container keeps serving; the core tells the user `ev.BuildFailed`."""

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
class SwapUndone:
    """The swap failed and the executor undid it: the old container serves (the core tells
    the user `ev.SwapFailed`)."""

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
class SyncErrored:
    """`SyncFiles` failed (a copy, a deletion, a command or the restart): `ev.SyncFailed`."""

    service: str
    generation: int
    message: str


@dataclass(frozen=True)
class Healthy:
    service: str
    generation: int
    number: int = 1


@dataclass(frozen=True)
class CheckFailed:
    """`CheckHealth` gave up on replica `number`: `reason` says why (exit code, failed probe,
    health status). After a save the core rolls back and says `ev.RolledBack`; at `up` it says
    `ev.Unhealthy` (a one-shot job's exit 0 there is its end, not a failure)."""

    service: str
    generation: int
    reason: str
    log_tail: tuple[str, ...] = ()  # the failed container's last log lines
    number: int = 1
    exit_code: int | None = None  # the container exited meanwhile, with this code


@dataclass(frozen=True)
class Committed:
    service: str
    generation: int


@dataclass(frozen=True)
class RollbackDone:
    """`Rollback` is done: the new container is gone and the old one serves again."""

    service: str
    generation: int


@dataclass(frozen=True)
class EffectFailed:
    """Carrying out `effect` raised. `engine_lost`: the engine did not answer at all."""

    effect: Effect
    message: str
    engine_lost: bool = False


@dataclass(frozen=True)
class EngineAnswered:
    """`WatchEngine`'s end: the engine answers again after `down_s`; `running` are the
    container ids it runs."""

    down_s: float
    running: frozenset[str]


@dataclass(frozen=True)
class Stopping:
    """The user asked to stop watching."""


Result = (
    ContextHashed
    | BuildSucceeded
    | BuildErrored
    | ImageReady
    | Swapped
    | SwapUndone
    | ReplicaStarted
    | CreatedAhead
    | UpdatedInPlace
    | UpdateFailed
    | Synced
    | SyncErrored
    | Healthy
    | CheckFailed
    | Committed
    | RollbackDone
    | StatusRead
)
Input = (
    Changed
    | Rescaled
    | Started
    | UpAsked
    | UpRequested
    | Result
    | EffectFailed
    | EngineAnswered
    | Stopping
)
