"""The in-place round of the state machine, input by input with an explicit clock: copy and
restart, check, live, the image's catch-up build in the background, and what a failure or a
newer save does to each of them. Every effect list is asserted exactly."""

from __future__ import annotations

from pathlib import Path

from composewatch import events as ev
from composewatch.core.action import Action, merge_actions
from composewatch.core.effects import (
    CancelBuild,
    CheckHealth,
    Commit,
    Effect,
    Exchange,
    HashContext,
    Report,
    Serving,
    StartBuild,
    Swap,
    UpdateInPlace,
)
from composewatch.core.inplace import Copy
from composewatch.core.inputs import (
    BuildErrored,
    BuildSucceeded,
    Changed,
    CheckFailed,
    Committed,
    ContextHashed,
    EffectFailed,
    Healthy,
    Input,
    Started,
    Stopping,
    Swapped,
    UpdatedInPlace,
    UpdateFailed,
)
from composewatch.core.phases import Phase, ProjectState
from composewatch.core.state import step

APP = Path("/src/app.py")
LIB = Path("/src/lib.py")
COPY_APP = Copy(APP, "/app/app.py", line=8)
COPY_LIB = Copy(LIB, "/app/lib.py", line=8)
WHY = "in place: COPY . . at Dockerfile:8"


def save(at: float, *copies: Copy, action: Action = Action.UPDATE, service: str = "web") -> Changed:
    paths = frozenset(c.source for c in copies) or frozenset({APP})
    return Changed(service, action, paths, at, copies or (COPY_APP,), WHY)


def run(state: ProjectState, *inputs: tuple[Input, float]) -> tuple[ProjectState, list[Effect]]:
    effects: list[Effect] = []
    for event, now in inputs:
        state, new = step(state, event, now)
        effects.extend(new)
    return state, effects


def work(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if not isinstance(e, Report)]


def reports(effects: list[Effect]) -> list[ev.Event]:
    return [e.event for e in effects if isinstance(e, Report)]


def serving(*containers: str, max_parallel_builds: int = 2) -> ProjectState:
    first, *rest = containers or ("c1",)
    state = ProjectState(max_parallel_builds=max_parallel_builds)
    state, _ = step(state, Started("web", Serving(first, "sha256:old", "d0", tuple(rest))), 0.0)
    return state


def live(state: ProjectState, at: float = 10.0) -> tuple[ProjectState, list[Effect]]:
    """A save updated in place and found healthy."""
    return run(
        state,
        (save(at), at + 0.03),
        (UpdatedInPlace("web", 1, (("copy", 0.01), ("restart", 0.4))), at + 0.45),
        (Healthy("web", 1), at + 0.6),
    )


def test_an_in_place_save_copies_restarts_checks_goes_live_then_the_image_catches_up() -> None:
    state, effects = run(serving(), (save(10.0), 10.03))
    assert work(effects) == [UpdateInPlace("web", 1, "c1", (COPY_APP,), 1)]
    assert reports(effects) == [ev.UpdateStarted("web", (str(APP),), WHY)]
    assert state.service("web").phase is Phase.UPDATING
    state, effects = run(
        state, (UpdatedInPlace("web", 1, (("copy", 0.01), ("restart", 0.4))), 10.45)
    )
    assert work(effects) == [CheckHealth("web", 1, "c1")]
    state, effects = run(state, (Healthy("web", 1), 10.6))
    # Live first, then the build that brings the image up to the container, off the path.
    (live_event, started) = reports(effects)
    assert isinstance(live_event, ev.Live) and live_event.how == "in place"
    assert [n for n, _ in live_event.timings] == ["detect", "copy", "restart", "checking"]
    assert [round(s, 2) for _, s in live_event.timings] == [0.03, 0.01, 0.4, 0.15]
    assert live_event.since_save_s is not None and round(live_event.since_save_s, 2) == 0.6
    assert started == ev.BuildStarted(
        "web", (str(APP),), "the image catches up with the container", background=True
    )
    assert work(effects) == [HashContext("web", 2)]
    web = state.service("web")
    assert web.phase is Phase.BUILDING and web.background and web.behind
    state, effects = run(state, (ContextHashed("web", 2, "d2"), 10.7))
    assert work(effects) == [StartBuild("web", 2, "d2")]
    state, effects = run(state, (BuildSucceeded("web", 2, "sha256:new"), 11.5))
    # The image caught up: it now stands for the container, which is not touched again.
    assert work(effects) == []
    (caught_up,) = reports(effects)
    assert isinstance(caught_up, ev.ImageCaughtUp) and round(caught_up.seconds, 2) == 0.9
    web = state.service("web")
    assert web.serving == Serving("c1", "sha256:new", "d2")
    assert web.phase is Phase.IDLE and not web.behind


