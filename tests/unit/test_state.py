"""The per-service state machine, driven input by input with an explicit clock.

Every effect list is asserted exactly, stale results included: the core is the only place
that decides, so this table is where the loop's behaviour is pinned down.
"""

from __future__ import annotations

from pathlib import Path

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import (
    CancelBuild,
    CheckHealth,
    Commit,
    Effect,
    Exchange,
    HashContext,
    Report,
    Rollback,
    Serving,
    StartBuild,
    Swap,
    SyncFiles,
    WatchEngine,
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
    EngineAnswered,
    Healthy,
    Input,
    Rescaled,
    RollbackDone,
    Started,
    Stopping,
    Swapped,
    Synced,
)
from composewatch.core.phases import Phase, ProjectState
from composewatch.core.state import step
from composewatch.core.sync import SyncCommand

APP = Path("/src/app.py")
TO_APP = (Copy(APP, "/app/app.py"),)  # a sync rule's copy of APP
HUP = (SyncCommand(0, ("kill", "-HUP", "1")),)  # a sync+exec rule's command
OLD = Serving("old-container", "sha256:old", "digest-old")


def changed(service: str = "web", at: float = 0.0, action: Action = Action.REBUILD) -> Changed:
    if action in (Action.SYNC, Action.SYNC_RESTART):  # mapping hands a sync its copies
        return Changed(service, action, frozenset({APP}), at, TO_APP)
    return Changed(service, action, frozenset({APP}), saved_at=at)


def work(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if not isinstance(e, Report)]


def reports(effects: list[Effect]) -> list[ev.Event]:
    return [e.event for e in effects if isinstance(e, Report)]


def run(state: ProjectState, *inputs: tuple[Input, float]) -> tuple[ProjectState, list[Effect]]:
    effects: list[Effect] = []
    for event, now in inputs:
        state, new = step(state, event, now)
        effects.extend(new)
    return state, effects


def serving(*services: str, max_parallel_builds: int = 2) -> ProjectState:
    """A project whose services run `OLD`-like containers, as `up` leaves it."""
    state = ProjectState(max_parallel_builds=max_parallel_builds)
    for name in services or ("web",):
        state, _ = step(
            state, Started(name, Serving(f"{name}-old", "sha256:old", "digest-old")), 0.0
        )
    return state


def built(state: ProjectState, service: str = "web", gen: int = 1, at: float = 0.0) -> ProjectState:
    """Through hashing and building to the swap."""
    state, _ = run(
        state,
        (changed(service, at=at), at),
        (ContextHashed(service, gen, f"digest-{gen}"), at),
        (BuildSucceeded(service, gen, f"sha256:new{gen}"), at),
    )
    return state


def test_a_save_goes_hash_build_swap_check_commit_with_timings() -> None:
    state, effects = run(serving(), (changed(at=10.0), 10.05))
    assert work(effects) == [HashContext("web", 1)]
    state, effects = run(state, (ContextHashed("web", 1, "d1"), 10.06))
    assert work(effects) == [StartBuild("web", 1, "d1")]
    state, effects = run(state, (BuildSucceeded("web", 1, "sha256:new"), 10.45))
    assert work(effects) == [Swap("web", 1, "sha256:new", "web-old")]
    state, effects = run(state, (Swapped("web", 1, "web-new"), 10.75))
    assert work(effects) == [CheckHealth("web", 1, "web-new")]
    assert reports(effects) == [ev.CheckStarted("web")]  # the live view shows "checking"
    state, effects = run(state, (Healthy("web", 1), 10.95))
    assert work(effects) == [Commit("web", 1, (Exchange(1, "web-new", "web-old"),))]
    (live,) = [e for e in reports(effects) if isinstance(e, ev.Live)]
    assert live.since_save_s is not None and abs(live.since_save_s - 0.95) < 1e-9
    assert [name for name, _ in live.timings] == ["detect", "building", "swapping", "checking"]
    assert [round(s, 2) for _, s in live.timings] == [0.05, 0.4, 0.3, 0.2]
    # What serves changed in the core's state, and only through this step.
    assert state.service("web").serving == Serving("web-new", "sha256:new", "d1")
    assert state.service("web").phase is Phase.COMMITTING
    state, effects = run(state, (Committed("web", 1), 11.0))
    assert effects == [] and state.service("web").phase is Phase.IDLE
    assert state.service("web").settle is None


