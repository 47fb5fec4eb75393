"""The executor with a fake engine: a swap is a transaction, commit and rollback are
idempotent, a rollback says why. No Docker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest
from fakes import FakeEngine, ListSink

from composewatch.buildcache import BuildCache
from composewatch.compose import ProjectOptions, load_project
from composewatch.config import SETTINGS_KEY, parse_settings
from composewatch.core.effects import Exchange
from composewatch.core.inputs import CheckFailed, Swapped, SwapUndone
from composewatch.engine.containers import Engine
from composewatch.engine.executor import DockerRunner
from composewatch.engine.stopsignal import StopSignals
from composewatch.errors import EngineError
from composewatch.health import ProbeResult

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "two-services"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[DockerRunner, FakeEngine, str]:
    loaded = load_project(ProjectOptions(working_dir=str(FIXTURE), project_name="p", environ={}))
    settings = parse_settings(
        loaded.extensions.get(SETTINGS_KEY), file="compose.yaml", service_names={"web", "api"}
    )
    engine = FakeEngine()
    policy = StopSignals(engine.ignores_sigterm, lambda _: None)
    # DockerRunner takes the concrete Engine (no protocol in the package yet); the fake
    # answers the calls the runner makes, which these tests exercise.
    runner = DockerRunner(
        loaded,
        settings,
        cast(Engine, engine),
        ListSink(),
        policy,
        BuildCache(tmp_path / "c.json", {}),
    )
    old = engine.add("p-web-1")
    return runner, engine, old


def test_a_swap_leaves_the_new_container_running_beside_the_stopped_old(
    setup: tuple[DockerRunner, FakeEngine, str],
) -> None:
    runner, engine, old = setup
    result = runner.swap("web", 1, "sha256:new", old)
    assert isinstance(result, Swapped)
    assert engine.names() == {"p-web-1": False, "p-web-1_cw-new": True}


def test_a_failed_start_is_undone_and_the_old_container_serves(
    setup: tuple[DockerRunner, FakeEngine, str],
) -> None:
    runner, engine, old = setup
    engine.fail["start"] = EngineError("port is already allocated")
    result = runner.swap("web", 1, "sha256:new", old)
    assert result == SwapUndone("web", 1, "port is already allocated")
    assert engine.names() == {"p-web-1": True}


def test_when_the_undo_fails_too_the_swap_raises_for_the_core_to_roll_back(
    setup: tuple[DockerRunner, FakeEngine, str],
) -> None:
    runner, engine, old = setup
    engine.fail["start"] = ConnectionResetError()
    engine.fail_when = lambda method, args: (
        ConnectionResetError() if method == "remove" and args[0] in engine.containers else None
    )
    with pytest.raises(EngineError, match="undoing the swap failed too"):
        runner.swap("web", 1, "sha256:new", old)
    assert engine.names() == {"p-web-1": False, "p-web-1_cw-new": False}
    # The engine is back: the core's Rollback (no container id known) cleans by name.
    engine.fail_when = lambda method, args: None
    runner.rollback("web", Exchange(1, None, old))
    assert engine.names() == {"p-web-1": True}


def test_a_leftover_from_an_interrupted_swap_never_blocks_the_next(
    setup: tuple[DockerRunner, FakeEngine, str],
) -> None:
    runner, engine, old = setup
    engine.add("p-web-1_cw-new")  # what a crash left
    assert isinstance(runner.swap("web", 1, "sha256:new", old), Swapped)


def test_commit_and_rollback_are_idempotent(setup: tuple[DockerRunner, FakeEngine, str]) -> None:
    runner, engine, old = setup
    new, _ = runner.swap_in("web", "sha256:new", old)
    engine.fail["rename"] = ConnectionResetError()  # lost after removing the old one
    with pytest.raises(ConnectionResetError):
        runner.commit("web", Exchange(1, new, old))
    runner.commit("web", Exchange(1, new, old))  # run again by the core
    runner.commit("web", Exchange(1, new, old))
    assert engine.names() == {"p-web-1": True}
    assert engine.by_name("p-web-1") == new
    newer, _ = runner.swap_in("web", "sha256:newer", new)
    runner.rollback("web", Exchange(1, newer, new))
    runner.rollback("web", Exchange(1, newer, new))
    assert engine.names() == {"p-web-1": True} and engine.by_name("p-web-1") == new


def test_a_crashed_container_is_reported_with_its_exit_code_and_logs(
    setup: tuple[DockerRunner, FakeEngine, str],
) -> None:
    runner, engine, old = setup
    new, _ = runner.swap_in("web", "sha256:new", old)
    engine.containers[new].update(running=False, exit=1, logs=("starting", "boom"))
    reason, tail = runner.checks.why_unhealthy(
        new, ProbeResult(False, "port 8080 is not published")
    )
    assert (reason, tail) == ("container exited with code 1", ("starting", "boom"))


def test_a_check_on_a_container_that_exits_says_so(
    setup: tuple[DockerRunner, FakeEngine, str],
) -> None:
    runner, engine, old = setup
    new, _ = runner.swap_in("web", "sha256:new", old)
    engine.containers[new].update(running=False, exit=3, logs=("bye",))
    result = asyncio.run(runner.check("web", 1, new))
    assert result == CheckFailed("web", 1, "container exited with code 3", ("bye",), 1, 3)


def test_a_daemon_thread_hands_back_its_result_or_its_exception() -> None:
    from composewatch.engine.steps import in_daemon_thread

    def boom() -> int:
        raise KeyError("gone")

    async def scenario() -> tuple[int, BaseException | None]:
        value = await in_daemon_thread(lambda: 42, "t")
        try:
            await in_daemon_thread(boom, "t")
        except KeyError as exc:
            return value, exc
        return value, None

    value, error = asyncio.run(scenario())
    assert value == 42 and isinstance(error, KeyError)