def test_replicas_are_updated_one_at_a_time_each_found_healthy_first() -> None:
    state, effects = run(serving("c1", "c2", "c3"), (save(0.0), 0.03))
    assert work(effects) == [UpdateInPlace("web", 1, "c1", (COPY_APP,), 1)]
    state, effects = run(state, (UpdatedInPlace("web", 1), 0.5), (Healthy("web", 1), 0.6))
    assert work(effects) == [
        CheckHealth("web", 1, "c1"),
        UpdateInPlace("web", 1, "c2", (COPY_APP,), 2),
    ]
    assert not any(isinstance(e, ev.Live) for e in reports(effects))
    state, effects = run(
        state,
        (UpdatedInPlace("web", 1), 1.0),
        (Healthy("web", 1), 1.1),
        (UpdatedInPlace("web", 1), 1.5),
        (Healthy("web", 1), 1.6),
    )
    assert work(effects) == [
        CheckHealth("web", 1, "c2"),
        UpdateInPlace("web", 1, "c3", (COPY_APP,), 3),
        CheckHealth("web", 1, "c3"),
        HashContext("web", 2),
    ]
    assert [type(e) for e in reports(effects)] == [
        ev.CheckStarted,
        ev.CheckStarted,
        ev.Live,
        ev.BuildStarted,
    ]


def test_an_unhealthy_update_puts_back_a_container_of_the_image_that_served() -> None:
    state, _ = run(serving(), (save(0.0), 0.03), (UpdatedInPlace("web", 1), 0.5))
    state, effects = run(
        state, (CheckFailed("web", 1, "container exited with code 1", ("boom",)), 2.0)
    )
    assert work(effects) == [Swap("web", 1, "sha256:old", "c1", 1)]
    assert reports(effects) == []  # said once the old code serves again
    state, effects = run(state, (Swapped("web", 1, "c9"), 2.5), (Healthy("web", 1), 2.7))
    assert work(effects) == [
        CheckHealth("web", 1, "c9"),
        Commit("web", 1, (Exchange(1, "c9", "c1"),)),
    ]
    assert not any(isinstance(e, ev.Live) for e in reports(effects))  # no new code went live
    state, effects = run(state, (Committed("web", 1), 2.8))
    assert reports(effects) == [ev.RolledBack("web", "container exited with code 1", ("boom",))]
    web = state.service("web")
    assert web.serving == Serving("c9", "sha256:old", "d0") and not web.behind
    assert web.phase is Phase.IDLE and work(effects) == []


def test_a_failed_copy_builds_and_swaps_the_same_save_instead() -> None:
    state, _ = run(serving(), (save(0.0), 0.03))
    state, effects = run(state, (UpdateFailed("web", 1, "'rm' exited with 127"), 0.1))
    assert work(effects) == [HashContext("web", 2)]
    (started,) = reports(effects)
    assert started == ev.BuildStarted(
        "web", (str(APP),), "rebuild: the in-place update failed ('rm' exited with 127)"
    )
    # An exception in the executor is the same failure.
    state, _ = run(serving(), (save(0.0), 0.03))
    effect = UpdateInPlace("web", 1, "c1", (COPY_APP,), 1)
    state, effects = run(state, (EffectFailed(effect, "no space left"), 0.1))
    assert work(effects) == [HashContext("web", 2)]


def test_a_newer_save_cancels_the_catch_up_and_goes_first() -> None:
    state, _ = live(serving())
    assert state.service("web").background
    state, effects = run(state, (save(20.0, COPY_LIB), 20.03))
    assert work(effects) == [CancelBuild("web", 2), UpdateInPlace("web", 3, "c1", (COPY_LIB,), 1)]
    # the cancelled build's late result is stale
    state, effects = run(state, (BuildSucceeded("web", 2, "sha256:stale"), 20.1))
    assert effects == [] and state.service("web").serving == Serving("c1", "sha256:old", "d0")


