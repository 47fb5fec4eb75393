"""Whether a container's main process ignores the stop signal: an observation at the edge
(the engine reads /proc, or execs `cat` in the container), made once per container, with
the hint shown the first time a service's does. The timeout itself is core.stop's decision;
`stop_timeout_s` joins the two, observing only when the decision needs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from composewatch.compose.model import Project
from composewatch.config import Settings
from composewatch.core.stop import choose_stop_timeout, ignores_signal_hint, needs_signal_check

__all__ = ["StopSignals", "stop_timeout_s"]


@dataclass
class StopSignals:
    ignores_stop_signal: Callable[[str], bool]  # container id -> its PID 1 ignores the signal
    hint: Callable[[str], None]  # shows a one-off hint to the user
    _known: dict[str, bool] = field(default_factory=dict)
    _hinted: set[str] = field(default_factory=set)

    def observe(self, service: str, container: str) -> bool:
        """Look once per container (off the critical path when called after a swap)."""
        if container not in self._known:
            ignores = self.ignores_stop_signal(container)
            self._known[container] = ignores
            if ignores and service not in self._hinted:
                self._hinted.add(service)
                self.hint(ignores_signal_hint(service))
        return self._known[container]


def stop_timeout_s(
    signals: StopSignals, project: Project, settings: Settings, service: str, container: str
) -> float:
    """The stop timeout for `container` of `service`: the core's decision, with the signal
    observation made first only when the decision depends on it."""
    grace = project.services[service].stop_grace_period
    configured_s = settings.for_service(service).stop_timeout_s
    ignores = needs_signal_check(grace, configured_s) and signals.observe(service, container)
    return choose_stop_timeout(grace, configured_s, ignores)
