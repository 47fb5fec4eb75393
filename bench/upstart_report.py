"""Where `up`'s time goes, from the engine's own events (an independent clock; pure).

For one run of one tool: the engine's container events for its project (create, start,
`health_status: healthy`, die), the command's start and end (wall clock). Out:

- `last_start`, `last_healthy`, `end`: seconds from the command's start to the last
  container started, the last one found healthy by its HEALTHCHECK, and the command's end;
- per service, `held` (when its `depends_on` conditions all held, read from the events of
  its dependencies: `service_started` their start, `service_healthy` their first healthy
  event, or their start when they have no HEALTHCHECK, `service_completed_successfully` a
  die with exit code 0; a service with none holds at the command's start), and `lag`: from
  `held` to its own start. Any lag one tool adds beyond another's is time it spends between
  a condition holding and the engine starting the container.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ContainerEvent",
    "RunFigures",
    "figures",
    "median_figures",
    "needs_from_compose",
    "parse_line",
]

STARTED = "service_started"
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"


@dataclass(frozen=True)
class ContainerEvent:
    action: str  # create, start, healthy, unhealthy, die
    service: str
    at_s: float  # the engine's wall clock
    exit_code: int | None = None  # die only


@dataclass(frozen=True)
class RunFigures:
    end: float
    last_start: float | None
    last_healthy: float | None
    held: dict[str, float] = field(default_factory=dict)  # service -> conditions held at
    started: dict[str, float] = field(default_factory=dict)  # service -> its (last) start
    created: dict[str, float] = field(default_factory=dict)  # service -> its (first) create
    tool_cpu_s: float | None = None  # the command's CPU time (user + system), when measured
    engine_cpu_s: float | None = None  # dockerd's and containerd's meanwhile

    @property
    def lag(self) -> dict[str, float]:
        """Per service: from its conditions holding to its start."""
        return {s: self.started[s] - self.held[s] for s in self.started if s in self.held}


def parse_line(line: str) -> ContainerEvent | None:
    """One line of `docker events --format '{{json .}}'`; None for anything not kept."""
    try:
        raw: Any = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or raw.get("Type") != "container":
        return None
    attributes = (raw.get("Actor") or {}).get("Attributes") or {}
    service = attributes.get("com.docker.compose.service")
    action = str(raw.get("Action", ""))
    if action.startswith("health_status"):
        action = action.split(":", 1)[-1].strip()  # "health_status: healthy" -> "healthy"
    if not service or action not in ("create", "start", "healthy", "unhealthy", "die"):
        return None
    code = attributes.get("exitCode")
    return ContainerEvent(
        action,
        str(service),
        int(raw.get("timeNano", 0)) / 1e9,
        int(code) if action == "die" and code is not None else None,
    )


def needs_from_compose(document: Mapping[str, Any]) -> tuple[dict[str, dict[str, str]], set[str]]:
    """Per service its depends_on (dependency -> condition), and the services with a
    HEALTHCHECK, from a loaded compose file (the bench fixture: no `extends`, no profiles)."""
    needs: dict[str, dict[str, str]] = {}
    checked: set[str] = set()
    for name, service in (document.get("services") or {}).items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {dep: {} for dep in depends}
        needs[name] = {dep: (c or {}).get("condition", STARTED) for dep, c in depends.items()}
        check = service.get("healthcheck")
        if check and not check.get("disable") and check.get("test") not in (None, ["NONE"]):
            checked.add(name)
    return needs, checked


def figures(
    events: Iterable[ContainerEvent],
    needs: Mapping[str, Mapping[str, str]],
    checked: set[str],
    began_s: float,
    ended_s: float,
) -> RunFigures:
    """The run's figures, in seconds from `began_s` (the command's start)."""
    started: dict[str, float] = {}
    created: dict[str, float] = {}
    healthy: dict[str, float] = {}
    completed: dict[str, float] = {}
    for event in sorted(events, key=lambda e: e.at_s):
        at = event.at_s - began_s
        if event.action == "create":
            created.setdefault(event.service, at)
        elif event.action == "start":
            started[event.service] = at  # a service's last container: `service_started`
        elif event.action == "healthy":
            healthy.setdefault(event.service, at)
        elif event.action == "die" and event.exit_code == 0:
            completed.setdefault(event.service, at)

    def holds_at(dep: str, condition: str) -> float | None:
        if condition == COMPLETED:
            return completed.get(dep)
        if condition == HEALTHY and dep in checked:
            return healthy.get(dep)
        return started.get(dep)

    held: dict[str, float] = {}
    for name, deps in needs.items():
        times = [holds_at(dep, condition) for dep, condition in deps.items()]
        if all(t is not None for t in times):
            held[name] = max([0.0, *(t for t in times if t is not None)])
    return RunFigures(
        end=ended_s - began_s,
        last_start=max(started.values(), default=None),
        last_healthy=max(healthy.values(), default=None),
        held=held,
        started=started,
        created=created,
    )


def _median(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def median_figures(runs: Sequence[RunFigures]) -> dict[str, Any]:
    """Medians over rounds: the three times, the CPU times, and per service its lag."""
    services = sorted({s for run in runs for s in run.lag})
    return {
        "end": _median([r.end for r in runs]),
        "last_start": _median([r.last_start for r in runs]),
        "last_healthy": _median([r.last_healthy for r in runs]),
        "tool_cpu_s": _median([r.tool_cpu_s for r in runs]),
        "engine_cpu_s": _median([r.engine_cpu_s for r in runs]),
        "lag": {s: _median([r.lag.get(s) for r in runs]) for s in services},
    }
