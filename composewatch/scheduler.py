"""The watch loop: inputs go through the pure `step`, its effects run concurrently.

Effects that touch Docker run in worker threads (the Docker SDK blocks); each one's result goes
back into the inbox as the next input. The scheduler holds no logic of its own beyond that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from composewatch import events as ev
from composewatch.state import (
    CancelBuild,
    Effect,
    Input,
    ProjectState,
    Report,
    step,
)

__all__ = ["EffectRunner", "Scheduler"]


class EffectRunner(Protocol):
    """Carries out effects at the edges: Docker, HTTP, output."""

    async def run(self, effect: Effect) -> Input | None:
        """Do the effect; return what happened (the next input), if anything."""
        ...

    def cancel_build(self, effect: CancelBuild) -> None: ...

    def report(self, event: ev.Event) -> None: ...


class Scheduler:
    def __init__(
        self,
        runner: EffectRunner,
        *,
        max_parallel_builds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runner = runner
        self.clock = clock
        self.state = ProjectState(max_parallel_builds=max_parallel_builds)
        self.inbox: asyncio.Queue[Input] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, event: Input) -> None:
        self.inbox.put_nowait(event)

    async def run(self) -> None:
        """Process inputs until cancelled."""
        try:
            while True:
                self.handle(await self.inbox.get())
        finally:
            for task in self._tasks:
                task.cancel()

    def handle(self, event: Input) -> None:
        self.state, effects = step(self.state, event, self.clock())
        for effect in effects:
            if isinstance(effect, Report):
                self.runner.report(effect.event)
            elif isinstance(effect, CancelBuild):
                self.runner.cancel_build(effect)
            else:
                task = asyncio.create_task(self._execute(effect))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no effect is running and no input is waiting (for tests and `--once`)."""
        while self._tasks or not self.inbox.empty():
            if not self.inbox.empty():
                self.handle(self.inbox.get_nowait())
                continue
            await asyncio.wait(set(self._tasks))

    async def _execute(self, effect: Effect) -> None:
        result = await self.runner.run(effect)
        if result is not None:
            self.submit(result)
