"""A round's breakdown says where its time went, under names that match what happened, so
the slow-phase hints blame the phase that was slow: a storm's superseded builds, a wait for
the engine or for the round before are named as such, and a sync round says whether it
synced, restarted or both."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import ListSink

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import Report, Serving, StartBuild
from composewatch.core.inputs import (
    BuildSucceeded,
    Changed,
    Committed,
    ContextHashed,
    EffectFailed,
    EngineAnswered,
    Healthy,
    Input,
    Started,
    Swapped,
    Synced,
)
from composewatch.core.phases import ProjectState
from composewatch.core.state import step
from composewatch.hints import HintingUI

APP = Path("/src/app.py")


def run(state: ProjectState, *inputs: tuple[Input, float]) -> tuple[ProjectState, list[ev.Event]]:
    said: list[ev.Event] = []
    for event, now in inputs:
        state, effects = step(state, event, now)
        said.extend(e.event for e in effects if isinstance(e, Report))
    return state, said


def serving(*names: str) -> ProjectState:
    state = ProjectState()
    for name in names or ("web",):
        state, _ = step(state, Started(name, Serving(f"{name}-old", "sha256:old", "d0")), 0.0)
    return state


def save(at: float, action: Action = Action.REBUILD, service: str = "web") -> Changed:
    return Changed(service, action, frozenset({APP}), saved_at=at)


def live(said: list[ev.Event], service: str = "web") -> dict[str, float]:
    (found,) = [e for e in said if isinstance(e, ev.Live) and e.service == service]
    return {name: round(seconds, 2) for name, seconds in found.timings}


def hints(said: list[ev.Event]) -> list[str]:
    sink = ListSink()
    ui = HintingUI(sink)
    for event in said:
        ui(event)
    return [e.message for e in sink.of(ev.Note) if isinstance(e, ev.Note)]


def test_a_storm_of_saves_is_superseded_time_not_a_slow_build_or_context() -> None:
    # Ten saves 2 s apart, each noticed 50 ms later, each superseding the build in flight.
    inputs: list[tuple[Input, float]] = []
    for n in range(10):
        inputs.append((save(at=2.0 * n), 2.0 * n + 0.05))
    last = 10  # the tenth save's round is generation 10
    inputs += [
        (ContextHashed("web", last, "d1"), 18.1),
        (BuildSucceeded("web", last, "sha256:new", (("context", 0.05), ("build", 0.3))), 18.4),
        (Swapped("web", last, "web-new", (("create", 0.05), ("stop", 0.1), ("start", 0.1))), 18.7),
        (Healthy("web", last), 18.8),
    ]
    _, said = run(serving(), *inputs)
    assert live(said) == {
        "detect": 0.05,
        "superseded": 18.0,
        "context": 0.05,
        "build": 0.3,
        "create": 0.05,
        "stop": 0.1,
        "start": 0.1,
        "checking": 0.1,
    }
    assert hints(said) == []  # 18 s of superseded builds is not a slow build


def test_an_engine_outage_is_waiting_not_a_slow_watcher() -> None:
    _, said = run(
        serving(),
        (save(at=0.0), 0.05),
        (ContextHashed("web", 1, "d1"), 0.1),
        (EffectFailed(StartBuild("web", 1, "d1"), "gone", engine_lost=True), 0.5),
        (save(at=2.0), 2.04),  # saved while the engine is away: kept
        (EngineAnswered(6.5, frozenset({"web-old"})), 7.0),
        (ContextHashed("web", 2, "d2"), 7.1),
        (BuildSucceeded("web", 2, "sha256:new"), 7.4),
        (Swapped("web", 2, "web-new"), 7.6),
        (Healthy("web", 2), 7.7),
    )
    assert live(said) == {
        "detect": 0.05,
        "waiting": 6.95,
        "building": 0.4,
        "swapping": 0.2,
        "checking": 0.1,
    }
    assert hints(said) == []


def test_a_save_kept_while_the_round_before_ran_waited_and_did_not_detect() -> None:
    state, _ = run(
        serving(),
        (save(at=0.0), 0.05),
        (ContextHashed("web", 1, "d1"), 0.1),
        (BuildSucceeded("web", 1, "sha256:1"), 0.4),
        (Swapped("web", 1, "web-1"), 0.6),
        (save(at=1.0), 1.05),  # while checking: kept for the next round
    )
    state, said = run(
        state,
        (Healthy("web", 1), 5.0),
        (Committed("web", 1), 5.1),
        (ContextHashed("web", 2, "d2"), 5.2),
        (BuildSucceeded("web", 2, "sha256:2"), 5.5),
        (Swapped("web", 2, "web-2"), 5.7),
        (Healthy("web", 2), 5.8),
    )
    second = [e for e in said if isinstance(e, ev.Live)][-1]
    assert {k: round(v, 2) for k, v in second.timings}["detect"] == 0.05
    assert {k: round(v, 2) for k, v in second.timings}["waiting"] == 4.05
    assert hints(said) == []


def test_a_dependent_restarted_after_its_dependency_waited_for_it() -> None:
    state = ProjectState(
        services=serving("db", "web").services, dependents={"db": (("web", Action.RESTART),)}
    )
    state, said = run(
        state,
        (save(at=0.0, service="db"), 0.05),
        (ContextHashed("db", 1, "d1"), 0.1),
        (BuildSucceeded("db", 1, "sha256:db"), 3.0),
        (Swapped("db", 1, "db-new"), 3.2),
        (Healthy("db", 1), 3.5),
        (Committed("db", 1), 3.6),
        (Synced("web", 1, restarted=True), 4.0),
        (Healthy("web", 1), 4.5),
    )
    assert live(said, "web") == {"detect": 0.0, "waiting": 3.6, "restart": 0.4, "checking": 0.5}
    assert hints(said) == []


@pytest.mark.parametrize(
    ("action", "restarted", "name"),
    [
        (Action.SYNC, False, "sync"),
        (Action.RESTART, True, "restart"),
        (Action.SYNC_RESTART, True, "sync+restart"),
    ],
)
def test_a_sync_round_is_named_by_what_it_did(action: Action, restarted: bool, name: str) -> None:
    inputs: list[tuple[Input, float]] = [(save(at=0.0, action=action), 0.05)]
    inputs.append((Synced("web", 1, restarted=restarted), 0.5))
    if restarted:
        inputs.append((Healthy("web", 1), 0.7))
    _, said = run(serving(), *inputs)
    assert list(live(said)) == ["detect", name, *(["checking"] if restarted else [])]
    assert live(said)[name] == 0.45


def test_a_slow_phase_is_still_hinted() -> None:
    _, said = run(
        serving(),
        (save(at=0.0), 2.5),  # the watcher took 2.5 s to hand the save over
        (ContextHashed("web", 1, "d1"), 2.6),
        (BuildSucceeded("web", 1, "sha256:new", (("context", 3.0), ("build", 0.3))), 6.0),
        (Swapped("web", 1, "web-new"), 6.2),
        (Healthy("web", 1), 6.3),
    )
    said_hints = hints(said)
    assert any(h.startswith("web: detect took 2.5 s") for h in said_hints)
    assert any(h.startswith("web: context took 3.0 s") for h in said_hints)
