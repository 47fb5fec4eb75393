"""`up` as rounds of the core, input by input with an explicit clock (no Docker, no sleeps):
the image first (build in a slot, pull, or known), `plan_up`'s steps, the admission holding
each service until its own depends_on conditions hold, the same effects a save uses, and the
same words for the same failure."""

from __future__ import annotations

import pytest
from uprun import Run, request

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import (
    CheckHealth,
    Commit,
    CreateAhead,
    Effect,
    Exchange,
    ObserveUp,
    PullImage,
    Rollback,
    Serving,
    StartBuild,
    StartReplica,
    Swap,
    SyncFiles,
    WatchEngine,
    WatchStatus,
)
from composewatch.core.images import ImageChoice, ImageStep
from composewatch.core.inputs import (
    BuildErrored,
    BuildSucceeded,
    Changed,
    CheckFailed,
    Committed,
    ContextHashed,
    CreatedAhead,
    EffectFailed,
    EngineAnswered,
    Healthy,
    ImageReady,
    Input,
    ReplicaStarted,
    RollbackDone,
    Started,
    StatusRead,
    Swapped,
    UpAsked,
    UpRequested,
)
from composewatch.core.phases import Phase
from composewatch.core.plan import Observed, Step
from composewatch.core.probe import STALLED_S, ContainerStatus

H, C = "service_healthy", "service_completed_successfully"
PULL = ImageChoice(ImageStep.PULL, None, "the service names an image")
BUILD = ImageChoice(ImageStep.BUILD, None, "no image yet")
REUSE = ImageChoice(ImageStep.REUSE, "sha256:web", "built from this context already")
STARTING = ContainerStatus(True, None, "starting", True)
HEALTHY = ContainerStatus(True, None, "healthy", True)


def test_up_asks_for_an_observation_then_each_image_its_own_way() -> None:
    run = Run(max_parallel_builds=1)
    assert run(UpAsked(("db", "api", "web"), 300.0)) == [ObserveUp(("db", "api", "web"))]
    assert not run.state.up_done  # observed again until its requests come
    effects = run(
        UpRequested(
            (
                request("db"),
                request("api", BUILD, needs=(("db", H),)),
                request("worker", BUILD),
                request("web", REUSE),
            )
        )
    )
    # db pulls; api builds with the digest `up` hashed (no second walk); worker waits for
    # the slot; web's image is known: it starts at once (it depends on nothing).
    assert effects == [
        PullImage("db", 1, "db:latest"),
        StartBuild("api", 1, "digest-api"),
        StartReplica("web", 1, Step.CREATE, "sha256:web", None),
    ]
    assert run.said(ev.BuildQueued) == [ev.BuildQueued("worker", ("api",))]
    assert run.state.service("api").phase is Phase.BUILDING
    # api's build frees the slot: worker builds; api is held until db is healthy.
    effects = run(BuildSucceeded("api", 1, "sha256:api"), at=5.0)
    assert effects == [StartBuild("worker", 1, "digest-worker")]
    assert run.said(ev.BuildFinished) == [ev.BuildFinished("api", 5.0)]
    assert run.said(ev.Held) == [ev.Held("api", "waits for db to start")]


def test_a_dependency_is_read_from_engine_events_and_its_result_releases_the_waiter() -> None:
    run = Run()
    run(UpRequested((request("db"), request("api", needs=(("db", H),)))))
    run(ImageReady("db", 1, "sha256:db"))
    assert run(ImageReady("api", 1, "sha256:api")) == []  # held: db has not started
    assert run(ReplicaStarted("db", 1, 1, "db-1"), at=1.0) == [
        CheckHealth("db", 1, "db-1"),
        WatchStatus("db", "db-1", None, STALLED_S),  # unknown: read at once
    ]
    assert run.said(ev.Held)[-1] == ev.Held("api", "waits for db to be healthy")
    # Starting: the next read waits for the engine's next event (or the wait to be said).
    assert run(StatusRead("db", STARTING), at=1.1) == [
        WatchStatus("db", "db-1", STARTING, pytest.approx(STALLED_S - 0.1))  # type: ignore[arg-type]
    ]
    run(StatusRead("db", STARTING), at=2.6)
    (failed,) = run.said(ev.ProbeFailed)
    assert isinstance(failed, ev.ProbeFailed)
    assert failed.reason == "Docker healthcheck: starting; api waits until it is healthy"
    # The engine says healthy: api starts in that very step, not on a clock's next tick.
    assert run(StatusRead("db", HEALTHY), at=3.0) == [
        StartReplica("api", 1, Step.CREATE, "sha256:api", None)
    ]
    assert run.said(ev.ProbeRecovered) == [ev.ProbeRecovered("db", 2, 2.0)]


