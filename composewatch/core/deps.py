"""What else must change when services are recreated, as Docker Compose decides it.

- `depends_on: {x: {restart: true}}`: recreating `x` restarts its direct dependents (compose's
  stopDependentContainers + start; GetDependentsForService is not transitive).
- `network_mode`/`ipc`/`pid: service:x` and `volumes_from: [x]`: the container holds `x`'s
  container id, which is in its config hash, so recreating `x` recreates it.

Pure: a project and service names in, service names out, in start order.
"""

from __future__ import annotations

from collections.abc import Collection

from composewatch.compose.model import Project, Service

__all__ = ["dependents_to_recreate", "dependents_to_restart"]

_SERVICE_PREFIX = "service:"


def _in_start_order(project: Project, names: set[str]) -> list[str]:
    # Kept local (not spec_project.startup_order) so the core imports nothing from the shell.
    deps = {
        name: {d for d in (*(s.depends_on or {}), *_references(s)) if d in project.services}
        for name, s in project.services.items()
    }
    order: list[str] = []
    done: set[str] = set()
    while len(done) < len(deps):
        layer = sorted(n for n, d in deps.items() if n not in done and d <= done)
        if not layer:  # a cycle: the loader refuses those; keep the rest by name
            layer = sorted(set(deps) - done)
        order += [n for n in layer if n in names]
        done.update(layer)
    return order


def _references(service: Service) -> set[str]:
    extra = service.model_extra or {}
    modes = [service.network_mode, extra.get("ipc"), extra.get("pid")]
    found = {m[len(_SERVICE_PREFIX) :] for m in modes if m and m.startswith(_SERVICE_PREFIX)}
    for entry in extra.get("volumes_from") or []:
        head = str(entry).partition(":")[0]
        if head != "container":
            found.add(head)
    return found


def dependents_to_recreate(project: Project, recreated: Collection[str]) -> list[str]:
    """Services whose containers name a recreated service's container (shared namespaces,
    volumes_from), transitively, not already recreated; in start order."""
    out: set[str] = set()
    changed = set(recreated)
    while True:
        more = {
            name
            for name, service in project.services.items()
            if name not in changed and _references(service) & changed
        }
        if not more:
            return _in_start_order(project, out)
        out |= more
        changed |= more


def dependents_to_restart(project: Project, recreated: Collection[str]) -> list[str]:
    """Services to restart because a service they depend on with `restart: true` was
    recreated; not those recreated themselves (or to be, see dependents_to_recreate).
    In start order, so each waits for its own dependencies' conditions."""
    recreated = set(recreated)
    skip = recreated | set(dependents_to_recreate(project, recreated))
    names = {
        name
        for name, service in project.services.items()
        if name not in skip
        and any(
            dep in recreated and condition.restart
            for dep, condition in (service.depends_on or {}).items()
        )
    }
    return _in_start_order(project, names)
