"""Waiting on the engine's events (engine.waits.ContainerEvents), without an engine: the
events are handed in as the stream's thread hands them to the loop (`heard`, `lost`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from composewatch.engine.waits import ContainerEvents

NEVER_S = 1000.0  # a wait that ends, in these tests, only by what it is told


def _following() -> ContainerEvents:
    heard = ContainerEvents()
    heard.following = True
    return heard


async def _ended(task: asyncio.Task[None]) -> bool:
    for _ in range(5):  # a few turns of the loop: anything woken has run by then
        await asyncio.sleep(0)
    return task.done()


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 10))  # a wait that never ends fails, not hangs


@pytest.mark.parametrize(
    ("told", "ends"),
    [
        ("a", True),  # its container
        ("b", True),  # one of its containers
        ("c", False),  # another container
        ("", False),  # nothing
    ],
)
def test_an_event_for_a_container_waited_on_ends_the_wait(told: str, ends: bool) -> None:
    async def test() -> None:
        heard = _following()
        task = asyncio.create_task(
            heard.wait(("a", "b"), heard.mark(), timeout_s=NEVER_S, poll_s=0)
        )
        await asyncio.sleep(0)
        if told:
            heard.heard(told)
        assert await _ended(task) is ends
        task.cancel()

    _run(test)


@pytest.mark.parametrize(
    ("before_mark", "ends"),
    [(False, True), (True, False)],  # heard between the mark and the wait: not missed
)
def test_an_event_heard_after_the_mark_counts(before_mark: bool, ends: bool) -> None:
    async def test() -> None:
        heard = _following()
        if before_mark:
            heard.heard("a")
        mark = heard.mark()
        if not before_mark:
            heard.heard("a")  # while the caller read the state
        task = asyncio.create_task(heard.wait(("a",), mark, timeout_s=NEVER_S, poll_s=0))
        assert await _ended(task) is ends
        task.cancel()

    _run(test)


def test_wake_ends_the_wait_and_an_event_sets_wake() -> None:
    async def test() -> None:
        heard, wake = _following(), asyncio.Event()
        kwargs = {"timeout_s": NEVER_S, "poll_s": 0.0, "wake": wake}
        task = asyncio.create_task(heard.wait(("a",), heard.mark(), **kwargs))  # type: ignore[arg-type]
        assert not await _ended(task)
        wake.set()  # e.g. a start ended
        assert await _ended(task)
        wake.clear()
        task = asyncio.create_task(heard.wait(("a",), heard.mark(), **kwargs))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        heard.heard("a")
        assert await _ended(task)
        assert wake.is_set()  # the caller's loop sees why it woke

    _run(test)


def test_timeout_while_following_poll_when_not() -> None:
    async def test() -> None:
        heard = _following()
        await heard.wait(("a",), heard.mark(), timeout_s=0, poll_s=NEVER_S)  # ends: timeout_s
        heard.following = False
        await heard.wait(("a",), heard.mark(), timeout_s=NEVER_S, poll_s=0)  # ends: poll_s

    _run(test)


def test_a_lost_stream_wakes_every_waiter_who_then_polls() -> None:
    async def test() -> None:
        heard = _following()
        tasks = [
            asyncio.create_task(heard.wait((c,), heard.mark(), timeout_s=NEVER_S, poll_s=0))
            for c in ("a", "b")
        ]
        assert not any([await _ended(t) for t in tasks])
        heard.lost()
        assert all([await _ended(t) for t in tasks])
        assert not heard.following
        heard.heard("a")  # an event after the loss (none come): the next wait polls
        task = asyncio.create_task(heard.wait(("a",), 0, timeout_s=NEVER_S, poll_s=NEVER_S))
        assert not await _ended(task)
        task.cancel()

    _run(test)


def test_not_followed_without_a_stream() -> None:
    heard = ContainerEvents()
    assert not heard.following
    heard.close()  # nothing to close: no error