def test_a_service_ends_its_up_round_through_a_commit_and_is_said_started() -> None:
    run = Run()
    run(UpRequested((request("web", REUSE),)))
    run(ReplicaStarted("web", 1, 1, "web-1"), at=0.5)
    assert run(Healthy("web", 1), at=2.0) == [Commit("web", 1, (Exchange(1, "web-1", None),))]
    run(Committed("web", 1), at=2.1)
    assert run.said(ev.ServiceStarted) == [ev.ServiceStarted("web", "web-1", False, 2.1, 1)]
    assert run.state.service("web").serving == Serving("web-1", "sha256:web", "digest-web")
    assert run.state.up_done and not run.state.unhealthy
    assert run.state.service("web").phase is Phase.IDLE


def test_a_save_made_during_up_waits_for_the_round_then_goes() -> None:
    run = Run()
    run(UpRequested((request("web", REUSE),)))
    assert run(Changed("web", Action.RESTART, frozenset(), 0.2), at=0.2) == []
    run(ReplicaStarted("web", 1, 1, "web-1"))
    run(Healthy("web", 1))
    restart = SyncFiles("web", 2, ("web-1",), (), (), True)
    assert run(Committed("web", 1), at=1.0) == [restart]


def test_a_one_shot_job_that_exits_0_completes_and_releases_its_dependent() -> None:
    run = Run()
    jobs = (request("migrate", completes=True), request("api", needs=(("migrate", C),)))
    run(UpRequested(jobs))
    run(ImageReady("migrate", 1, "sha256:m"))
    run(ImageReady("api", 1, "sha256:a"))
    run(ReplicaStarted("migrate", 1, 1, "m-1"))
    exited = CheckFailed("migrate", 1, "container exited with code 0", (), 1, 0)
    assert run(exited) == [Commit("migrate", 1, (Exchange(1, "m-1", None),))]
    assert not run.said(ev.Unhealthy)
    run(Committed("migrate", 1))
    done = ContainerStatus(False, 0, None, False)
    assert run(StatusRead("migrate", done)) == [
        StartReplica("api", 1, Step.CREATE, "sha256:a", None)
    ]


def test_replacing_replicas_go_as_a_save_and_all_go_back_when_one_is_unhealthy() -> None:
    old = tuple(
        Observed(f"old-{n}", f"p-web-{n}", True, "hash-old", "sha256:web", n) for n in (1, 2)
    )
    run = Run()
    run(UpRequested((request("web", REUSE, observed=old, replicas=2),)))
    # Nothing replaces nothing: straight to the swap of replica 1, as a save's round.
    assert [e for e in run.effects if isinstance(e, Swap)] == [
        Swap("web", 1, "sha256:web", "old-1", 1)
    ]
    assert run(Swapped("web", 1, "new-1")) == [CheckHealth("web", 1, "new-1")]
    assert run(Healthy("web", 1)) == [Swap("web", 1, "sha256:web", "old-2", 2)]
    run(Swapped("web", 1, "new-2"))
    failed = CheckFailed("web", 1, "container exited with code 1", ("boom",))
    assert run(failed) == [
        Rollback("web", 1, (Exchange(2, "new-2", "old-2"), Exchange(1, "new-1", "old-1")))
    ]
    run(RollbackDone("web", 1))
    assert run.said(ev.Unhealthy) == [
        ev.Unhealthy("web", "container exited with code 1", ("boom",))
    ]
    assert run.state.unhealthy == {"web"} and run.state.up_done
    assert run.state.service("web").serving == Serving("old-1", "sha256:web", None, ("old-2",))


def test_a_replaced_dependency_is_read_on_its_new_container_not_the_stopped_one() -> None:
    old = (Observed("db-old", "p-db-1", True, "hash-old", "sha256:db", 1),)
    run = Run()
    run(UpRequested((request("db", observed=old), request("api", needs=(("db", H),)))))
    run(ImageReady("db", 1, "sha256:db"))
    run(ImageReady("api", 1, "sha256:api"))
    assert run(Swapped("db", 1, "db-new")) == [
        CheckHealth("db", 1, "db-new"),
        WatchStatus("db", "db-new", None, STALLED_S),
    ]


