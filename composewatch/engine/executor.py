"""Carries out the state machine's effects against Docker, the file system and HTTP.

An executor with no decision logic and no memory of what serves: each effect says which
container to check, commit or roll back (the core's state knows). It returns what happened;
what it raises, the scheduler hands to the core as `EffectFailed` (`failure` says whether the
engine itself went away). Its parts: builds (engine/builds.py), the swap transaction
(engine/swaps.py), health checks (engine/checks.py), `up`'s starts where nothing is replaced
(upsteps.py); files and the engine's return are here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from composewatch import events as ev
from composewatch.buildcache import BuildCache
from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.core.backoff import backoff_delays
from composewatch.core.effects import (
    CancelBuild,
    CheckHealth,
    Commit,
    CreateAhead,
    Effect,
    Exchange,
    HashContext,
    ObserveUp,
    PullImage,
    Rollback,
    StartBuild,
    StartReplica,
    Steps,
    Swap,
    SyncFiles,
    UpdateInPlace,
    WatchEngine,
    WatchStatus,
)
from composewatch.core.inplace import Copy
from composewatch.core.inputs import (
    Committed,
    EffectFailed,
    EngineAnswered,
    Input,
    RollbackDone,
    Synced,
    SyncErrored,
    UpdatedInPlace,
    UpdateFailed,
    UpRequested,
)
from composewatch.core.sync import split_copies
from composewatch.engine.builds import Builds
from composewatch.engine.checks import HealthChecks
from composewatch.engine.containers import Engine
from composewatch.engine.faults import describe, engine_lost
from composewatch.engine.steps import StepClock
from composewatch.engine.stopsignal import StopSignals
from composewatch.engine.swaps import Swaps
from composewatch.errors import ComposewatchError
from composewatch.health import ProbeResult
from composewatch.spec import ContainerSpec
from composewatch.ui import UI
from composewatch.upsteps import UpSteps

__all__ = ["DockerRunner"]


@dataclass
class DockerRunner:
    loaded: LoadedProject
    settings: Settings
    engine: Engine
    ui: UI
    signals: StopSignals
    cache: BuildCache
    observe_up: Callable[[tuple[str, ...]], Awaitable[UpRequested]] | None = None

    def __post_init__(self) -> None:
        # The parts report through `report`, so a UI set on the runner later reaches them too.
        self.builds = Builds(self.settings, self.engine, self.report, self.cache)
        self.swaps = Swaps(self.settings, self.engine, self.signals)
        self.checks = HealthChecks(self.settings, self.engine, self.report)

    def report(self, event: ev.Event) -> None:
        self.ui(event)

    def cancel_build(self, effect: CancelBuild) -> None:
        self.builds.cancel(effect)

    def failure(self, effect: Effect, exc: Exception) -> EffectFailed:
        return EffectFailed(effect, describe(exc), engine_lost(exc))

    async def run(self, effect: Effect) -> Input | None:
        match effect:
            case HashContext(service, generation):
                return await self.builds.hash_context(self.loaded, service, generation)
            case StartBuild(service, generation, digest):
                return await self.builds.build(self.loaded, service, generation, digest)
            case Swap(service, generation, image, replaces, number):
                return await asyncio.to_thread(
                    self.swap, service, generation, image, replaces, number
                )
            case UpdateInPlace(service, generation, container, copies):
                return await asyncio.to_thread(
                    self.update_in_place, service, generation, container, copies
                )
            case CheckHealth(service, generation, container, number):
                return await self.check(service, generation, container, number)
            case PullImage() | StartReplica() | CreateAhead() | WatchStatus():
                steps = UpSteps(self.engine, self.spec_for, self.explain, self.checks.events)
                return await steps.carry(effect)
            case ObserveUp(services) if self.observe_up is not None:
                return await self.observe_up(services)  # `up` observes again
            case Commit(service, generation, exchanges):
                for exchange in exchanges:
                    await asyncio.to_thread(self.commit, service, exchange)
                return Committed(service, generation)
            case Rollback(service, generation, exchanges):
                for exchange in exchanges:
                    await asyncio.to_thread(self.rollback, service, exchange)
                return RollbackDone(service, generation)
            case SyncFiles():
                return await self.sync(effect)
            case WatchEngine():
                return await self.wait_for_engine()
        return None

    # the swap transaction and health checks, on the project as it is now ─────────────────

    def swap(
        self, service: str, generation: int, image: str, old: str | None, number: int = 1
    ) -> Input:
        return self.swaps.swap(self.loaded, service, generation, image, old, number)

    def swap_in(
        self, service: str, image: str, old: str | None, number: int = 1
    ) -> tuple[str, Steps]:
        return self.swaps.swap_in(self.loaded, service, image, old, number)

    def spec_for(self, service: str, image: str, number: int = 1) -> ContainerSpec:
        return self.swaps.spec_for(self.loaded, service, image, number)

    def explain(self, service: str, exc: ComposewatchError) -> str:
        return self.swaps.explain(self.loaded, service, exc)

    def commit(self, service: str, exchange: Exchange) -> None:
        self.swaps.commit(self.loaded, service, exchange)

    def rollback(self, service: str, exchange: Exchange) -> None:
        self.swaps.rollback(self.loaded, service, exchange)

    async def check(self, service: str, generation: int, container: str, number: int = 1) -> Input:
        return await self.checks.check(self.loaded, service, generation, container, number)

    async def check_health(self, service: str, container: str | None) -> ProbeResult:
        return await self.checks.check_health(self.loaded, service, container)

    # files ───────────────────────────────────────────────────────────────────────────────

    def update_in_place(
        self, service: str, generation: int, container: str, copies: tuple[Copy, ...]
    ) -> Input:
        """Copy the saved files into the running container, then restart it (stop, start:
        the engine's neighbour entries are refreshed as for a new container)."""
        clock = StepClock()
        try:
            self.engine.update_files(container, copies)
            clock.lap("copy")
            self.engine.restart(
                container, self.swaps.stop_timeout_s(self.loaded, service, container)
            )
            clock.lap("restart")
        except ComposewatchError as exc:
            return UpdateFailed(service, generation, str(exc))
        return UpdatedInPlace(service, generation, clock.steps())

    async def sync(self, effect: SyncFiles) -> Input:
        """Mirror the round's files into every replica (as `docker compose watch` does:
        copies, deletions, then the rules' exec commands or a restart). Which host files
        still exist is observed here; everything else the effect says."""
        service, generation = effect.service, effect.generation
        present = frozenset(c.source for c in effect.copies if c.source.exists())
        copies, deletions = split_copies(effect.copies, present)
        try:
            for container in effect.containers:  # every replica
                if copies:
                    await asyncio.to_thread(self.engine.sync_files, container, copies)
                if deletions:
                    await asyncio.to_thread(self.engine.exec, container, ["rm", "-rf", *deletions])
                for command in effect.commands:
                    await asyncio.to_thread(self.engine.exec, container, list(command.command))
                if effect.restart:
                    timeout_s = self.swaps.stop_timeout_s(self.loaded, service, container)
                    await asyncio.to_thread(self.engine.restart, container, timeout_s)
        except (ComposewatchError, OSError) as exc:
            if isinstance(exc, OSError) and engine_lost(exc):
                raise
            return SyncErrored(service, generation, describe(exc))
        return Synced(service, generation, restarted=effect.restart)

    # the engine ─────────────────────────────────────────────────────────────────────────

    async def wait_for_engine(self) -> EngineAnswered:
        """Ask the engine, with backoff, until it answers; then say what it runs."""
        lost_at = time.monotonic()
        for delay_s in backoff_delays():
            await asyncio.sleep(delay_s)
            try:
                running = await asyncio.to_thread(self.engine.running, self.loaded.project.name)
            except Exception as exc:  # still gone, or gone again
                if not engine_lost(exc):
                    raise
                continue
            return EngineAnswered(time.monotonic() - lost_at, running)
        raise AssertionError("backoff_delays never ends")
