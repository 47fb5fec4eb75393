"""How long to wait for an old container to stop before it is killed (pure).

A `stop_grace_period` the user set is always honoured. Otherwise waiting only makes sense for a
process that reacts to the stop signal: a PID 1 without a SIGTERM handler never will (the
kernel drops the signal), so compose's 10 s default would be 10 s of nothing served. Whether
it does is an observation made at the edge (engine/stopsignal.py), only when the decision
needs it (`needs_signal_check`).
"""

from __future__ import annotations

from composewatch.compose.units import parse_duration

__all__ = [
    "COMPOSE_DEFAULT_STOP_S",
    "choose_stop_timeout",
    "ignores_signal_hint",
    "needs_signal_check",
]

COMPOSE_DEFAULT_STOP_S = 10.0


def needs_signal_check(stop_grace_period: str | None, configured_s: float | None) -> bool:
    """Whether the timeout depends on how the container's PID 1 treats the stop signal."""
    return stop_grace_period is None and configured_s is None


def choose_stop_timeout(
    stop_grace_period: str | None, configured_s: float | None, ignores_stop_signal: bool
) -> float:
    """The stop timeout in seconds for one container."""
    if stop_grace_period is not None:
        return parse_duration(stop_grace_period) / 1e9
    if configured_s is not None:
        return configured_s
    return 0.0 if ignores_stop_signal else COMPOSE_DEFAULT_STOP_S


def ignores_signal_hint(service: str) -> str:
    """The hint shown the first time a service's main process is found ignoring the signal."""
    return (
        f"{service}: its main process ignores the stop signal, so composewatch "
        "kills the old container at once instead of waiting "
        f"{COMPOSE_DEFAULT_STOP_S:g} s. Add `init: true` to the service so it can "
        "shut down cleanly (and so `docker compose` stops it quickly too)."
    )
