"""The scheduler with a fake edge: every exception an effect raises becomes an input, and a
stop settles what is in flight. No Docker, no sleeps: the loop runs until it is idle."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fakes import FakeClock, FakeRunner

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import (
    CancelBuild,
    CheckHealth,
    Commit,
    Effect,
    Exchange,
    HashContext,
    Rollback,
    Serving,
    StartBuild,
    Swap,
    WatchEngine,
)
from composewatch.core.inputs import (
    BuildSucceeded,
    Changed,
    Committed,
    ContextHashed,
    EngineAnswered,
    Healthy,
    Input,
    RollbackDone,
    Started,
    Swapped,
)
from composewatch.core.phases import Phase, ProjectState
from composewatch.scheduler import Scheduler

APP = Path("/src/app.py")


def change(service: str, at: float = 0.0) -> Changed:
    return Changed(service, Action.REBUILD, frozenset({APP}), at)


def healthy_script(effect: Effect) -> Input | None:
    """What a working engine would answer."""
    match effect:
        case HashContext(s, g):
            return ContextHashed(s, g, f"digest-{g}")
        case StartBuild(s, g, _):
            return BuildSucceeded(s, g, f"img-{g}")
        case Swap(s, g, _, _, n):
            return Swapped(s, g, f"{s}-new-{g}" if n == 1 else f"{s}-new-{g}-{n}")
        case CheckHealth(s, g, _):
            return Healthy(s, g)
        case Commit(s, g, _):
            return Committed(s, g)
        case Rollback(s, g, _):
            return RollbackDone(s, g)
    return None


def scheduler(runner: FakeRunner, *services: str) -> Scheduler:
    sched = Scheduler(runner, max_parallel_builds=1, clock=FakeClock())
    for name in services:
        sched.handle(Started(name, Serving(f"{name}-old", "img-0", "digest-0")))
    return sched


def test_fifty_raising_effects_leave_no_service_stuck_and_free_every_slot() -> None:
    raised = 0

    def script(effect: Effect) -> Input | None:
        nonlocal raised
        # Every other round, some step raises something the executor did not foresee.
        if isinstance(effect, HashContext | Swap | CheckHealth) and effect.generation % 2:
            raised += 1
            raise OSError(f"{type(effect).__name__} broke")
        return healthy_script(effect)

    runner = FakeRunner(script)
    services = [f"s{i}" for i in range(5)]
    sched = scheduler(runner, *services)

    async def scenario() -> None:
        for round_ in range(10):
            for name in services:
                sched.submit(change(name, float(round_)))
            await sched.idle()

    asyncio.run(scenario())
    assert raised == 25 and sched.effects_raised == 25
    stuck = [n for n, s in sched.state.services.items() if s.phase is not Phase.IDLE]
    assert stuck == [] and sched.state.building() == [] and sched.state.queue == ()
    assert len(runner.sink.of(ev.BuildFailed)) == 25  # one per raising round, said
    assert len(runner.sink.of(ev.Live)) == 25


def test_a_reporter_that_raises_does_not_stop_the_loop() -> None:
    runner = FakeRunner(healthy_script)

    def broken_report(event: ev.Event) -> None:
        raise UnicodeEncodeError("ascii", "\udcff", 0, 1, "surrogates not allowed")

    runner.report = broken_report  # type: ignore[method-assign]
    sched = scheduler(runner, "web")

    async def scenario() -> None:
        sched.submit(change("web"))
        await sched.idle()

    asyncio.run(scenario())
    assert sched.state.service("web").serving == Serving("web-new-1", "img-1", "digest-1")
    assert sched.effects_raised > 0


def test_stop_cancels_the_build_and_rolls_back_the_unchecked_swap() -> None:
    runner = FakeRunner(healthy_script)
    runner.held = {StartBuild, CheckHealth}
    sched = scheduler(runner, "api", "web")
    sched.state = ProjectState(max_parallel_builds=2, services=sched.state.services)

    async def scenario() -> None:
        loop = asyncio.create_task(sched.run())
        sched.submit(change("api"))  # its build hangs
        sched.submit(Changed("web", Action.RECREATE, frozenset(), 0.0))  # its check hangs
        while not any(isinstance(e, CheckHealth) for e in runner.ran):
            await asyncio.sleep(0)
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)

    asyncio.run(scenario())
    assert runner.cancelled == [CancelBuild("api", 1)]
    assert Rollback("web", 1, (Exchange(1, "web-new-1", "web-old"),)) in runner.ran
    assert sched.state.service("web").serving == Serving("web-old", "img-0", "digest-0")
    assert not sched._tasks


def test_an_engine_loss_is_waited_out_and_the_save_is_acted_on() -> None:
    engine_up = False

    def script(effect: Effect) -> Input | None:
        if isinstance(effect, WatchEngine):
            return EngineAnswered(1.5, frozenset({"web-old"}))
        if not engine_up and isinstance(effect, StartBuild):
            raise ConnectionError("socket gone")
        return healthy_script(effect)

    runner = FakeRunner(script)
    runner.held = {WatchEngine}
    sched = scheduler(runner, "web")

    async def scenario() -> None:
        nonlocal engine_up
        sched.submit(change("web", 1.0))
        while not sched.state.engine_lost:
            sched.handle(await sched.inbox.get())
            await asyncio.sleep(0)
        sched.submit(change("web", 2.0))  # a save while the engine is away
        engine_up = True
        runner.release()
        await sched.idle()

    asyncio.run(scenario())
    kinds = [type(e) for e in runner.sink.events]
    assert ev.EngineLost in kinds and ev.EngineReturned in kinds
    serving = sched.state.service("web").serving
    assert serving is not None and serving.image == "img-2"
    assert sched.state.service("web").saved_at is None and not sched.state.engine_lost
