"""What `up` must do with each service, decided from observed containers (pure).

The plan renders as text so tests assert on it without Docker, as compose's own tests do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Observed", "ServicePlan", "Step", "plan_up", "render_plan"]


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
    matches: bool  # its configuration is the one we would create now
    running: bool


@dataclass(frozen=True)
class ServicePlan:
    service: str
    step: Step
    keep: str | None  # the container to adopt, start or replace
    remove: tuple[str, ...]  # leftovers (e.g. from an interrupted swap) to remove


def plan_up(observed: dict[str, list[Observed]], services: list[str]) -> list[ServicePlan]:
    """For each service (in start order) pick one container to keep and the step for it."""
    plans = []
    for service in services:
        found = observed.get(service, [])
        # Prefer a matching running container, then any running one, then a matching one.
        ranked = sorted(
            found,
            key=lambda o: (not (o.matches and o.running), not o.running, not o.matches, o.name),
        )
        if not ranked:
            plans.append(ServicePlan(service, Step.CREATE, None, ()))
            continue
        best, rest = ranked[0], tuple(o.container_id for o in ranked[1:])
        if best.matches:
            step = Step.ADOPT if best.running else Step.START
        else:
            step = Step.RECREATE
        plans.append(ServicePlan(service, step, best.container_id, rest))
    return plans


def render_plan(plans: list[ServicePlan]) -> str:
    lines = []
    for plan in plans:
        line = f"{plan.service}: {plan.step}"
        if plan.keep:
            line += f" {plan.keep[:12]}"
        if plan.remove:
            line += " (remove " + ", ".join(c[:12] for c in plan.remove) + ")"
        lines.append(line)
    return "\n".join(lines)