def test_a_dependency_that_fails_after_its_check_stops_up_as_compose_does() -> None:
    run = Run()
    run(UpRequested((request("db"), request("api", needs=(("db", H),)))))
    run(ImageReady("db", 1, "sha256:db"))
    run(ImageReady("api", 1, "sha256:api"))
    run(ReplicaStarted("db", 1, 1, "db-1"))
    run(Healthy("db", 1))
    run(Committed("db", 1))
    run(StatusRead("db", ContainerStatus(True, None, "unhealthy", True)))
    assert run.state.up_error == "dependency db is unhealthy" and run.state.up_done


def test_an_optional_dependency_that_fails_is_a_warning_and_its_dependent_starts() -> None:
    run = Run()
    api = request("api", needs=(("db", H),), optional=("db",))
    run(UpRequested((request("db"), api)))
    run(ImageReady("db", 1, "sha256:db"))
    run(ImageReady("api", 1, "sha256:api"))
    run(ReplicaStarted("db", 1, 1, "db-1"))
    run(Healthy("db", 1))
    run(Committed("db", 1))
    effects = run(StatusRead("db", ContainerStatus(True, None, "unhealthy", True)))
    assert run.state.up_error is None
    assert any(isinstance(e, StartReplica) and e.service == "api" for e in effects)
    notes = [n.message for n in run.said(ev.Note) if isinstance(n, ev.Note)]
    assert notes == ["api: optional dependency db is unhealthy; it starts anyway (required: false)"]


def test_a_build_that_fails_with_nothing_serving_stops_up_and_says_why() -> None:
    run = Run()
    run(UpRequested((request("api", BUILD),)))
    run(BuildErrored("api", 1, "RUN make", ("make: *** no rule",)))
    assert run.said(ev.BuildFailed) == [ev.BuildFailed("api", "RUN make", ("make: *** no rule",))]
    assert run.state.up_error == "build of service 'api' failed at RUN make\n    make: *** no rule"


def test_a_build_that_fails_keeps_what_already_serves() -> None:
    kept = (Observed("c1", "p-api-1", True, "hash-api", "sha256:before", 1),)
    run = Run()
    run(UpRequested((request("api", BUILD, observed=kept, fallback="sha256:before"),)))
    assert run(BuildErrored("api", 1, "RUN make")) == [
        StartReplica("api", 1, Step.ADOPT, "sha256:before", "c1")
    ]
    assert run.state.up_error is None


def test_the_engine_lost_during_up_is_waited_for_and_the_service_observed_again() -> None:
    run = Run()
    run(UpRequested((request("web", REUSE),)))
    start = StartReplica("web", 1, Step.CREATE, "sha256:web", None)
    lost = EffectFailed(start, "the Docker engine does not answer", engine_lost=True)
    assert run(lost) == [WatchEngine()]
    assert run.state.redo == ("web",) and not run.state.up_done
    assert run(EngineAnswered(2.0, frozenset())) == [ObserveUp(("web",))]


def test_what_an_outage_interrupted_is_put_back_before_the_service_is_observed_again() -> None:
    old = (Observed("old-1", "p-web-1", True, "hash-old", "sha256:web", 1),)
    run = Run()
    run(UpRequested((request("web", REUSE, observed=old),)))
    run(Swapped("web", 1, "new-1"))
    check = CheckHealth("web", 1, "new-1")
    run(EffectFailed(check, "the Docker engine does not answer", engine_lost=True))
    undo = Rollback("web", 1, (Exchange(1, "new-1", "old-1"),))
    assert run(EngineAnswered(1.0, frozenset({"old-1"}))) == [undo]
    assert run(RollbackDone("web", 1)) == [ObserveUp(("web",))]
    assert not run.state.up_done


def test_a_service_scaled_to_0_has_nothing_to_start() -> None:
    run = Run()
    run(UpRequested((request("web", REUSE, replicas=0),)))
    assert run.state.up_done and not run.state.unhealthy


# ── same failure, same words: through `up` and through a save ─────────────────────────────

FAILURES = [
    ("exit code at start", "container exited with code 3", ("Traceback", "boom"), 3),
    ("failed HTTP probe", "GET http://127.0.0.1:8080/ gave HTTP 500", ("500 GET /",), None),
    ("unhealthy HEALTHCHECK", "Docker healthcheck: unhealthy (exit 1)", ("pg not ready",), None),
    ("probe timeout", "no answer within 30 s: connection refused", (), None),
]


def through_up(result: Input) -> list[ev.Event]:
    run = Run()
    run(UpRequested((request("web", REUSE),)))
    run(ReplicaStarted("web", 1, 1, "new"))
    run(result)
    return run.said()


