"""The per-service state machine, driven input by input with an explicit clock."""

from __future__ import annotations

from pathlib import Path

from composewatch import events as ev
from composewatch.mapping import Action
from composewatch.state import (
    BuildFailed,
    BuildSkipped,
    BuildSucceeded,
    CancelBuild,
    Changed,
    CheckHealth,
    Commit,
    Effect,
    Healthy,
    Phase,
    ProjectState,
    Report,
    Rollback,
    RolledBack,
    StartBuild,
    Swap,
    Swapped,
    Synced,
    SyncFiles,
    Unhealthy,
    step,
)

APP = Path("/src/app.py")


def changed(service: str = "web", at: float = 0.0, action: Action = Action.REBUILD) -> Changed:
    return Changed(service, action, frozenset({APP}), saved_at=at)


def work(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if not isinstance(e, Report)]


def reports(effects: list[Effect]) -> list[ev.Event]:
    return [e.event for e in effects if isinstance(e, Report)]


def run(state: ProjectState, *inputs: tuple[object, float]) -> tuple[ProjectState, list[Effect]]:
    effects: list[Effect] = []
    for event, now in inputs:
        state, new = step(state, event, now)  # type: ignore[arg-type]
        effects.extend(new)
    return state, effects


def test_a_save_goes_build_swap_check_live_with_timings() -> None:
    state, effects = run(ProjectState(), (changed(at=10.0), 10.05))
    assert work(effects) == [StartBuild("web", 1)]
    state, effects = run(state, (BuildSucceeded("web", 1, "sha256:new"), 10.45))
    assert work(effects) == [Swap("web", 1, "sha256:new")]
    state, effects = run(state, (Swapped("web", 1), 10.75))
    assert work(effects) == [CheckHealth("web", 1)]
    state, effects = run(state, (Healthy("web", 1), 10.95))
    assert work(effects) == [Commit("web", 1)]
    (live,) = [e for e in reports(effects) if isinstance(e, ev.Live)]
    assert live.since_save_s is not None and abs(live.since_save_s - 0.95) < 1e-9
    assert [name for name, _ in live.timings] == ["detect", "building", "swapping", "checking"]
    assert [round(s, 2) for _, s in live.timings] == [0.05, 0.4, 0.3, 0.2]


def test_steps_measured_at_the_edge_replace_their_phase_in_the_breakdown() -> None:
    state, _ = run(
        ProjectState(),
        (changed(at=0.0), 0.05),
        (BuildSucceeded("web", 1, "img", (("context", 0.01), ("build", 0.2))), 0.26),
        (Swapped("web", 1, (("create", 0.02), ("stop", 0.1), ("start", 0.2))), 0.6),
    )
    state, effects = run(state, (Healthy("web", 1), 0.7))
    (live,) = [e for e in reports(effects) if isinstance(e, ev.Live)]
    assert [name for name, _ in live.timings] == [
        "detect",
        "context",
        "build",
        "create",
        "stop",
        "start",
        "checking",
    ]
    assert state.service("web").phase is Phase.IDLE


def test_a_save_during_a_build_cancels_it_and_builds_the_newest_code() -> None:
    state, _ = run(ProjectState(), (changed(at=1.0), 1.0))
    state, effects = run(state, (changed(at=2.0), 2.0))
    assert work(effects) == [CancelBuild("web", 1), StartBuild("web", 2)]
    # The cancelled build's late result is stale and ignored.
    state, effects = run(state, (BuildSucceeded("web", 1, "sha256:old"), 2.1))
    assert effects == [] and state.service("web").phase is Phase.BUILDING
    state, effects = run(state, (BuildSucceeded("web", 2, "sha256:new"), 2.5))
    assert work(effects) == [Swap("web", 2, "sha256:new")]
    # The round still reports from the first unserved save.
    state, effects = run(state, (Swapped("web", 2), 2.6), (Healthy("web", 2), 2.7))
    (live,) = [e for e in reports(effects) if isinstance(e, ev.Live)]
    assert live.since_save_s is not None and abs(live.since_save_s - 1.7) < 1e-9


def test_saves_during_swap_and_check_are_kept_and_build_once_afterwards() -> None:
    state, _ = run(
        ProjectState(),
        (changed(at=0.0), 0.0),
        (BuildSucceeded("web", 1, "img1"), 0.4),
    )
    state, effects = run(state, (changed(at=0.5), 0.5), (changed(at=0.6), 0.6))
    assert work(effects) == []
    state, effects = run(state, (Swapped("web", 1), 0.7), (Healthy("web", 1), 0.8))
    assert work(effects) == [CheckHealth("web", 1), Commit("web", 1), StartBuild("web", 2)]
    assert state.service("web").saved_at == 0.5


