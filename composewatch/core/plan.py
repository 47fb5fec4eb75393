"""What `up` must do with each service, decided from observed containers (pure).

Observe → plan → execute, as compose's reconcile does: every operation carries its cause, and
the plan renders as text so tests assert on it without Docker (golden text, as compose's
`reconcile_test.go`). The core runs the plan (`core.upround`); the executor carries no
decision logic.

A service with replicas (`scale`, `deploy.replicas`) is planned replica by replica, each
replica number on its own (`<project>-<service>-<n>`, compose's container-number label);
containers numbered above the replicas wanted are removed, as compose scales down.

A container named `<name>_cw-new` is what a swap interrupted by a crash left behind: it is
never kept (it would be adopted under that name, and block the next swap's temporary name),
only removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "LEFTOVER_SUFFIX",
    "Attach",
    "Observed",
    "Removal",
    "ServicePlan",
    "Step",
    "Wanted",
    "plan_attach",
    "plan_up",
    "render_plan",
]

LEFTOVER_SUFFIX = "_cw-new"


class Step(StrEnum):
    ADOPT = "adopt"  # a running container with this exact configuration: keep it
    START = "start"  # a stopped container with this exact configuration: start it
    RECREATE = "recreate"  # a container with another configuration: replace it
    CREATE = "create"  # no container yet


@dataclass(frozen=True)
class Observed:
    """One existing container of the service, as the engine reports it."""

    container_id: str
    name: str
    running: bool
    config_hash: str
    image: str
    number: int = 1  # compose's container-number label

    @property
    def leftover(self) -> bool:
        return self.name.endswith(LEFTOVER_SUFFIX)


@dataclass(frozen=True)
class Wanted:
    """What compose would run for the service now."""

    config_hash: str
    image: str
    replicas: int = 1


@dataclass(frozen=True)
class Removal:
    container_id: str
    cause: str


@dataclass(frozen=True)
class ServicePlan:
    service: str
    step: Step
    keep: str | None  # the container to adopt, start or replace
    cause: str
    remove: tuple[Removal, ...] = ()  # removed before the step
    number: int = 1  # the replica

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(r.container_id for r in self.remove)


def plan_up(
    observed: dict[str, list[Observed]], wanted: dict[str, Wanted], services: list[str]
) -> list[ServicePlan]:
    """For each service (in start order) and each of its replicas, pick one container to keep
    and the step for it."""
    plans = []
    for service in services:
        want = wanted[service]
        found = observed.get(service, [])
        removals = [
            Removal(o.container_id, "left by an interrupted swap") for o in found if o.leftover
        ]
        replicas = [o for o in found if not o.leftover]
        removals += [
            Removal(o.container_id, f"replica {o.number}, above the {want.replicas} wanted")
            for o in sorted(replicas, key=lambda o: o.number)
            if o.number > want.replicas
        ]
        leftovers = any(o.leftover for o in found)
        for number in range(1, want.replicas + 1):
            candidates = [o for o in replicas if o.number == number]
            plans.append(
                _plan_replica(service, number, candidates, want, tuple(removals), leftovers)
            )
            removals, leftovers = [], False  # both belong to the first replica's plan
    return plans


def _plan_replica(
    service: str,
    number: int,
    candidates: list[Observed],
    want: Wanted,
    removals: tuple[Removal, ...],
    leftovers: bool,
) -> ServicePlan:
    def matches(o: Observed) -> bool:
        return o.config_hash == want.config_hash and o.image == want.image

    # Prefer a matching running container, then any running one, then a matching one.
    ranked = sorted(
        candidates,
        key=lambda o: (not (matches(o) and o.running), not o.running, not matches(o), o.name),
    )
    if not ranked:
        cause = "no container yet"
        if leftovers:
            cause = "only the leftover of an interrupted swap was found"
        return ServicePlan(service, Step.CREATE, None, cause, removals, number)
    best, rest = ranked[0], ranked[1:]
    removals += tuple(Removal(o.container_id, f"a second container ({o.name})") for o in rest)
    if matches(best):
        step = Step.ADOPT if best.running else Step.START
        cause = "running with this configuration" if best.running else "stopped, up to date"
    else:
        step = Step.RECREATE
        cause = (
            "its configuration changed"
            if best.config_hash != want.config_hash
            else "its image changed"
        )
    return ServicePlan(service, step, best.container_id, cause, removals, number)


@dataclass(frozen=True)
class Attach:
    """`watch` without a watcher: the running containers that serve the service as they are
    (replica 1 first; none: nothing of it runs), and why."""

    service: str
    containers: tuple[str, ...]
    cause: str
    current: bool  # they run the configuration the compose files give now


def plan_attach(
    observed: dict[str, list[Observed]], wanted: dict[str, Wanted], services: list[str]
) -> list[Attach]:
    """Adopt what runs, create and recreate nothing: each service's running replicas (up to
    the scale), or a cause saying how to start it."""
    plans = []
    for service in services:
        want = wanted[service]
        running = sorted(
            (
                o
                for o in observed.get(service, [])
                if o.running and not o.leftover and o.number <= want.replicas
            ),
            key=lambda o: o.number,
        )
        ids = tuple(o.container_id for o in running)
        if not running:
            plans.append(Attach(service, ids, "not running: `composewatch up` starts it", False))
        elif any(o.config_hash != want.config_hash for o in running):
            cause = "runs an older configuration: the next save (or `composewatch up`) replaces it"
            plans.append(Attach(service, ids, cause, False))
        else:
            plans.append(Attach(service, ids, "running with this configuration", True))
    return plans


def render_plan(plans: list[ServicePlan]) -> str:
    lines = []
    for plan in plans:
        name = plan.service if plan.number == 1 else f"{plan.service} #{plan.number}"
        line = f"{name}: {plan.step}"
        if plan.keep:
            line += f" {plan.keep[:12]}"
        lines.append(f"{line} ({plan.cause})")
        lines.extend(f"  remove {r.container_id[:12]} ({r.cause})" for r in plan.remove)
    return "\n".join(lines)
