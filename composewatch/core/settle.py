"""A round's end, and what outlives rounds: the commit or rollback still owed, the build
queue, failed effects, the engine going away and coming back, the user's stop."""

from __future__ import annotations

from dataclasses import replace

from composewatch import events as ev
from composewatch.core.effects import (
    CancelBuild,
    CheckHealth,
    Commit,
    CreateAhead,
    Effect,
    Exchange,
    HashContext,
    ObserveUp,
    Report,
    Rollback,
    StartBuild,
    Swap,
    SyncFiles,
    UpdateInPlace,
    WatchEngine,
    WatchStatus,
)
from composewatch.core.inputs import CreatedAhead, EffectFailed, EngineAnswered
from composewatch.core.machine import PHASE_OF, Base, without
from composewatch.core.phases import ROUND_RESET, Phase
from composewatch.core.startup import admit

__all__ = ["Outages", "Settle"]


class Settle(Base):
    """A round ends; what is owed runs again; the queue moves; a failed effect is a result."""

    def finish(self, name: str, outcome: ev.Event | None) -> None:
        """End the round (whatever its outcome), then start what arrived meanwhile."""
        was_building = self.get(name).phase is Phase.BUILDING
        self.enter(name, Phase.IDLE)
        if outcome is not None:
            self.report(outcome)
        service = self.update(name, **ROUND_RESET)
        # A commit or rollback still owed (it failed) waits for the next save, the engine's
        # return or the stop, never retried in a loop here.
        if (
            service.pending is not None
            and service.pending_saved_at is not None
            and service.settle is None
            and not self.state.engine_lost
            and not self.state.stopping
            and name not in self.state.starting  # `up`'s round goes on first
        ):
            self.begin_pending(name)
        if was_building:
            self.start_queued()
        self.after_round(name, outcome)

    def run_settle(self, name: str) -> None:
        """Run again the commit or rollback that failed, before anything else."""
        service = self.get(name)
        assert service.settle is not None
        phase = Phase.COMMITTING if isinstance(service.settle, Commit) else Phase.ROLLING_BACK
        settle = replace(service.settle, generation=service.generation)
        self.update(name, settle=settle)
        self.enter(name, phase)
        self.emit(settle)

    def start_queued(self) -> None:
        """The admission gives the free build slots to the queue, oldest first."""
        admission = admit(
            {},
            {},
            (),
            self.now,
            0.0,
            queued=self.state.queue,
            building=self.state.building(),
            max_builds=self.state.max_parallel_builds,
        )
        for name in admission.build:
            self.state = replace(self.state, queue=without(self.state.queue, name))
            self.update(name, phase=Phase.IDLE)
            self.start_build(name)

    def on_effect_failed(self, failure: EffectFailed) -> None:
        effect, message = failure.effect, failure.message
        if isinstance(effect, WatchEngine):
            if self.state.engine_lost and not self.state.stopping:
                self.emit(WatchEngine())  # the engine answered oddly: keep waiting for it
            return
        if isinstance(effect, Report | CancelBuild):
            return  # nothing of a service's round hangs on these
        if isinstance(effect, WatchStatus | ObserveUp):
            self.up_watch_failed(failure)
            return
        if isinstance(effect, CreateAhead):  # its start creates it as usual
            lost = CreatedAhead(effect.service, effect.generation, effect.number, None)
            self.on_created_ahead(lost)
            return
        name = effect.service
        if not self.current(name, effect.generation, *PHASE_OF[type(effect)]):
            return  # superseded work failed: nothing waits for it
        if failure.engine_lost and not self.state.stopping:
            self.on_engine_lost(name, effect, message)
            return
        if name in self.state.starting and self.up_effect_failed(effect, message):
            return
        match effect:
            case HashContext() | StartBuild():
                self.finish(name, ev.BuildFailed(name, message, ()))
            case Swap():
                # The executor could not undo the swap itself: make sure the old one serves.
                self.roll_back(name, ev.SwapFailed(name, message))
            case UpdateInPlace():
                self.update_failed(name, message)
            case SyncFiles():
                self.finish(name, ev.SyncFailed(name, message))
            case CheckHealth():
                reason = f"the health check failed: {message}"
                self.roll_back(name, ev.RolledBack(name, reason, ()))
            case Commit() | Rollback():
                # Kept as `settle`: run again at the next save, on return or when stopping.
                event = ev.CommitFailed if isinstance(effect, Commit) else ev.RollbackFailed
                self.finish(name, event(name, message))


class Outages(Base):
    """The engine goes away and comes back; the user stops."""

    def on_engine_lost(self, name: str, effect: Effect, message: str) -> None:
        service = self.get(name)
        if service.action is not None and service.saved_at is not None and not service.background:
            # The interrupted round runs again once the engine is back; its save was noticed
            # when it was (the outage is waiting, not detecting).
            detect_s = dict(service.timings).get("detect", 0.0)
            noticed = service.saved_at + detect_s
            self.keep_pending(
                name,
                service.action,
                service.paths,
                service.saved_at,
                service.copies,
                service.why,
                noticed,
                service.commands,
            )
        if isinstance(effect, Swap | CheckHealth) and service.phase is not Phase.STARTING:
            self.update(name, settle=self.undo(name))
        if name in self.state.starting:  # observed and planned again once the engine is back
            starting = {n: s for n, s in self.state.starting.items() if n != name}
            redo = (*self.state.redo, name)
            self.state = replace(self.state, starting=starting, redo=redo)
        was_building = service.phase is Phase.BUILDING
        self.enter(name, Phase.IDLE)
        self.update(name, **ROUND_RESET)
        if not self.state.engine_lost:
            self.state = replace(self.state, engine_lost=True)
            self.report(ev.EngineLost(message))
            self.emit(WatchEngine())
        if was_building:
            self.start_queued()

    def on_engine_answered(self, event: EngineAnswered) -> None:
        if not self.state.engine_lost:
            return
        self.state = replace(self.state, engine_lost=False)
        self.report(ev.EngineReturned(event.down_s))
        for name in sorted(self.state.services):
            service = self.get(name)
            if service.phase is not Phase.IDLE:
                continue
            serving = service.serving.containers if service.serving is not None else ()
            gone = [(n, c) for n, c in enumerate(serving, 1) if c not in event.running]
            if service.settle is None and gone:
                # Reconcile: the engine came back without our containers running.
                exchanges = tuple(Exchange(n, None, c) for n, c in gone)
                service = self.update(name, settle=Rollback(name, service.generation, exchanges))
            if service.settle is not None:
                self.run_settle(name)
            elif service.pending is not None and service.pending_saved_at is not None:
                self.begin_pending(name)
        # Observed again once nothing is owed: a commit or rollback left by the outage first.
        ready = tuple(n for n in self.state.redo if self.get(n).settle is None)
        if ready:
            self.emit(ObserveUp(ready))

    def on_stopping(self) -> None:
        self.state = replace(self.state, stopping=True, queue=())
        for name in sorted(self.state.services):
            service = self.get(name)
            match service.phase:
                case Phase.BUILDING:
                    self.emit(CancelBuild(name, service.generation))
                    self.finish(name, None)
                case Phase.QUEUED | Phase.HELD | Phase.PULLING:
                    self.finish(name, None)
                case Phase.CHECKING if service.candidate is not None:
                    self.roll_back(name, None)
                case Phase.IDLE if service.settle is not None and not self.state.engine_lost:
                    self.run_settle(name)
                case _:
                    pass  # swapping, syncing, committing, rolling back: their result settles it
