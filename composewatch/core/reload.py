"""What a reloaded project (a compose file, `.env` or `env_file` edited) asks of each running
service (pure): rebuild when its build changed, recreate when its resolved configuration
changed (an `.env` value interpolated into it, an `env_file` line), nothing otherwise; each
with its cause, as `docker compose up` would decide it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from composewatch.compose.model import Project, Service
from composewatch.core.action import Action
from composewatch.core.scale import replica_count

__all__ = ["Reload", "plan_reload", "render_reload"]


@dataclass(frozen=True)
class Reload:
    service: str
    action: Action | None  # None: not applied (the service was added or removed)
    cause: str
    replicas: int | None = None  # the scale changed: this many replicas from now on


def plan_reload(
    old: Project, new: Project, services: Iterable[str], config_hash: Callable[[Service], str]
) -> list[Reload]:
    """`config_hash` is compose's config-hash of a service (spec.config_hash), passed in so the
    decision does not load the container spec composer."""
    plans = []
    for name in services:
        if name not in new.services:
            plans.append(Reload(name, None, "removed from the project: restart composewatch up"))
            continue
        before, after = old.services[name], new.services[name]
        if before.build != after.build:
            plans.append(Reload(name, Action.REBUILD, "its build section changed"))
        elif config_hash(before) != config_hash(after):
            plans.append(Reload(name, Action.RECREATE, "its resolved configuration changed"))
        count = replica_count(after)
        if replica_count(before) != count:
            scaled = f"{replica_count(before)} → {count} replicas"
            if count == 0:
                plans.append(Reload(name, None, f"{scaled}: `composewatch up` stops it"))
            else:
                plans.append(Reload(name, Action.RECREATE, scaled, replicas=count))
    for name in sorted(set(new.services) - set(old.services)):
        plans.append(Reload(name, None, "added to the project: restart composewatch up"))
    return plans


def render_reload(plans: list[Reload]) -> str:
    lines = []
    for plan in plans:
        what = {Action.REBUILD: "rebuild", Action.RECREATE: "recreate", None: "unchanged"}.get(
            plan.action, str(plan.action)
        )
        lines.append(f"{plan.service}: {what} ({plan.cause})")
    return "\n".join(lines)
