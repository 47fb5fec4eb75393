"""The executor's builds: hash a service's context, build its image, and let a superseded
build end before the next one starts (one build of a service on the engine at a time)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from composewatch import events as ev
from composewatch.buildcache import BuildCache
from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.core.effects import CancelBuild
from composewatch.core.inputs import BuildErrored, BuildSucceeded, ContextHashed, Input
from composewatch.engine.builder import BuildCancelled, PreparedBuild, build_image, prepare_build
from composewatch.engine.containers import Engine
from composewatch.engine.steps import StepClock, in_daemon_thread
from composewatch.errors import BuildError, ComposewatchError
from composewatch.spec import image_name
from composewatch.ui import UI

__all__ = ["SUPERSEDED_END_S", "Builds"]

SUPERSEDED_END_S = 5.0  # the longest a build waits for the one it supersedes to end


@dataclass
class Builds:
    settings: Settings
    engine: Engine
    ui: UI
    cache: BuildCache
    _cancel: dict[tuple[str, int], threading.Event] = field(default_factory=dict)
    _built: dict[str, threading.Event] = field(default_factory=dict)  # set: its last build ended
    _prepared: dict[str, PreparedBuild] = field(default_factory=dict)  # the last hash's walk

    def cancel(self, effect: CancelBuild) -> None:
        flag = self._cancel.get((effect.service, effect.generation))
        if flag is not None:
            flag.set()

    def keep_walk(self, service: str, prepared: PreparedBuild) -> None:
        """A walk made elsewhere (`up`, to choose the image): the build reuses it."""
        self._prepared[service] = prepared

    async def hash_context(self, loaded: LoadedProject, service: str, generation: int) -> Input:
        # A large context takes a while: never block the exit.
        prepared = await in_daemon_thread(lambda: prepare_build(loaded, service), f"hash-{service}")
        # The same walk gives the build's tar members: the build reuses it.
        self._prepared[service] = prepared
        return ContextHashed(service, generation, prepared.digest)

    async def build(
        self, loaded: LoadedProject, service: str, generation: int, digest: str
    ) -> Input:
        # One build of a service on the engine at a time: the one this supersedes was told to
        # stop; it is let end first, so a storm of saves never queues builds on the engine.
        cancelled, ended = threading.Event(), threading.Event()
        self._cancel[(service, generation)] = cancelled
        before, self._built[service] = self._built.get(service), ended

        def work() -> Input:
            try:
                if before is not None:
                    before.wait(SUPERSEDED_END_S)
                if cancelled.is_set():
                    return BuildErrored(service, generation, "superseded")  # stale
                return self._build(loaded, service, generation, digest, cancelled)
            finally:
                ended.set()

        try:
            return await in_daemon_thread(work, f"build-{service}")
        except asyncio.CancelledError:
            cancelled.set()  # the thread stops at the engine's next line
            raise
        finally:
            self._cancel.pop((service, generation), None)

    def _build(
        self,
        loaded: LoadedProject,
        service: str,
        generation: int,
        digest: str,
        cancelled: threading.Event,
    ) -> Input:
        clock = StepClock()

        def on_log(line: str) -> None:
            clock.lap_once("context")  # a reused image sends none
            self.ui(ev.BuildLog(service, line))

        try:
            prepared = self._prepared.pop(service, None)
            if prepared is None or prepared.digest != digest:
                prepared = prepare_build(loaded, service)
            image = build_image(
                self.engine.client,
                loaded,
                service,
                tag=image_name(loaded.project, service),
                on_log=on_log,
                cancelled=cancelled,
                prepared=prepared,
                builder=self.settings.builder,
                on_sent=lambda: clock.lap_once("context"),
            )
        except BuildCancelled:
            return BuildErrored(service, generation, "superseded")  # stale: dropped by step
        except BuildError as exc:
            return BuildErrored(service, generation, exc.step, tuple(exc.log_tail))
        except ComposewatchError as exc:
            return BuildErrored(service, generation, str(exc))
        clock.lap("build")
        self.cache.record(service, prepared.digest, image)
        return BuildSucceeded(service, generation, image, clock.steps())
