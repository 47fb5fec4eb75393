"""The watch loop: inputs go through the pure `step`, its effects run concurrently.

Each effect runs as its own task; whatever it returns goes back into the inbox as the next
input, and whatever it raises does too, as `EffectFailed`: no task is ever left with an
exception nobody looks at, so no service can stay `building` forever. The scheduler holds no
logic of its own beyond that, and the stop sequence:

1. the effects that may simply be abandoned (hashing, builds, health checks, waiting for the
   engine) are cancelled;
2. `Stopping` goes through `step`, which cancels builds and rolls back unchecked swaps;
3. the effects that must end (swaps, commits, rollbacks, syncs) are awaited, and their results
   stepped, until none is left or `settle_timeout_s` has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from composewatch import events as ev
from composewatch.core.effects import (
    CancelBuild,
    CheckHealth,
    Effect,
    HashContext,
    ObserveUp,
    PullImage,
    Report,
    StartBuild,
    WatchEngine,
    WatchStatus,
)
from composewatch.core.inputs import EffectFailed, Input, Stopping
from composewatch.core.phases import ProjectState
from composewatch.core.state import step

__all__ = ["EffectRunner", "Scheduler"]

# Effects whose work may be dropped at once on stop: they change nothing that serves.
_ABANDONABLE = (
    HashContext,
    StartBuild,
    CheckHealth,
    WatchEngine,
    PullImage,
    WatchStatus,
    ObserveUp,
)


class EffectRunner(Protocol):
    """Carries out effects at the edges: Docker, HTTP, output."""

    async def run(self, effect: Effect) -> Input | None:
        """Do the effect; return what happened (the next input), if anything."""
        ...

    def cancel_build(self, effect: CancelBuild) -> None: ...

    def report(self, event: ev.Event) -> None: ...

    def failure(self, effect: Effect, exc: Exception) -> EffectFailed:
        """The input that says `effect` raised `exc` (the edge knows a lost engine)."""
        ...


class Scheduler:
    def __init__(
        self,
        runner: EffectRunner,
        *,
        max_parallel_builds: int,
        clock: Callable[[], float] = time.time,
        settle_timeout_s: float = 20.0,
        state: ProjectState | None = None,
    ) -> None:
        self.runner = runner
        self.clock = clock
        self.settle_timeout_s = settle_timeout_s
        self.state = state or ProjectState(max_parallel_builds=max_parallel_builds)
        self.inbox: asyncio.Queue[Input] = asyncio.Queue()
        self._tasks: dict[asyncio.Task[None], Effect] = {}
        self._stepped = asyncio.Event()
        self.effects_raised = 0  # how many effects ended in an exception (for the figures)

    def submit(self, event: Input) -> None:
        self.inbox.put_nowait(event)

    async def run(self) -> None:
        """Process inputs until cancelled; then stop as a transaction (see the module doc)."""
        try:
            while True:
                self.handle(await self.inbox.get())
        except asyncio.CancelledError:
            await self.stop()
            raise
        finally:
            for task in self._tasks:
                task.cancel()

    def handle(self, event: Input) -> None:
        self.state, effects = step(self.state, event, self.clock())
        self._stepped.set()
        for effect in effects:
            if isinstance(effect, Report | CancelBuild):
                self._run_now(effect)
            else:
                task = asyncio.create_task(self._execute(effect))
                self._tasks[task] = effect
                task.add_done_callback(self._forget)

    async def until(self, done: Callable[[ProjectState], bool]) -> None:
        """Wait until the state is `done` (e.g. `up` has brought every service up); steps
        are taken by `run`, in another task."""
        while not done(self.state):
            self._stepped.clear()
            await self._stepped.wait()

    async def idle(self) -> None:
        """Wait until no effect is running and no input is waiting (for tests and `--once`)."""
        while self._tasks or not self.inbox.empty():
            if not self.inbox.empty():
                self.handle(self.inbox.get_nowait())
                continue
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    async def stop(self) -> None:
        """Cancel what may be dropped, then let the core settle every swap in flight."""
        for task, effect in list(self._tasks.items()):
            if isinstance(effect, _ABANDONABLE):
                task.cancel()
        self.handle(Stopping())
        deadline = time.monotonic() + self.settle_timeout_s
        while self._tasks or not self.inbox.empty():
            if not self.inbox.empty():
                self.handle(self.inbox.get_nowait())
                continue
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                return
            await asyncio.wait(
                set(self._tasks), timeout=left_s, return_when=asyncio.FIRST_COMPLETED
            )

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    def _run_now(self, effect: Report | CancelBuild) -> None:
        try:
            if isinstance(effect, Report):
                self.runner.report(effect.event)
            else:
                self.runner.cancel_build(effect)
        except Exception as exc:  # every exception becomes an input
            self.effects_raised += 1
            self.submit(self.runner.failure(effect, exc))

    async def _execute(self, effect: Effect) -> None:
        try:
            result = await self.runner.run(effect)
        except Exception as exc:  # every exception becomes an input
            self.effects_raised += 1
            result = self.runner.failure(effect, exc)
        if result is not None:
            self.submit(result)