def through_a_save(result: Input) -> list[ev.Event]:
    run = Run()
    run(Started("web", Serving("old", "sha256:old", "digest-old")))
    run(Changed("web", Action.RECREATE, frozenset(), 0.0))
    run(Swapped("web", 1, "new"))
    run(result)
    run(RollbackDone("web", 1))
    return run.said()


@pytest.mark.parametrize(
    ("reason", "tail", "code"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_an_unhealthy_container_is_said_in_the_same_words_at_up_and_after_a_save(
    reason: str, tail: tuple[str, ...], code: int | None
) -> None:
    result = CheckFailed("web", 1, reason, tail, 1, code)
    at_up = [e for e in through_up(result) if isinstance(e, ev.Unhealthy)]
    at_save = [e for e in through_a_save(result) if isinstance(e, ev.RolledBack)]
    assert len(at_up) == len(at_save) == 1
    said = {(at_up[0].reason, at_up[0].log_tail), (at_save[0].reason, at_save[0].log_tail)}
    assert said == {(reason, tail)}


def test_a_build_error_is_said_in_the_same_words_at_up_and_after_a_save() -> None:
    run = Run()
    run(UpRequested((request("web", BUILD, fallback="sha256:old"),)))
    run(BuildErrored("web", 1, "RUN pip install", ("No matching distribution",)))
    save = Run()
    save(Started("web", Serving("old", "sha256:old", "digest-old")))
    save(Changed("web", Action.REBUILD, frozenset(), 0.0))
    save(ContextHashed("web", 1, "digest-new"))
    save(BuildErrored("web", 1, "RUN pip install", ("No matching distribution",)))
    assert run.said(ev.BuildFailed) == save.said(ev.BuildFailed)


def test_a_lost_engine_is_said_in_the_same_words_at_up_and_after_a_save() -> None:
    message = "the Docker engine does not answer (connection refused)"
    run = Run()
    run(UpRequested((request("web", REUSE),)))
    run(ReplicaStarted("web", 1, 1, "new"))
    run(EffectFailed(CheckHealth("web", 1, "new"), message, engine_lost=True))
    save = Run()
    save(Started("web", Serving("old", "sha256:old", "digest-old")))
    save(Changed("web", Action.RECREATE, frozenset(), 0.0))
    save(Swapped("web", 1, "new"))
    save(EffectFailed(CheckHealth("web", 1, "new"), message, engine_lost=True))
    assert run.said(ev.EngineLost) == save.said(ev.EngineLost) == [ev.EngineLost(message)]


# ── through the real scheduler, with a scripted executor ──────────────────────────────────


def test_up_through_the_scheduler_starts_each_service_once_its_conditions_hold() -> None:
    import asyncio

    from fakes import FakeClock, FakeRunner

    from composewatch.scheduler import Scheduler

    requests = (request("db"), request("api", needs=(("db", H),)), request("web", REUSE))

    def script(effect: Effect) -> Input | None:
        match effect:
            case ObserveUp():
                return UpRequested(requests)
            case PullImage(service, generation):
                return ImageReady(service, generation, f"sha256:{service}")
            case StartReplica(service, generation, number=number):
                return ReplicaStarted(service, generation, number, f"{service}-1")
            case CreateAhead(service, generation, number=number):
                return CreatedAhead(service, generation, number, f"{service}-1")
            case CheckHealth(service, generation, number=number):
                return Healthy(service, generation, number)
            case Commit(service, generation):
                return Committed(service, generation)
            case WatchStatus(service):
                return StatusRead(service, HEALTHY)
        return None

    runner = FakeRunner(script)
    scheduler = Scheduler(runner, max_parallel_builds=2, clock=FakeClock())

    async def up() -> None:
        scheduler.handle(UpAsked(("db", "api", "web")))
        task = asyncio.create_task(scheduler.run())
        await asyncio.wait_for(scheduler.until(lambda s: s.up_done), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(up())
    started = [e.service for e in runner.sink.events if isinstance(e, ev.ServiceStarted)]
    assert sorted(started) == ["api", "db", "web"]
    (api,) = [e for e in runner.ran if isinstance(e, StartReplica) and e.service == "api"]
    assert runner.ran.index(api) > min(
        i for i, e in enumerate(runner.ran) if isinstance(e, WatchStatus)
    )  # api started only once db's status was read
    assert scheduler.state.up_error is None and not scheduler.state.unhealthy