def test_saves_while_updating_wait_and_merge_their_files() -> None:
    state, _ = run(serving(), (save(0.0), 0.03))
    state, effects = run(state, (save(0.1, COPY_LIB), 0.12), (save(0.2, COPY_APP), 0.22))
    assert effects == []
    web = state.service("web")
    assert web.pending is Action.UPDATE and web.pending_copies == (COPY_LIB, COPY_APP)
    state, effects = run(state, (UpdatedInPlace("web", 1), 0.5))
    # The next round starts at once with both files, unchecked code being stale already;
    # its own check and catch-up follow it.
    assert work(effects) == [UpdateInPlace("web", 2, "c1", (COPY_LIB, COPY_APP), 1)]
    assert not [e for e in reports(effects) if isinstance(e, ev.Live)]
    state, effects = run(state, (Healthy("web", 1), 0.6))  # a stale result
    assert effects == []
    state, effects = run(state, (UpdatedInPlace("web", 2), 1.0), (Healthy("web", 2), 1.2))
    assert work(effects) == [CheckHealth("web", 2, "c1"), HashContext("web", 3)]
    (live_event,) = [e for e in reports(effects) if isinstance(e, ev.Live)]
    assert live_event.since_save_s is not None and round(live_event.since_save_s, 2) == 1.1


def test_a_recreate_while_the_image_is_behind_builds_first() -> None:
    state, _ = live(serving())
    state, _ = run(state, (EffectFailed(StartBuild("web", 2, "d2"), "cache error"), 11.0))
    assert state.service("web").behind and state.service("web").phase is Phase.IDLE
    state, effects = run(state, (save(12.0, action=Action.RECREATE), 12.03))
    assert work(effects) == [HashContext("web", 3)]
    assert reports(effects)[0] == ev.BuildStarted(
        "web", (str(APP),), "rebuild: the image has not caught up with the container"
    )


def test_a_failed_catch_up_says_so_and_leaves_the_container_serving() -> None:
    state, _ = live(serving())
    state, _ = run(state, (ContextHashed("web", 2, "d2"), 11.0))
    state, effects = run(state, (BuildErrored("web", 2, "RUN false", ("x",)), 11.5))
    assert work(effects) == []
    (failed,) = reports(effects)
    assert isinstance(failed, ev.BuildFailed)
    assert failed.message == "the image could not catch up with the container: RUN false"
    assert state.service("web").behind and state.service("web").serving is not None


def test_stopping_during_an_update_leaves_the_updated_container_as_it_is() -> None:
    state, _ = run(serving(), (save(0.0), 0.03))
    state, effects = run(state, (Stopping(), 0.1))
    assert work(effects) == []  # the copy and restart in flight settle it
    state, effects = run(state, (UpdatedInPlace("web", 1), 0.5))
    assert work(effects) == [] and state.service("web").phase is Phase.IDLE
    assert state.service("web").behind


def test_an_update_and_a_recreate_met_in_one_round_need_a_build() -> None:
    assert merge_actions(Action.UPDATE, Action.RECREATE) is Action.REBUILD
    assert merge_actions(Action.RECREATE, Action.UPDATE) is Action.REBUILD
    assert merge_actions(Action.UPDATE, Action.UPDATE) is Action.UPDATE
    assert merge_actions(Action.UPDATE, Action.REBUILD) is Action.REBUILD
    assert merge_actions(Action.SYNC, Action.UPDATE) is Action.UPDATE


def test_without_a_container_an_update_is_a_build() -> None:
    _, effects = run(ProjectState(), (save(0.0), 0.03))
    assert work(effects) == [HashContext("web", 1)]
    assert reports(effects)[0] == ev.BuildStarted(
        "web", (str(APP),), "rebuild: no container runs to update in place"
    )


def test_a_catch_up_whose_context_the_image_already_holds_says_so() -> None:
    state, _ = live(serving())
    state, effects = run(state, (ContextHashed("web", 2, "d0"), 11.0))  # the serving digest
    assert work(effects) == []
    (caught_up,) = reports(effects)
    assert isinstance(caught_up, ev.ImageCaughtUp)
    assert not state.service("web").behind and state.service("web").phase is Phase.IDLE
