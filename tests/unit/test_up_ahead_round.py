"""Containers created ahead at `up` (compose creates every container before it starts any),
input by input through the core (no Docker, no sleeps): whose, when (`create_early`), and
that only the start is left once the conditions hold."""

from __future__ import annotations

import pytest
from uprun import Run, request

from composewatch.core.effects import CreateAhead, Effect, StartReplica
from composewatch.core.inputs import (
    Committed,
    CreatedAhead,
    Healthy,
    ImageReady,
    ReplicaStarted,
    StatusRead,
    UpRequest,
    UpRequested,
)
from composewatch.core.phases import Phase
from composewatch.core.plan import Step
from composewatch.core.probe import ContainerStatus
from composewatch.core.startup import create_early
from composewatch.core.state import step

H = "service_healthy"
HEALTHY = ContainerStatus(True, None, "healthy", True)


@pytest.mark.parametrize(
    ("pending", "made", "names_others", "starting", "expected"),
    [
        (["api", "web"], [], [], False, ("api", "web")),  # every one, in the order given
        (["api", "web"], [], [], True, ()),  # not while containers are made or started
        (["api", "web"], ["api"], [], False, ("web",)),  # asked for already
        (["api", "web"], [], ["api"], False, ("web",)),  # names db's container: once it runs
        ([], [], [], False, ()),
    ],
)
def test_whose_containers_are_created_ahead(
    pending: list[str],
    made: list[str],
    names_others: list[str],
    starting: bool,
    expected: tuple[str, ...],
) -> None:
    assert create_early(pending, made, names_others, starting) == expected


def _db_started(run: Run, api: UpRequest) -> list[Effect]:
    run(UpRequested((request("db"), api)))
    run(ImageReady("db", 1, "sha256:db"))
    assert run(ImageReady("api", 1, "sha256:api")) == []  # db's start is under way
    return run(ReplicaStarted("db", 1, 1, "db-1"), at=1.0)


@pytest.mark.parametrize(
    ("names_others", "ahead", "started"),
    [
        # once db runs, api's container is made; db healthy: api is only started
        (False, [CreateAhead("api", 1, "sha256:api")], (Step.START, "api-1-ahead")),
        # api names db's container (network_mode: service:db): made when it may start
        (True, [], (Step.CREATE, None)),
    ],
)
def test_a_held_service_is_created_once_no_start_is_under_way(
    names_others: bool, ahead: list[Effect], started: tuple[Step, str | None]
) -> None:
    run = Run(ahead=True)
    api = request("api", needs=(("db", H),), names_others=names_others)
    effects = _db_started(run, api)
    assert [e for e in effects if isinstance(e, CreateAhead)] == ahead
    assert run.state.service("api").phase is Phase.HELD  # created, not started
    effects = run(StatusRead("db", HEALTHY), at=2.0)
    how, keep = started
    assert effects == [StartReplica("api", 1, how, "sha256:api", keep)]


def test_admitted_while_its_container_is_created_it_starts_once_it_is() -> None:
    run = Run()
    api = request("api", needs=(("db", H),))
    run(UpRequested((request("db"), api)))
    run(ImageReady("db", 1, "sha256:db"))
    run(ImageReady("api", 1, "sha256:api"))
    # Stepped by hand: the creation is not answered until db is healthy.
    run.state, effects = step(run.state, ReplicaStarted("db", 1, 1, "db-1"), 1.0)
    assert CreateAhead("api", 1, "sha256:api") in effects
    run.state, effects = step(run.state, StatusRead("db", HEALTHY), 2.0)
    assert not any(isinstance(e, StartReplica) for e in effects)  # not twice, not yet
    run.state, effects = step(run.state, CreatedAhead("api", 1, 1, "api-1-ahead"), 2.5)
    starts = [e for e in effects if isinstance(e, StartReplica)]
    assert starts == [StartReplica("api", 1, Step.START, "sha256:api", "api-1-ahead")]


def test_a_dependency_failing_while_a_container_is_created_ahead_still_stops_up() -> None:
    run = Run()
    run(UpRequested((request("db"), request("api", needs=(("db", H),)))))
    run(ImageReady("db", 1, "sha256:db"))
    run(ImageReady("api", 1, "sha256:api"))
    run.state, _ = step(run.state, ReplicaStarted("db", 1, 1, "db-1"), 1.0)
    run.state, _ = step(run.state, Healthy("db", 1), 1.5)
    run.state, _ = step(run.state, Committed("db", 1), 1.6)
    unhealthy = ContainerStatus(True, None, "unhealthy", True)
    run.state, _ = step(run.state, StatusRead("db", unhealthy), 2.0)
    assert run.state.up_error == "dependency db is unhealthy"
