"""The engine's word on the project's containers: wake when one starts, dies or changes health.

`up` waits on many containers at once (each one's check, and every dependency someone waits
on). Reading each one's state every few milliseconds kept the engine busy answering on a
2-core machine while it should start containers; instead the engine's event stream
(`start`, `die`, `health_status`, the events that change what a check or a `depends_on`
condition reads) wakes whoever waits on that container, and the state is read once then. A
wait also ends after its timeout, so a lost event costs that much, never a hang; when the
stream cannot be followed (or breaks), `following` is False and callers poll as before.

One stream serves the whole run (`FollowedEvents`): the core's dependency waits
(`WatchStatus`) and each service's own check (engine/checks.py) wait on the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import docker
import docker.errors

__all__ = ["ContainerEvents", "FollowedEvents"]

_L = "com.docker.compose."
# The events that change what a check or a condition reads (not exec_*: a HEALTHCHECK's
# own runs; the engine matches `health_status` to "health_status: healthy" and the like).
WATCHED = ("start", "die", "health_status")
RETRY_S = 5.0  # after the engine refused the stream, how long before it is asked again


class ContainerEvents:
    """Events heard per container, numbered; asyncio waiters woken by the ones they wait on."""

    def __init__(self) -> None:
        self.following = False
        self._count = 0  # events heard so far
        self._last: dict[str, int] = {}  # container id -> the number of its latest event
        self._waiters: list[tuple[frozenset[str], asyncio.Event]] = []
        self._close: Any = None

    @classmethod
    async def follow(cls, client: docker.DockerClient, project: str) -> ContainerEvents:
        """Subscribed before it returns (so nothing from then on is missed); not following
        when the engine refuses the stream."""
        heard = cls()
        loop = asyncio.get_running_loop()
        label = f"{_L}project={project}" if project else f"{_L}project"
        filters = {"type": "container", "label": label, "event": list(WATCHED)}
        try:
            stream = await asyncio.to_thread(client.api.events, filters=filters, decode=True)
        except (docker.errors.DockerException, OSError):
            return heard
        heard.following, heard._close = True, getattr(stream, "close", None)
        threading.Thread(
            target=heard._read, args=(stream, loop), name="cw-events", daemon=True
        ).start()
        return heard

    def _read(self, stream: Iterator[dict[str, Any]], loop: asyncio.AbstractEventLoop) -> None:
        try:
            for raw in stream:
                cid = raw.get("id") or (raw.get("Actor") or {}).get("ID")
                if cid:
                    loop.call_soon_threadsafe(self.heard, str(cid))
        except Exception:  # closed, or the engine went away: callers poll
            pass
        with contextlib.suppress(RuntimeError):  # the loop is closed: no one waits any more
            loop.call_soon_threadsafe(self.lost)

    def heard(self, container: str) -> None:
        """An event for `container` (on the loop's thread)."""
        self._count += 1
        self._last[container] = self._count
        for containers, event in self._waiters:
            if container in containers:
                event.set()

    def lost(self) -> None:
        """The stream ended: every waiter goes back to reading for itself."""
        self.following = False
        for _, event in self._waiters:
            event.set()

    def mark(self) -> int:
        """Take before reading a state; pass to `wait` so an event heard meanwhile counts."""
        return self._count

    async def wait(
        self,
        containers: Collection[str],
        mark: int,
        *,
        timeout_s: float,
        poll_s: float,
        wake: asyncio.Event | None = None,
    ) -> None:
        """Until an event for one of `containers` after `mark`, or `wake` is set (another
        reason to look again), at most `timeout_s`; at most `poll_s` when the stream is not
        followed (the caller reads the state again anyway: it polls)."""
        event = wake or asyncio.Event()
        if self.following and any(self._last.get(c, 0) > mark for c in containers):
            return
        entry = (frozenset(containers), event)
        self._waiters.append(entry)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout_s if self.following else poll_s)
        finally:
            self._waiters.remove(entry)

    def close(self) -> None:
        self.following = False
        if self._close is not None:
            with contextlib.suppress(Exception):
                self._close()


class FollowedEvents:
    """The run's one stream: opened on first need, again once it broke; after the engine
    refused it, asked again only `RETRY_S` later (meanwhile the callers poll)."""

    def __init__(
        self,
        client: Callable[[], docker.DockerClient],
        project: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client  # the client once it is needed
        # Whose containers (set before the first `get`); "" any compose project's.
        self.project = project
        self._clock = clock
        self.current: ContainerEvents | None = None  # as it is now, without waiting
        self._refused_at: float | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ContainerEvents:
        """The stream, opened first when it is not followed (a new one hears only what
        happens from now on: the caller reads the state again before waiting on it)."""
        async with self._lock:
            current = self.current
            if current is not None and current.following:
                return current
            refused_at = self._refused_at
            if current is not None and refused_at is not None and not self._may_retry(refused_at):
                return current
            if current is not None:
                current.close()
            self.current = await ContainerEvents.follow(self._client(), self.project)
            self._refused_at = None if self.current.following else self._clock()
            return self.current

    def _may_retry(self, refused_at: float) -> bool:
        return self._clock() - refused_at >= RETRY_S

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
