"""The run's one event stream (engine.waits.FollowedEvents) and the dependency wait on it
(upsteps.watch_status), without an engine: a client that refuses the stream or hands out
canned events, and an engine whose status is told."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import docker.errors
import pytest

from composewatch.core.effects import WatchStatus
from composewatch.core.inputs import StatusRead
from composewatch.engine import waits
from composewatch.engine.waits import FollowedEvents
from composewatch.health import ContainerStatus
from composewatch.upsteps import watch_status

RUNNING = ContainerStatus(True, None, "starting", True)
HEALTHY = ContainerStatus(True, None, "healthy", True)


class _Stream:
    """A stream that ends only when closed (as the engine's does)."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.closed.wait(10)
        return iter(())

    def close(self) -> None:
        self.closed.set()


class _Api:
    def __init__(self, refuse: bool) -> None:
        self.refuse, self.asked = refuse, 0
        self.streams: list[_Stream] = []

    def events(self, **_: object) -> _Stream:
        self.asked += 1
        if self.refuse:
            raise docker.errors.DockerException("no events here")
        self.streams.append(_Stream())
        return self.streams[-1]


class _Client:
    def __init__(self, refuse: bool = False) -> None:
        self.api = _Api(refuse)


def _followed(client: _Client, now: list[float] | None = None) -> FollowedEvents:
    clock = (lambda: now[0]) if now is not None else (lambda: 0.0)
    return FollowedEvents(lambda: client, "p", clock)  # type: ignore[arg-type,return-value]


def test_refused_stream_is_asked_again_only_after_retry_s() -> None:
    now = [100.0]
    client = _Client(refuse=True)
    followed = _followed(client, now)

    async def test() -> None:
        assert not (await followed.get()).following
        assert not (await followed.get()).following
        assert client.api.asked == 1  # within RETRY_S: not asked again
        now[0] += waits.RETRY_S
        await followed.get()
        assert client.api.asked == 2

    asyncio.run(test())


def test_one_stream_for_the_run_opened_again_once_lost() -> None:
    client = _Client()
    followed = _followed(client)

    async def test() -> None:
        first = await followed.get()
        assert first.following and await followed.get() is first  # one stream, shared
        first.lost()  # the stream broke
        second = await followed.get()
        assert second is not first and second.following
        assert client.api.asked == 2
        followed.close()
        assert all(s.closed.is_set() for s in client.api.streams)

    asyncio.run(test())


class _Engine:
    def __init__(self, *statuses: ContainerStatus) -> None:
        self.statuses = list(statuses)
        self.reads = 0

    def status(self, container: str) -> ContainerStatus:
        self.reads += 1
        return self.statuses.pop(0)


@pytest.mark.parametrize(
    ("known", "reads"),
    [
        (None, 1),  # differs from what the core knows: said at once
        (RUNNING, 2),  # the same: read again after the wait (timeout 0 here)
    ],
)
def test_watch_status_reads_again_only_when_nothing_changed(
    known: ContainerStatus | None, reads: int
) -> None:
    engine = _Engine(RUNNING, HEALTHY)
    followed = _followed(_Client(refuse=True))
    effect = WatchStatus("db", "c1", known, 0.0)
    read = asyncio.run(watch_status(engine, followed, effect))  # type: ignore[arg-type]
    assert engine.reads == reads
    assert read == StatusRead("db", RUNNING if reads == 1 else HEALTHY)
