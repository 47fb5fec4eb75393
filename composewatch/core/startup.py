"""Which services `up` may start now, and why the others wait (pure).

Each service starts as soon as its own `depends_on` conditions hold, as compose starts each
service in its own goroutine waiting only on its dependencies (`waitDependencies`): a service
whose dependency is started does not wait for a slow health check elsewhere in the project.

Compose's conditions, read from what the shell observed of each dependency (`Fact`):

- `service_started`: every container of the dependency was started;
- `service_healthy`: its container's HEALTHCHECK reports healthy (one without a HEALTHCHECK
  counts as healthy once started);
- `service_completed_successfully`: its container exited with code 0.

A dependency `up` does not bring up (not selected, scaled to 0) holds no one back; nor does
one whose own start or check failed (that was said, and the dependent starts anyway and is
watched). A dependency found healthy by composewatch's check that the engine then calls
unhealthy, or that exits non-zero, fails its dependents' start, as compose's "dependency
failed to start"; so does one not meeting its condition within `timeout_s` of its start.
A dependency marked `required: false` never fails its dependents: where it would, they start
anyway with a warning, as compose's "optional dependency … is not healthy".

The same admission decides which queued builds take the free build slots (oldest first), and
holds everything while the engine is lost or a service's commit or rollback is still owed, so
`up` and a save wait for the same reasons, said in the same words.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from composewatch.core.progress import ContainerStatus
from composewatch.core.scale import replica_count

if TYPE_CHECKING:
    from composewatch.compose.model import LoadedProject, Project

__all__ = ["Admission", "Fact", "admit", "needs_of", "optional_of", "selected_services"]

STARTED = "service_started"
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"
OWED = "waits for its commit or rollback to be run again"
MIN_READ_S = 0.05  # the shortest wait between two reads of a dependency's status


@dataclass(frozen=True)
class Fact:
    """What the shell knows of one service being brought up."""

    started_at_s: float | None = None  # when all its containers were started (None: not yet)
    found: bool | None = None  # composewatch's check: None still running, True/False its verdict
    status: ContainerStatus | None = None  # its first container, as last read from the engine


@dataclass(frozen=True)
class Admission:
    start: tuple[str, ...] = ()  # may start now, in the order given
    waiting: dict[str, str] = field(default_factory=dict)  # service -> the condition it waits on
    failed: dict[str, str] = field(default_factory=dict)  # service -> why it cannot start
    poll: tuple[str, ...] = ()  # dependencies whose engine status decides someone waiting
    build: tuple[str, ...] = ()  # queued builds that may take a slot now, oldest first
    warned: dict[str, str] = field(default_factory=dict)  # service -> an optional dep's failure


def selected_services(loaded: LoadedProject, requested: Sequence[str]) -> list[str]:
    """The requested services plus everything they depend on (all services when none), but
    those scaled to 0 replicas, which compose runs no container of."""
    services = loaded.project.services
    if not requested:
        return [name for name in services if replica_count(services[name]) > 0]
    chosen: list[str] = []
    todo = list(requested)
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen.append(name)
        todo.extend((services[name].depends_on or {}).keys())
    return [name for name in services if name in chosen and replica_count(services[name]) > 0]


def needs_of(project: Project, services: Collection[str]) -> dict[str, dict[str, str]]:
    """Per service brought up, its dependencies (only those brought up) and their conditions."""
    return {
        name: {
            dep: condition.condition or STARTED
            for dep, condition in (project.services[name].depends_on or {}).items()
            if dep in services
        }
        for name in services
    }


def optional_of(project: Project, services: Collection[str]) -> dict[str, tuple[str, ...]]:
    """Per service brought up, its dependencies marked `required: false`."""
    return {
        name: tuple(
            dep
            for dep, condition in (project.services[name].depends_on or {}).items()
            if dep in services and not condition.required
        )
        for name in services
    }


def create_early(
    pending: Sequence[str],
    made: Collection[str],
    names_others: Collection[str],
    starting: bool,
) -> tuple[str, ...]:
    """Which of `pending` to create now, before their conditions hold, so that only the
    start is left when they do (compose creates every container before it starts any).

    Not while containers are being made or started (`starting`): the engine does those
    slower side by side, and the first services' starts are what everything waits on; nor
    a service whose container names another's (`network_mode: service:x`, `volumes_from`,
    `links`: `names_others`), made once that one runs; nor one already `made`."""
    if starting:
        return ()
    return tuple(n for n in pending if n not in made and n not in names_others)


def admit(
    needs: Mapping[str, Mapping[str, str]],
    facts: Mapping[str, Fact],
    pending: Sequence[str],
    now_s: float,
    timeout_s: float,
    *,
    queued: Sequence[str] = (),
    building: Sequence[str] = (),
    max_builds: int = 1,
    owed: Collection[str] = (),
    engine_lost: bool = False,
    optional: Mapping[str, Collection[str]] | None = None,
) -> Admission:
    """Which of `pending` may start now; for the others, the first unmet condition (waiting)
    or the reason they never will (failed); which dependencies to read again; and which of
    `queued` may build while `building` hold slots (of `max_builds`)."""
    if engine_lost:
        held = dict.fromkeys([*queued, *pending], "waits for the Docker engine to return")
        return Admission(waiting=held)
    build, waiting = _admit_builds(queued, building, max_builds, owed)
    start: list[str] = []
    failed: dict[str, str] = {}
    warned: dict[str, str] = {}
    poll: list[str] = []
    for name in pending:
        if name in owed:
            waiting[name] = OWED
            continue
        spare = (optional or {}).get(name, ())
        failures, waits, skipped = _conditions(needs.get(name, {}), facts, now_s, timeout_s, spare)
        if failures:
            failed[name] = failures[0]
        elif waits:
            waiting[name] = waits[0][1]
            poll += [
                dep
                for dep, _ in waits
                if facts.get(dep, Fact()).started_at_s is not None and dep not in poll
            ]
        else:
            start.append(name)
            if skipped:
                warned[name] = skipped[0]
    return Admission(tuple(start), waiting, failed, tuple(poll), build, warned)


def _conditions(
    needs: Mapping[str, str],
    facts: Mapping[str, Fact],
    now_s: float,
    timeout_s: float,
    optional: Collection[str],
) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """One service's dependencies: the failures that stop it, the conditions it still waits
    on (dependency, why), and the failures of optional ones (`required: false`) it skips."""
    failures: list[str] = []
    waits: list[tuple[str, str]] = []
    skipped: list[str] = []
    for dep, condition in needs.items():
        held, why = _verdict(dep, condition, facts.get(dep, Fact()), now_s, timeout_s)
        if held is None:
            (skipped if dep in optional else failures).append(
                f"optional {why}" if dep in optional else why
            )
        elif held:
            waits.append((dep, why))
    return failures, waits, skipped


def _admit_builds(
    queued: Sequence[str], building: Sequence[str], max_builds: int, owed: Collection[str]
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The queued builds that take the free slots (oldest first), and why the others wait."""
    free = max(0, max_builds - len(building))
    build = tuple(n for n in queued if n not in owed)[:free]
    busy = ", ".join([*building, *build])
    waiting = {n: OWED if n in owed else f"build slot busy ({busy})" for n in queued}
    return build, {n: why for n, why in waiting.items() if n not in build}


def _verdict(
    dep: str, condition: str, fact: Fact, now_s: float, timeout_s: float
) -> tuple[bool | None, str]:
    """(False, "") when the condition holds, (True, why) while it may still come to hold,
    (None, why) when it never will."""
    if fact.found is False:
        return False, ""  # its failure was said; the dependent starts anyway
    if fact.started_at_s is None:
        return True, f"waits for {dep} to start"
    if condition == STARTED:
        return False, ""
    status = fact.status
    if condition == COMPLETED:
        if status is not None and not status.running and status.exit_code is not None:
            if status.exit_code == 0:
                return False, ""
            if fact.found:
                return None, f"dependency {dep} exited with code {status.exit_code}"
        held = True, f"waits for {dep} to complete"
        until = "completed"
    else:
        if status is not None and (status.health == "healthy" or not status.has_healthcheck):
            return False, ""
        if status is not None and status.health == "unhealthy" and fact.found:
            return None, f"dependency {dep} is unhealthy"
        held = True, f"waits for {dep} to be healthy"
        until = "healthy"
    if now_s - fact.started_at_s > timeout_s:
        return None, f"dependency {dep} did not become {until} within {timeout_s:g} s"
    return held
