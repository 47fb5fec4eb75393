"""What the executor's parts share: a clock for the steps of one phase, and threads a Ctrl-C
may abandon."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from composewatch.core.effects import Steps

__all__ = ["StepClock", "in_daemon_thread"]

T = TypeVar("T")


async def in_daemon_thread(fn: Callable[[], T], name: str) -> T:
    """Run `fn` in a daemon thread. Unlike `asyncio.to_thread`, abandoning it (Ctrl-C) does
    not make the interpreter wait for it at exit: a build's thread may run for minutes, and
    the engine stops the build once our connection closes."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(set_outcome: Callable[[], None]) -> None:
        if not future.done():
            set_outcome()

    def work() -> None:
        outcome: Callable[[], None]
        try:
            result = fn()
            outcome = partial(future.set_result, result)
        except BaseException as exc:  # handed to the awaiting task
            outcome = partial(future.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await future


class StepClock:
    """Times consecutive steps of one phase."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._steps: list[tuple[str, float]] = []

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self._steps.append((step, now - self._last))
        self._last = now

    def lap_once(self, step: str) -> None:
        if not any(name == step for name, _ in self._steps):
            self.lap(step)

    def steps(self) -> Steps:
        return tuple(self._steps)