def test_a_failed_build_keeps_the_old_container_and_the_next_save_retries() -> None:
    state, effects = run(
        ProjectState(),
        (changed(), 0.0),
        (BuildFailed("web", 1, "Step 3/5 : RUN exit 3", ("x",)), 1.0),
    )
    assert work(effects) == [StartBuild("web", 1)]
    assert any(isinstance(e, ev.BuildFailed) for e in reports(effects))
    assert state.service("web").phase is Phase.IDLE
    state, effects = run(state, (changed(at=2.0), 2.0))
    assert work(effects) == [StartBuild("web", 2)]


def test_an_unhealthy_container_is_rolled_back() -> None:
    state, effects = run(
        ProjectState(),
        (changed(), 0.0),
        (BuildSucceeded("web", 1, "img"), 0.1),
        (Swapped("web", 1), 0.2),
        (Unhealthy("web", 1, "HTTP 500 from http://127.0.0.1:5000/"), 5.0),
    )
    assert work(effects)[-1] == Rollback("web", 1, "HTTP 500 from http://127.0.0.1:5000/")
    # Reported only once the old container serves again.
    assert not any(isinstance(e, ev.RolledBack) for e in reports(effects))
    assert state.service("web").phase is Phase.ROLLING_BACK
    state, effects = run(state, (changed(at=5.5), 5.5))
    assert work(effects) == []  # kept until the rollback is done
    state, effects = run(state, (RolledBack("web", 1, "HTTP 500"), 6.0))
    assert any(isinstance(e, ev.RolledBack) for e in reports(effects))
    assert work(effects) == [StartBuild("web", 2)]


def test_an_unchanged_context_skips_the_swap() -> None:
    state, effects = run(ProjectState(), (changed(), 0.0), (BuildSkipped("web", 1), 0.01))
    assert work(effects) == [StartBuild("web", 1)]
    assert any(isinstance(e, ev.BuildUnchanged) for e in reports(effects))
    assert state.service("web").phase is Phase.IDLE


def test_builds_beyond_the_slots_wait_and_say_for_whom() -> None:
    state = ProjectState(max_parallel_builds=2)
    state, effects = run(state, (changed("a"), 0.0), (changed("b"), 0.0), (changed("c"), 0.0))
    assert work(effects) == [StartBuild("a", 1), StartBuild("b", 1)]
    (queued,) = [e for e in reports(effects) if isinstance(e, ev.BuildQueued)]
    assert queued.service == "c" and queued.waiting_for == ("a", "b")
    state, effects = run(state, (BuildFailed("a", 1, "boom"), 0.5))
    assert work(effects) == [StartBuild("c", 1)]
    assert state.queue == ()


def test_a_finished_build_frees_its_slot_for_the_queue() -> None:
    state = ProjectState(max_parallel_builds=1)
    state, _ = run(state, (changed("a"), 0.0), (changed("b"), 0.0))
    state, effects = run(state, (BuildSucceeded("a", 1, "img"), 0.3))
    assert work(effects) == [Swap("a", 1, "img"), StartBuild("b", 1)]


def test_sync_rules_copy_files_without_building() -> None:
    state, effects = run(ProjectState(), (changed(action=Action.SYNC), 0.0))
    assert work(effects) == [SyncFiles("web", 1, frozenset({APP}), restart=False)]
    state, effects = run(state, (Synced("web", 1, restarted=False), 0.05))
    assert any(isinstance(e, ev.Live) for e in reports(effects))
    state, effects = run(state, (changed(action=Action.SYNC_RESTART), 1.0))
    assert work(effects) == [SyncFiles("web", 2, frozenset({APP}), restart=True)]
    state, effects = run(state, (Synced("web", 2, restarted=True), 1.2))
    assert work(effects) == [CheckHealth("web", 2)]


def test_a_rebuild_change_during_a_sync_is_kept() -> None:
    state, _ = run(ProjectState(), (changed(action=Action.SYNC), 0.0))
    state, effects = run(state, (changed(action=Action.REBUILD), 0.01))
    assert work(effects) == []
    state, effects = run(state, (Synced("web", 1, restarted=False), 0.05))
    assert work(effects) == [StartBuild("web", 2)]


def test_a_configuration_change_swaps_without_building() -> None:
    state, effects = run(ProjectState(), (changed(action=Action.RECREATE), 0.0))
    assert work(effects) == [Swap("web", 1, None)]
    # A code change arriving meanwhile is kept and built afterwards.
    state, effects = run(state, (changed(at=0.1), 0.1))
    assert work(effects) == []
    state, effects = run(state, (Swapped("web", 1), 0.3), (Healthy("web", 1), 0.4))
    assert work(effects) == [CheckHealth("web", 1), Commit("web", 1), StartBuild("web", 2)]
