"""Containers created ahead at `up` (compose creates every container before it starts any),
input by input through the core (no Docker, no sleeps): whose, when (`create_early`), and
that only the start is left once the conditions hold."""

from __future__ import annotations

import pytest
from uprun import Run, request

from composewatch.core import state as st
from composewatch.core.plan import Step
from composewatch.core.probe import ContainerStatus
from composewatch.core.startup import create_early

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


def _db_started(run: Run, api: st.UpRequest) -> list[st.Effect]:
    run(st.UpRequested((request("db"), api)))
    run(st.ImageReady("db", 1, "sha256:db"))
    assert run(st.ImageReady("api", 1, "sha256:api")) == []  # db's start is under way
    return run(st.ReplicaStarted("db", 1, 1, "db-1"), at=1.0)


@pytest.mark.parametrize(
    ("names_others", "ahead", "started"),
    [
        # once db runs, api's container is made; db healthy: api is only started
        (False, [st.CreateAhead("api", 1, "sha256:api")], (Step.START, "api-1-ahead")),
        # api names db's container (network_mode: service:db): made when it may start
        (True, [], (Step.CREATE, None)),
    ],
)
def test_a_held_service_is_created_once_no_start_is_under_way(
    names_others: bool, ahead: list[st.Effect], started: tuple[Step, str | None]
) -> None:
    run = Run(ahead=True)
    api = request("api", needs=(("db", H),), names_others=names_others)
    effects = _db_started(run, api)
    assert [e for e in effects if isinstance(e, st.CreateAhead)] == ahead
    assert run.state.service("api").phase is st.Phase.HELD  # created, not started
    effects = run(st.StatusRead("db", HEALTHY), at=2.0)
    step, keep = started
    assert effects == [st.StartReplica("api", 1, step, "sha256:api", keep)]


def test_admitted_while_its_container_is_created_it_starts_once_it_is() -> None:
    run = Run()
    api = request("api", needs=(("db", H),))
    run(st.UpRequested((request("db"), api)))
    run(st.ImageReady("db", 1, "sha256:db"))
    run(st.ImageReady("api", 1, "sha256:api"))
    # Stepped by hand: the creation is not answered until db is healthy.
    run.state, effects = st.step(run.state, st.ReplicaStarted("db", 1, 1, "db-1"), 1.0)
    assert st.CreateAhead("api", 1, "sha256:api") in effects
    run.state, effects = st.step(run.state, st.StatusRead("db", HEALTHY), 2.0)
    assert not any(isinstance(e, st.StartReplica) for e in effects)  # not twice, not yet
    run.state, effects = st.step(run.state, st.CreatedAhead("api", 1, 1, "api-1-ahead"), 2.5)
    starts = [e for e in effects if isinstance(e, st.StartReplica)]
    assert starts == [st.StartReplica("api", 1, Step.START, "sha256:api", "api-1-ahead")]


def test_a_dependency_failing_while_a_container_is_created_ahead_still_stops_up() -> None:
    run = Run()
    run(st.UpRequested((request("db"), request("api", needs=(("db", H),)))))
    run(st.ImageReady("db", 1, "sha256:db"))
    run(st.ImageReady("api", 1, "sha256:api"))
    run.state, _ = st.step(run.state, st.ReplicaStarted("db", 1, 1, "db-1"), 1.0)
    run.state, _ = st.step(run.state, st.Healthy("db", 1), 1.5)
    run.state, _ = st.step(run.state, st.Committed("db", 1), 1.6)
    unhealthy = ContainerStatus(True, None, "unhealthy", True)
    run.state, _ = st.step(run.state, st.StatusRead("db", unhealthy), 2.0)
    assert run.state.up_error == "dependency db is unhealthy"
