"""What a check found (`ProbeResult`, the engine's `ContainerStatus`) and what its attempts
tell the user (`ProbeProgress`), pure and light: the state machine says a dependency's wait
with these without loading the probe's planning (the compose model, the settings)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from composewatch import events as ev

__all__ = ["REPEAT_S", "STALLED_S", "ContainerStatus", "ProbeProgress", "ProbeResult"]


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    final: bool = False  # no point in trying again (the container exited, Docker says unhealthy)
    unreachable: bool = False  # the connection never reached the host (not refused: unanswered)


@dataclass(frozen=True)
class ContainerStatus:
    running: bool
    exit_code: int | None
    health: str | None  # Docker's HEALTHCHECK status, None when the container has none
    has_healthcheck: bool


# A check whose attempts have failed this long is shown (the live view within 2 s); a new
# container that answers sooner, as most do, says nothing.
STALLED_S = 1.5
REPEAT_S = 1.0  # then its attempt count and last reason, this often


@dataclass(frozen=True)
class ProbeProgress:
    """Pure: what one check's attempts tell the user. Nothing while the container answers
    within STALLED_S; then a `ProbeFailed` (`first`: printed as a line), again every REPEAT_S
    for the live view and JSON readers; a `ProbeRecovered` when it passes after that. A check
    that gives up says so with its verdict (`Unhealthy`, `RolledBack`), not here."""

    service: str
    started_at: float
    attempts: int = 0  # attempts that failed so far
    shown_at: float | None = None  # when the last ProbeFailed was said; None: not yet

    def after(self, result: ProbeResult, now: float) -> tuple[ProbeProgress, ev.Event | None]:
        elapsed_s = now - self.started_at
        if result.ok:
            if self.shown_at is None:
                return self, None
            return self, ev.ProbeRecovered(self.service, self.attempts, elapsed_s)
        progress = replace(self, attempts=self.attempts + 1)
        if result.final or elapsed_s < STALLED_S:
            return progress, None
        if self.shown_at is not None and now - self.shown_at < REPEAT_S:
            return progress, None
        failed = ev.ProbeFailed(
            self.service, progress.attempts, elapsed_s, result.detail, self.shown_at is None
        )
        return replace(progress, shown_at=now), failed
