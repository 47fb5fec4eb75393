"""What composewatch tells the user: one small frozen type per event, past tense."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BuildFailed",
    "BuildFinished",
    "BuildLog",
    "BuildQueued",
    "BuildStarted",
    "BuildSuperseded",
    "BuildUnchanged",
    "CheckStarted",
    "CommandFinished",
    "CommitFailed",
    "EngineLost",
    "EngineReturned",
    "Event",
    "Held",
    "ImageCaughtUp",
    "Live",
    "Note",
    "ProbeFailed",
    "ProbeRecovered",
    "RollbackFailed",
    "RolledBack",
    "ServiceStarted",
    "SwapFailed",
    "SyncFailed",
    "Unhealthy",
    "UpdateStarted",
    "Watching",
]


@dataclass(frozen=True)
class BuildStarted:
    """A build began: for a save (`why` says why it could not update in place), or in the
    `background` after an in-place update, so that the image catches up with the container."""

    service: str
    paths: tuple[str, ...]
    why: str = ""
    background: bool = False


@dataclass(frozen=True)
class UpdateStarted:
    """The saved files are being copied into the running container, which then restarts in
    place: no build, no new container on the way to served (`why` names the Dockerfile line)."""

    service: str
    paths: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class ImageCaughtUp:
    """The image built in the background after an in-place update now holds the same code as
    the container (which was not restarted for it)."""

    service: str
    seconds: float


@dataclass(frozen=True)
class BuildQueued:
    service: str
    waiting_for: tuple[str, ...]  # the services holding the build slots


@dataclass(frozen=True)
class Held:
    """The service waits before it starts (`up`): `reason` says for what (a dependency's
    condition, the engine's return)."""

    service: str
    reason: str


@dataclass(frozen=True)
class BuildLog:
    service: str
    line: str


@dataclass(frozen=True)
class BuildFinished:
    service: str
    seconds: float


@dataclass(frozen=True)
class BuildSuperseded:
    service: str


@dataclass(frozen=True)
class BuildUnchanged:
    service: str


@dataclass(frozen=True)
class BuildFailed:
    service: str
    message: str
    log_tail: tuple[str, ...]


@dataclass(frozen=True)
class SwapFailed:
    service: str
    message: str


@dataclass(frozen=True)
class SyncFailed:
    service: str
    message: str


@dataclass(frozen=True)
class RolledBack:
    """The new container was removed and the old one serves again. `reason` says why (exit
    code, failed probe, health status); `log_tail` is the failed container's last lines."""

    service: str
    reason: str
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class RollbackFailed:
    """Restoring the old container failed; it is tried again at the next save or on exit."""

    service: str
    message: str


@dataclass(frozen=True)
class CommitFailed:
    """The healthy new container serves, but removing the old one or renaming the new one
    failed; it is tried again at the next save or on exit."""

    service: str
    message: str


@dataclass(frozen=True)
class EngineLost:
    message: str


@dataclass(frozen=True)
class EngineReturned:
    down_s: float


@dataclass(frozen=True)
class CheckStarted:
    """The new container runs; its health is being checked."""

    service: str


@dataclass(frozen=True)
class ProbeFailed:
    """The health probe has kept failing: `attempts` over `seconds` since the check began,
    the last one for `reason`. Said once the failures last a moment, then again about every
    second while they go on (`first`: the first time in this check)."""

    service: str
    attempts: int
    seconds: float
    reason: str
    first: bool


@dataclass(frozen=True)
class ProbeRecovered:
    """The health probe passed after failures were said (ProbeFailed)."""

    service: str
    attempts: int
    seconds: float


@dataclass(frozen=True)
class Unhealthy:
    service: str
    reason: str
    log_tail: tuple[str, ...] = ()  # the container's last log lines (as a rollback shows)


@dataclass(frozen=True)
class Live:
    """The new code answers. `since_save_s` runs from the save to the first healthy answer."""

    service: str
    since_save_s: float | None
    timings: tuple[tuple[str, float], ...]
    how: str = ""  # the way the save took: in place, rebuild, recreate, sync, restart


@dataclass(frozen=True)
class ServiceStarted:
    service: str
    container: str  # replica 1's
    adopted: bool
    seconds: float
    replicas: int = 1


@dataclass(frozen=True)
class Watching:
    roots: tuple[str, ...]
    services: tuple[str, ...]


@dataclass(frozen=True)
class CommandFinished:
    """A command on save ran (x-composewatch.commands or .gaze.yml); non-zero is reported,
    never fatal."""

    service: str | None  # the service whose container ran it; None: the host
    pattern: str  # how the rule matched, as written: "ext .py"
    file: str  # the saved file, relative to the project directory
    command: str  # the command as gaze shows it, the file's values written in (never run)
    exit_code: int
    output: str
    seconds: float


@dataclass(frozen=True)
class Note:
    """A one-off hint or warning (an unsupported compose key, a stop-policy hint)."""

    message: str
    level: str = "info"  # info | warning


Event = (
    BuildStarted
    | UpdateStarted
    | ImageCaughtUp
    | BuildQueued
    | Held
    | BuildLog
    | BuildFinished
    | BuildSuperseded
    | BuildUnchanged
    | BuildFailed
    | SwapFailed
    | SyncFailed
    | RolledBack
    | RollbackFailed
    | CommitFailed
    | EngineLost
    | EngineReturned
    | CheckStarted
    | ProbeFailed
    | ProbeRecovered
    | Unhealthy
    | Live
    | ServiceStarted
    | Watching
    | CommandFinished
    | Note
)