def test_steps_measured_at_the_edge_replace_their_phase_in_the_breakdown() -> None:
    state, _ = run(
        serving(),
        (changed(at=0.0), 0.05),
        (ContextHashed("web", 1, "d"), 0.05),
        (BuildSucceeded("web", 1, "img", (("context", 0.01), ("build", 0.2))), 0.26),
        (Swapped("web", 1, "new", (("create", 0.02), ("stop", 0.1), ("start", 0.2))), 0.6),
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


def test_an_unchanged_context_or_image_ends_the_round_without_a_swap() -> None:
    state, effects = run(serving(), (changed(), 0.0), (ContextHashed("web", 1, "digest-old"), 0.01))
    assert work(effects) == [HashContext("web", 1)]
    assert any(isinstance(e, ev.BuildUnchanged) for e in reports(effects))
    state, effects = run(
        state,
        (changed(at=1.0), 1.0),
        (ContextHashed("web", 2, "d2"), 1.0),
        (BuildSucceeded("web", 2, "sha256:old"), 1.5),  # Docker's cache: the same image
    )
    assert work(effects) == [HashContext("web", 2), StartBuild("web", 2, "d2")]
    assert state.service("web").phase is Phase.IDLE
    assert state.service("web").serving == Serving("web-old", "sha256:old", "d2")


def test_a_save_during_a_build_cancels_it_and_builds_the_newest_code() -> None:
    state, _ = run(serving(), (changed(at=1.0), 1.0), (ContextHashed("web", 1, "d1"), 1.0))
    state, effects = run(state, (changed(at=2.0), 2.0))
    assert work(effects) == [CancelBuild("web", 1), HashContext("web", 2)]
    # The cancelled build's late result is stale and ignored.
    state, effects = run(state, (BuildSucceeded("web", 1, "sha256:old1"), 2.1))
    assert effects == [] and state.service("web").phase is Phase.BUILDING
    state, effects = run(
        state, (ContextHashed("web", 2, "d2"), 2.2), (BuildSucceeded("web", 2, "img2"), 2.5)
    )
    assert work(effects) == [StartBuild("web", 2, "d2"), Swap("web", 2, "img2", "web-old")]
    state, effects = run(state, (Swapped("web", 2, "n"), 2.6), (Healthy("web", 2), 2.7))
    (live,) = [e for e in reports(effects) if isinstance(e, ev.Live)]
    assert live.since_save_s is not None and abs(live.since_save_s - 1.7) < 1e-9


def test_saves_during_swap_and_check_are_kept_and_build_once_after_the_commit() -> None:
    state = built(serving())
    state, effects = run(state, (changed(at=0.5), 0.5), (changed(at=0.6), 0.6))
    assert work(effects) == []
    state, effects = run(state, (Swapped("web", 1, "n1"), 0.7), (Healthy("web", 1), 0.8))
    assert work(effects) == [
        CheckHealth("web", 1, "n1"),
        Commit("web", 1, (Exchange(1, "n1", "web-old"),)),
    ]
    state, effects = run(state, (Committed("web", 1), 0.85))
    assert work(effects) == [HashContext("web", 2)]
    assert state.service("web").saved_at == 0.5


def test_a_failed_build_keeps_the_old_container_and_the_next_save_retries() -> None:
    state, effects = run(
        serving(),
        (changed(), 0.0),
        (ContextHashed("web", 1, "d"), 0.0),
        (BuildErrored("web", 1, "Step 3/5 : RUN exit 3", ("x",)), 1.0),
    )
    assert any(isinstance(e, ev.BuildFailed) for e in reports(effects))
    assert state.service("web").phase is Phase.IDLE
    assert state.service("web").serving == Serving("web-old", "sha256:old", "digest-old")
    state, effects = run(state, (changed(at=2.0), 2.0))
    assert work(effects) == [HashContext("web", 2)]


def test_an_unhealthy_container_is_rolled_back_with_its_reason_and_logs() -> None:
    state = built(serving())
    state, effects = run(
        state,
        (Swapped("web", 1, "web-new"), 0.2),
        (CheckFailed("web", 1, "container exited with code 1", ("Traceback", "boom")), 5.0),
    )
    assert work(effects)[-1] == Rollback("web", 1, (Exchange(1, "web-new", "web-old"),))
    assert not any(isinstance(e, ev.RolledBack) for e in reports(effects))
    assert state.service("web").phase is Phase.ROLLING_BACK
    state, effects = run(state, (changed(at=5.5), 5.5))
    assert work(effects) == []  # kept until the rollback is done
    state, effects = run(state, (RollbackDone("web", 1), 6.0))
    (rolled,) = [e for e in reports(effects) if isinstance(e, ev.RolledBack)]
    assert rolled == ev.RolledBack("web", "container exited with code 1", ("Traceback", "boom"))
    assert work(effects) == [HashContext("web", 2)]
    assert state.service("web").serving == Serving("web-old", "sha256:old", "digest-old")


def test_builds_beyond_the_slots_wait_and_say_for_whom() -> None:
    state = serving("a", "b", "c")
    state, effects = run(state, (changed("a"), 0.0), (changed("b"), 0.0), (changed("c"), 0.0))
    assert work(effects) == [HashContext("a", 1), HashContext("b", 1)]
    (queued,) = [e for e in reports(effects) if isinstance(e, ev.BuildQueued)]
    assert queued.service == "c" and queued.waiting_for == ("a", "b")
    state, effects = run(state, (BuildErrored("a", 1, "boom"), 0.5))
    assert work(effects) == [HashContext("c", 1)]
    assert state.queue == ()


def test_a_finished_build_frees_its_slot_for_the_queue() -> None:
    state = serving("a", "b", max_parallel_builds=1)
    state, _ = run(state, (changed("a"), 0.0), (changed("b"), 0.0))
    state, effects = run(
        state, (ContextHashed("a", 1, "d"), 0.1), (BuildSucceeded("a", 1, "i"), 0.3)
    )
    assert work(effects) == [
        StartBuild("a", 1, "d"),
        Swap("a", 1, "i", "a-old"),
        HashContext("b", 1),
    ]


def test_sync_rules_copy_files_into_the_serving_container_without_building() -> None:
    state, effects = run(serving(), (changed(action=Action.SYNC), 0.0))
    assert work(effects) == [SyncFiles("web", 1, ("web-old",), TO_APP, (), restart=False)]
    state, effects = run(state, (Synced("web", 1, restarted=False), 0.05))
    assert any(isinstance(e, ev.Live) for e in reports(effects))
    state, effects = run(state, (changed(action=Action.SYNC_RESTART), 1.0))
    assert work(effects) == [SyncFiles("web", 2, ("web-old",), TO_APP, (), restart=True)]
    state, effects = run(state, (Synced("web", 2, restarted=True), 1.2))
    assert work(effects) == [CheckHealth("web", 2, "web-old")]


def test_a_sync_round_carries_the_mapped_copies_and_commands_and_merges_those_saved_meanwhile() -> (
    None
):
    """The executor gets what mapping decided (no rule is matched again); saves that came
    while a sync ran go in the next round, each file and command once, commands in rule order;
    a restart-only round copies nothing."""
    other = (Copy(Path("/src/b.py"), "/app/b.py"),)
    later = (SyncCommand(2, ("touch", "/tmp/reload")),)
    first = Changed("web", Action.SYNC, frozenset({APP}), 0.0, TO_APP, commands=HUP)
    state, effects = run(serving(), (first, 0.0))
    assert work(effects) == [SyncFiles("web", 1, ("web-old",), TO_APP, HUP, restart=False)]
    again = [
        Changed("web", Action.SYNC, frozenset({Path("/src/b.py")}), 0.01, other, commands=later),
        Changed("web", Action.SYNC, frozenset({APP}), 0.02, TO_APP, commands=HUP),
    ]
    state, effects = run(state, (again[0], 0.01), (again[1], 0.02))
    assert work(effects) == []
    state, effects = run(state, (Synced("web", 1, restarted=False), 0.05))
    assert work(effects) == [
        SyncFiles("web", 2, ("web-old",), (*other, *TO_APP), (*HUP, *later), restart=False)
    ]
    state, _ = run(state, (Synced("web", 2, restarted=False), 0.06))
    restart = Changed("web", Action.RESTART, frozenset({APP}), 1.0, TO_APP, commands=HUP)
    _, effects = run(state, (restart, 1.0))
    assert work(effects) == [SyncFiles("web", 3, ("web-old",), (), (), restart=True)]


def test_a_rebuild_change_during_a_sync_is_kept() -> None:
    state, _ = run(serving(), (changed(action=Action.SYNC), 0.0))
    state, effects = run(state, (changed(action=Action.REBUILD), 0.01))
    assert work(effects) == []
    state, effects = run(state, (Synced("web", 1, restarted=False), 0.05))
    assert work(effects) == [HashContext("web", 2)]


def test_a_configuration_change_swaps_the_serving_image_without_building() -> None:
    state, effects = run(serving(), (changed(action=Action.RECREATE), 0.0))
    assert work(effects) == [Swap("web", 1, "sha256:old", "web-old")]
    state, effects = run(state, (changed(at=0.1), 0.1))
    assert work(effects) == []
    state, effects = run(
        state, (Swapped("web", 1, "n"), 0.3), (Healthy("web", 1), 0.4), (Committed("web", 1), 0.5)
    )
    assert work(effects) == [
        CheckHealth("web", 1, "n"),
        Commit("web", 1, (Exchange(1, "n", "web-old"),)),
        HashContext("web", 2),
    ]
    # A recreate keeps the image, hence the digest it was built from.
    assert state.service("web").serving == Serving("n", "sha256:old", "digest-old")


def test_nothing_to_recreate_or_sync_without_a_serving_container() -> None:
    _, effects = run(ProjectState(), (changed(action=Action.RECREATE), 0.0))
    assert work(effects) == [] and [type(e) for e in reports(effects)] == [ev.SwapFailed]
    _, effects = run(ProjectState(), (changed(action=Action.SYNC), 0.0))
    assert work(effects) == [] and [type(e) for e in reports(effects)] == [ev.SyncFailed]


# ── every exception is an input ──────────────────────────────────────────────────────────


def test_an_effect_raising_while_building_frees_the_slot_and_reports() -> None:
    state = serving("a", "b", max_parallel_builds=1)
    state, _ = run(state, (changed("a"), 0.0), (changed("b"), 0.0))
    assert state.service("b").phase is Phase.QUEUED
    failure = EffectFailed(HashContext("a", 1), "FileNotFoundError: app.py vanished")
    state, effects = run(state, (failure, 0.1))
    assert work(effects) == [HashContext("b", 1)]
    assert reports(effects)[0] == ev.BuildFailed("a", "FileNotFoundError: app.py vanished", ())
    assert state.service("a").phase is Phase.IDLE
    state, effects = run(state, (EffectFailed(StartBuild("b", 1, "d"), "boom"), 0.2))
    assert state.service("b").phase is Phase.IDLE and state.building() == []


def test_a_swap_that_raised_is_rolled_back_and_says_why() -> None:
    state = built(serving())
    state, effects = run(state, (EffectFailed(Swap("web", 1, "sha256:new1", "web-old"), "x"), 1))
    assert work(effects) == [Rollback("web", 1, (Exchange(1, None, "web-old"),))]
    state, effects = run(state, (RollbackDone("web", 1), 2))
    assert reports(effects)[-1] == ev.SwapFailed("web", "x")
    assert state.service("web").phase is Phase.IDLE


def test_a_health_check_that_raised_rolls_back() -> None:
    state = built(serving())
    state, _ = run(state, (Swapped("web", 1, "n"), 0.1))
    state, effects = run(state, (EffectFailed(CheckHealth("web", 1, "n"), "NotFound"), 0.2))
    assert work(effects) == [Rollback("web", 1, (Exchange(1, "n", "web-old"),))]


def test_a_failed_commit_is_owed_and_run_before_the_next_round() -> None:
    state = built(serving())
    state, _ = run(state, (Swapped("web", 1, "n"), 0.1), (Healthy("web", 1), 0.2))
    commit = Commit("web", 1, (Exchange(1, "n", "web-old"),))
    state, effects = run(state, (EffectFailed(commit, "rename failed"), 0.3))
    assert work(effects) == []
    assert reports(effects) == [ev.CommitFailed("web", "rename failed")]
    assert state.service("web").settle == commit and state.service("web").phase is Phase.IDLE
    # The next save first finishes the commit, then builds.
    state, effects = run(state, (changed(at=1.0), 1.0))
    assert work(effects) == [commit]
    state, effects = run(state, (Committed("web", 1), 1.1))
    assert work(effects) == [HashContext("web", 2)]


def test_a_stale_effect_failure_is_dropped() -> None:
    state, _ = run(serving(), (changed(at=1.0), 1.0), (changed(at=2.0), 2.0))
    state, effects = run(state, (EffectFailed(HashContext("web", 1), "late"), 2.1))
    assert effects == [] and state.service("web").phase is Phase.BUILDING


def test_a_reporter_or_cancel_raising_changes_nothing() -> None:
    state = built(serving())
    after, effects = run(state, (EffectFailed(Report(ev.Note("x")), "BrokenPipeError"), 1.0))
    assert after == state and effects == []


# ── the engine going away ────────────────────────────────────────────────────────────────


def test_an_engine_loss_keeps_the_round_and_the_saves_and_resumes_on_return() -> None:
    state = built(serving("web", "api"))
    lost = EffectFailed(Swap("web", 1, "sha256:new1", "web-old"), "gone", engine_lost=True)
    state, effects = run(state, (lost, 1.0))
    assert work(effects) == [WatchEngine()]
    assert reports(effects) == [ev.EngineLost("gone")]
    assert state.engine_lost and state.service("web").phase is Phase.IDLE
    # Saves meanwhile are kept, not started; a second failure does not watch twice.
    state, effects = run(state, (changed("web", at=2.0), 2.0), (changed("api", at=2.5), 2.5))
    assert work(effects) == []
    # Back: the interrupted swap is undone first, then the newest save is built.
    state, effects = run(state, (EngineAnswered(3.0, frozenset({"web-old", "api-old"})), 4.0))
    assert reports(effects)[0] == ev.EngineReturned(3.0)
    assert work(effects) == [
        HashContext("api", 1),
        Rollback("web", 1, (Exchange(1, None, "web-old"),)),
    ]
    state, effects = run(state, (RollbackDone("web", 1), 4.1))
    assert work(effects) == [HashContext("web", 2)]
    assert state.service("web").saved_at == 0.0  # the first unserved save


def test_after_the_engine_returns_a_container_not_running_is_restored() -> None:
    state = serving("web", "api")
    lost = EffectFailed(HashContext("web", 1), "gone", engine_lost=True)
    state, _ = run(state, (changed("web"), 0.0), (lost, 0.1))
    state, effects = run(state, (EngineAnswered(1.0, frozenset({"web-old"})), 2.0))
    assert work(effects) == [
        Rollback("api", 0, (Exchange(1, None, "api-old"),)),
        HashContext("web", 2),
    ]


# ── stopping ─────────────────────────────────────────────────────────────────────────────


def test_stopping_cancels_builds_and_rolls_back_what_was_not_yet_healthy() -> None:
    state = serving("a", "b", "c", "d", max_parallel_builds=4)
    state, _ = run(state, (changed("a"), 0.0), (changed("b"), 0.0))  # a, b building
    state = built(state, "c")  # c swapping
    state = built(state, "d")
    state, _ = run(state, (Swapped("d", 1, "d-new"), 0.1))  # d checking
    state, effects = run(state, (Stopping(), 1.0))
    assert work(effects) == [
        CancelBuild("a", 1),
        CancelBuild("b", 1),
        Rollback("d", 1, (Exchange(1, "d-new", "d-old"),)),
    ]
    # The swap in flight ends; its new container is never checked, only rolled back.
    state, effects = run(state, (Swapped("c", 1, "c-new"), 1.1))
    assert work(effects) == [Rollback("c", 1, (Exchange(1, "c-new", "c-old"),))]
    # Nothing new starts while stopping.
    state, effects = run(state, (changed("a", at=1.2), 1.2), (RollbackDone("c", 1), 1.3))
    assert work(effects) == []


def test_stopping_runs_an_owed_commit() -> None:
    state = built(serving())
    state, _ = run(state, (Swapped("web", 1, "n"), 0.1), (Healthy("web", 1), 0.2))
    commit = Commit("web", 1, (Exchange(1, "n", "web-old"),))
    state, _ = run(state, (EffectFailed(commit, "x"), 0.3))
    state, effects = run(state, (Stopping(), 1.0))
    assert work(effects) == [commit]


def test_waiting_for_the_engine_goes_on_when_the_wait_itself_fails() -> None:
    state = serving()
    lost = EffectFailed(HashContext("web", 1), "gone", engine_lost=True)
    state, _ = run(state, (changed(), 0.0), (lost, 0.1))
    state, effects = run(state, (EffectFailed(WatchEngine(), "HTTP 500 while starting"), 1.0))
    assert effects == [WatchEngine()] and state.engine_lost


def test_a_new_dependency_restarts_or_recreates_its_dependents_as_compose_does() -> None:
    """`depends_on: {db: {restart: true}}` restarts web; `network_mode: service:db` recreates
    sidecar; each only once the new db container serves (committed)."""
    base = serving("db", "web", "sidecar")
    state = ProjectState(
        max_parallel_builds=2,
        services=base.services,
        dependents={"db": (("sidecar", Action.RECREATE), ("web", Action.RESTART))},
    )
    state = built(state, "db")
    state, effects = run(
        state,
        (Swapped("db", 1, "db-new"), 0.5),
        (Healthy("db", 1), 0.6),
    )
    assert work(effects) == [
        CheckHealth("db", 1, "db-new"),
        Commit("db", 1, (Exchange(1, "db-new", "db-old"),)),
    ]
    state, effects = run(state, (Committed("db", 1), 0.7))
    assert work(effects) == [
        Swap("sidecar", 1, "sha256:old", "sidecar-old"),
        SyncFiles("web", 1, ("web-old",), (), (), restart=True),
    ]
    # Nothing follows a dependency whose swap was rolled back.
    state = built(state, "db", gen=2, at=1.0)
    state, effects = run(
        state, (Swapped("db", 2, "db-bad"), 1.5), (CheckFailed("db", 2, "exit 1"), 1.6)
    )
    state, effects = run(state, (RollbackDone("db", 2), 1.7))
    assert not [e for e in work(effects) if getattr(e, "service", "db") != "db"]


# ── replicas (`scale`, `deploy.replicas`) ───────────────────────────────────────────────────

THREE = Serving("web-1", "sha256:old", "digest-old", ("web-2", "web-3"))


def replicated() -> ProjectState:
    state, _ = step(ProjectState(), Started("web", THREE), 0.0)
    return built(state)


def test_replicas_are_swapped_one_at_a_time_each_checked_then_committed_together() -> None:
    state, effects = run(replicated(), (Swapped("web", 1, "n1"), 0.1))
    assert work(effects) == [CheckHealth("web", 1, "n1")]
    state, effects = run(state, (Healthy("web", 1), 0.2))
    # Replica 2 is swapped only once replica 1's new container is healthy: 2 and 3 served.
    assert work(effects) == [Swap("web", 1, "sha256:new1", "web-2", 2)]
    assert not [e for e in reports(effects) if isinstance(e, ev.Live)]
    state, effects = run(state, (Swapped("web", 1, "n2"), 0.3), (Healthy("web", 1), 0.4))
    assert work(effects) == [CheckHealth("web", 1, "n2"), Swap("web", 1, "sha256:new1", "web-3", 3)]
    state, effects = run(state, (Swapped("web", 1, "n3"), 0.5), (Healthy("web", 1), 0.6))
    commit = Commit(
        "web",
        1,
        (Exchange(1, "n1", "web-1"), Exchange(2, "n2", "web-2"), Exchange(3, "n3", "web-3")),
    )
    assert work(effects) == [CheckHealth("web", 1, "n3"), commit]
    (live,) = [e for e in reports(effects) if isinstance(e, ev.Live)]
    assert live.since_save_s == 0.6  # once every replica runs the new code
    # Each phase once, summed over the replicas.
    assert [(p, round(t, 2)) for p, t in live.timings] == [
        ("detect", 0.0),
        ("building", 0.0),
        ("swapping", 0.3),
        ("checking", 0.3),
    ]
    assert state.service("web").serving == Serving("n1", "sha256:new1", "digest-1", ("n2", "n3"))


def test_an_unhealthy_replica_rolls_back_every_replica_of_the_round_latest_first() -> None:
    state, _ = run(replicated(), (Swapped("web", 1, "n1"), 0.1), (Healthy("web", 1), 0.2))
    state, effects = run(
        state, (Swapped("web", 1, "n2"), 0.3), (CheckFailed("web", 1, "exit 1"), 0.4)
    )
    undo = Rollback("web", 1, (Exchange(2, "n2", "web-2"), Exchange(1, "n1", "web-1")))
    assert work(effects) == [CheckHealth("web", 1, "n2"), undo]
    state, effects = run(state, (RollbackDone("web", 1), 0.5))
    assert state.service("web").serving == THREE
    assert state.service("web").phase is Phase.IDLE
    assert ev.RolledBack("web", "exit 1", ()) in reports(effects)


def test_a_replica_swap_that_raised_or_a_stop_undoes_the_replicas_already_swapped() -> None:
    state, _ = run(replicated(), (Swapped("web", 1, "n1"), 0.1), (Healthy("web", 1), 0.2))
    failed = EffectFailed(Swap("web", 1, "sha256:new1", "web-2", 2), "boom")
    _, effects = run(state, (failed, 0.3))
    assert work(effects) == [
        Rollback("web", 1, (Exchange(2, None, "web-2"), Exchange(1, "n1", "web-1")))
    ]
    state, _ = run(state, (Swapped("web", 1, "n2"), 0.3))
    _, effects = run(state, (Stopping(), 0.4))
    assert work(effects) == [
        Rollback("web", 1, (Exchange(2, "n2", "web-2"), Exchange(1, "n1", "web-1")))
    ]


def test_sync_copies_into_every_replica_and_a_lost_replica_is_restored_on_return() -> None:
    state, _ = step(ProjectState(), Started("web", THREE), 0.0)
    _, effects = run(state, (changed(action=Action.SYNC), 0.1))
    assert work(effects) == [
        SyncFiles("web", 1, ("web-1", "web-2", "web-3"), TO_APP, (), restart=False)
    ]
    lost = EffectFailed(HashContext("web", 1), "gone", engine_lost=True)
    state, _ = run(state, (changed(), 0.1), (lost, 0.2))
    _, effects = run(state, (EngineAnswered(1.0, frozenset({"web-1", "web-3"})), 1.2))
    assert work(effects)[0] == Rollback("web", 1, (Exchange(2, None, "web-2"),))


def test_a_new_scale_creates_the_missing_replicas_one_at_a_time() -> None:
    state, _ = step(ProjectState(), Started("web", Serving("web-1", "sha256:old", "d")), 0.0)
    state, effects = run(state, (Rescaled("web", 3, 0.0), 0.1))
    assert work(effects) == [Swap("web", 1, "sha256:old", "web-1", 1)]
    state, effects = run(state, (Swapped("web", 1, "n1"), 0.2), (Healthy("web", 1), 0.3))
    assert work(effects)[-1] == Swap("web", 1, "sha256:old", None, 2)  # a new replica
    state, effects = run(state, (Swapped("web", 1, "n2"), 0.4), (Healthy("web", 1), 0.5))
    assert work(effects)[-1] == Swap("web", 1, "sha256:old", None, 3)
    state, effects = run(state, (Swapped("web", 1, "n3"), 0.6), (Healthy("web", 1), 0.7))
    assert work(effects)[-1] == Commit(
        "web", 1, (Exchange(1, "n1", "web-1"), Exchange(2, "n2", None), Exchange(3, "n3", None))
    )
    assert state.service("web").serving == Serving("n1", "sha256:old", "d", ("n2", "n3"))
    # A later save swaps the three.
    state, _ = run(state, (Committed("web", 1), 0.8))
    state, _ = run(
        state,
        (changed(at=1.0), 1.0),
        (ContextHashed("web", 2, "d2"), 1.0),
        (BuildSucceeded("web", 2, "sha256:new"), 1.1),
        (Swapped("web", 2, "m1"), 1.2),
        (Healthy("web", 2), 1.3),
        (Swapped("web", 2, "m2"), 1.4),
    )
    assert state.service("web").number == 2


def test_a_lower_scale_swaps_the_replicas_kept_and_its_commit_removes_the_rest() -> None:
    state, _ = step(ProjectState(), Started("web", THREE), 0.0)
    state, effects = run(state, (Rescaled("web", 1, 0.0), 0.1))
    assert work(effects) == [Swap("web", 1, "sha256:old", "web-1", 1)]
    state, effects = run(state, (Swapped("web", 1, "n1"), 0.2), (Healthy("web", 1), 0.3))
    assert work(effects)[-1] == Commit(
        "web",
        1,
        (Exchange(1, "n1", "web-1"), Exchange(2, None, "web-2"), Exchange(3, None, "web-3")),
    )
    assert state.service("web").serving == Serving("n1", "sha256:old", "digest-old")
    # Rolled back instead: the three serve on, untouched.
    state, _ = step(ProjectState(), Started("web", THREE), 0.0)
    state, effects = run(
        state,
        (Rescaled("web", 1, 0.0), 0.1),
        (Swapped("web", 1, "n1"), 0.2),
        (CheckFailed("web", 1, "exit 1"), 0.3),
        (RollbackDone("web", 1), 0.4),
    )
    assert Rollback("web", 1, (Exchange(1, "n1", "web-1"),)) in work(effects)
    assert state.service("web").serving == THREE
