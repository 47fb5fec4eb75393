"""How long to wait for an old container to stop before it is killed.

A `stop_grace_period` the user set is always honoured. Otherwise waiting only makes sense for a
process that reacts to the stop signal: a PID 1 without a SIGTERM handler never will (the
kernel drops the signal), so compose's 10 s default would be 10 s of nothing served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from composewatch.compose.model import Project
from composewatch.compose.units import parse_duration
from composewatch.config import Settings

__all__ = ["COMPOSE_DEFAULT_STOP_S", "StopPolicy", "choose_stop_timeout"]

COMPOSE_DEFAULT_STOP_S = 10.0


def choose_stop_timeout(
    stop_grace_period: str | None, configured_s: float | None, ignores_stop_signal: bool
) -> float:
    """Pure: the stop timeout in seconds for one container."""
    if stop_grace_period is not None:
        return parse_duration(stop_grace_period) / 1e9
    if configured_s is not None:
        return configured_s
    return 0.0 if ignores_stop_signal else COMPOSE_DEFAULT_STOP_S


@dataclass
class StopPolicy:
    project: Project
    settings: Settings
    ignores_stop_signal: Callable[[str], bool]  # container id -> its PID 1 ignores the signal
    hint: Callable[[str], None]  # shows a one-off hint to the user
    _known: dict[str, bool] = field(default_factory=dict)
    _hinted: set[str] = field(default_factory=set)

    def timeout_s(self, service: str, container: str) -> float:
        model = self.project.services[service]
        configured = self.settings.for_service(service).stop_timeout_s
        if model.stop_grace_period is not None or configured is not None:
            return choose_stop_timeout(model.stop_grace_period, configured, False)
        ignores = self.learn(service, container)
        return choose_stop_timeout(None, None, ignores)

    def learn(self, service: str, container: str) -> bool:
        """Look once per container (off the critical path when called after a swap)."""
        if container not in self._known:
            ignores = self.ignores_stop_signal(container)
            self._known[container] = ignores
            if ignores and service not in self._hinted:
                self._hinted.add(service)
                self.hint(
                    f"{service}: its main process ignores the stop signal, so composewatch "
                    "kills the old container at once instead of waiting "
                    f"{COMPOSE_DEFAULT_STOP_S:g} s. Add `init: true` to the service so it can "
                    "shut down cleanly (and so `docker compose` stops it quickly too)."
                )
        return self._known[container]
