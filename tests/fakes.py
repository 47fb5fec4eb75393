"""Fakes for the shell's edges: record calls, script results. No Docker, no sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from composewatch import events as ev
from composewatch.state import CancelBuild, Effect, EffectFailed, Input


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ListSink:
    """A UI that keeps every event."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)

    def of(self, kind: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, kind)]


class FakeRunner:
    """An EffectRunner whose answer to each effect is scripted: a function of the effect that
    returns the next input, returns None, or raises. Effects are recorded in order; an effect
    type listed in `held` waits until `release()`."""

    def __init__(self, script: Callable[[Effect], Input | None]) -> None:
        self.script = script
        self.ran: list[Effect] = []
        self.cancelled: list[CancelBuild] = []
        self.sink = ListSink()
        self.held: set[type] = set()
        self.gate = asyncio.Event()

    async def run(self, effect: Effect) -> Input | None:
        self.ran.append(effect)
        if type(effect) in self.held:
            await self.gate.wait()
        return self.script(effect)

    def cancel_build(self, effect: CancelBuild) -> None:
        self.cancelled.append(effect)

    def report(self, event: ev.Event) -> None:
        self.sink(event)

    def failure(self, effect: Effect, exc: Exception) -> EffectFailed:
        return EffectFailed(
            effect, f"{type(exc).__name__}: {exc}", isinstance(exc, ConnectionError)
        )

    def release(self) -> None:
        self.gate.set()
