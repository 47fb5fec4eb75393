"""The executor's part of `up` where nothing is replaced: pull an image, start (or create and
start) a replica, read a dependency's status when the engine says it changed. No decisions:
each effect says what to do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from composewatch.core.effects import CreateAhead, PullImage, StartReplica, WatchStatus
from composewatch.core.inputs import CreatedAhead, ImageReady, Input, ReplicaStarted, StatusRead
from composewatch.core.plan import Step
from composewatch.engine.containers import Engine
from composewatch.engine.steps import in_daemon_thread
from composewatch.engine.waits import FollowedEvents
from composewatch.errors import ComposewatchError
from composewatch.spec import ContainerSpec

__all__ = ["POLL_S", "UpSteps", "watch_status"]

POLL_S = 0.05  # how often a dependency's status is read when the events cannot be followed


@dataclass
class UpSteps:
    engine: Engine
    spec_for: Callable[[str, str, int], ContainerSpec]  # replica n's container, as compose's
    explain: Callable[[str, ComposewatchError], str]  # a failure's text, naming file and key
    events: FollowedEvents  # the run's engine events (the dependency waits)

    async def carry(self, effect: PullImage | StartReplica | CreateAhead | WatchStatus) -> Input:
        """A dependency's wait on the run's events; the rest in a thread (each waits on the
        engine, and a Ctrl-C may abandon it)."""
        if isinstance(effect, WatchStatus):
            return await watch_status(self.engine, self.events, effect)
        return await in_daemon_thread(lambda: self.run(effect), f"up-{effect.service}")

    def run(self, effect: PullImage | StartReplica | CreateAhead) -> Input:
        """Carry the effect out (in a thread: each waits on the engine)."""
        match effect:
            case PullImage(service, generation, tag):
                return ImageReady(service, generation, self.engine.ensure_image(tag))
            case StartReplica():
                return self.start_replica(effect)
            case CreateAhead(service, generation, image, number, remove):
                try:
                    for leftover in remove:
                        self.engine.remove(leftover)
                    made = self.engine.create(self.spec_for(service, image, number))
                except ComposewatchError:  # its start creates it, and says why it cannot
                    return CreatedAhead(service, generation, number, None)
                return CreatedAhead(service, generation, number, made)

    def start_replica(self, effect: StartReplica) -> Input:
        """`up` where nothing is replaced: carry the plan's step out; no decisions."""
        service, generation, number = effect.service, effect.generation, effect.number
        try:
            for leftover in effect.remove:
                self.engine.remove(leftover)
            if effect.step is Step.CREATE or effect.keep is None:
                container = self.engine.create(self.spec_for(service, effect.image, number))
                self.engine.start(container)
            else:
                container = effect.keep
                if effect.step is Step.START:
                    self.engine.start(container)
        except ComposewatchError as exc:
            message = self.explain(service, exc)
            return ReplicaStarted(service, generation, number, None, message)
        return ReplicaStarted(service, generation, number, container)


async def watch_status(engine: Engine, followed: FollowedEvents, effect: WatchStatus) -> StatusRead:
    """The container's status once it differs from what the core knows, or once the engine
    said something about it (the run's one event stream), or after `timeout_s`; every
    `POLL_S` when the stream cannot be followed."""
    events = await followed.get()
    mark = events.mark()  # before the read: an event meanwhile is not missed
    status = await asyncio.to_thread(engine.status, effect.container)
    if status == effect.known:
        timeout_s, poll_s = effect.timeout_s, min(POLL_S, effect.timeout_s)
        await events.wait((effect.container,), mark, timeout_s=timeout_s, poll_s=poll_s)
        status = await asyncio.to_thread(engine.status, effect.container)
    return StatusRead(effect.service, status)
