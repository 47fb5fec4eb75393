"""Per-service phases of the watch loop and the pure `step()` that moves them.

    idle ─Changed─▶ building ─BuildSucceeded─▶ swapping ─Swapped─▶ checking ─Healthy─▶ committing
      ▲              │ ▲ (HashContext first;        │                  │                  │
      │              │ │  an unchanged context      │                  └─CheckFailed─┐  Committed
      │              │ │  ends the round)           └─fails─▶ rolling_back ◀─────────┘    │
      │              │ └─Changed (cancel, build the newest save instead)   │              │
      └──────────────┴─BuildErrored (the old one keeps serving)    RollbackDone ──▶ idle ◀┘
    idle ─Changed (sync / restart rules)─▶ syncing ─Synced─▶ checking | idle
    up: UpRequested ─▶ building | pulling ─▶ held ─admit─▶ starting (StartReplica, CheckHealth
        per replica) ─▶ committing ─▶ swapping … (the replicas it replaces, as a save) ─▶ idle

A service with replicas (`scale`, `deploy.replicas`) swaps them one at a time, each found
healthy before the next is swapped, so the others serve meanwhile; the round commits them all
together, or rolls back every replica it swapped.

What serves each service (containers, image, context digest) lives here and changes only
through `step`: `up`'s round (`UpRequested`: `plan_up` decides, replicas start or swap, each
is checked, then committed) or `Started` (attach), then each committed swap. What may build or
start next, and why the others wait, is `core.startup.admit`, asked after every step. The
executor is told which container to check, commit or roll back; it keeps nothing.

Every effect the executor runs ends in a result, and an exception is a result too
(`EffectFailed`): a failed build frees its slot, a failed swap or check is rolled back, a failed
commit or rollback is kept as the service's `settle` effect and run again before the service
does anything else. When the failure says the engine went away, the round in flight goes back
to `pending`, saves made meanwhile are kept, one `WatchEngine` waits for the engine, and
`EngineAnswered` settles and restarts what was interrupted.

A change that arrives while a service is busy is kept and starts the next round as soon as the
service is idle, so the last save is always what ends up served. Every piece of work carries
the service's generation; a result from an older generation is stale and dropped. Builds share
`max_parallel_builds` slots; a service that waits for one is `queued`.

`Stopping` (Ctrl-C) ends the watch as a transaction: builds are cancelled, a new container not
yet found healthy is rolled back, a commit or rollback still owed is run, so the old container
or the new one serves under compose's name, never a half-swapped pair.

The vocabulary is in `effects` (what to do, what serves), `inputs` (what happened) and
`phases` (the state); the handlers in `changes`, `swaps`, `settle` and `upround`.
"""

from __future__ import annotations

from composewatch import events as ev
from composewatch.core.changes import Begin, Changes
from composewatch.core.effects import Effect
from composewatch.core.inputs import (
    BuildErrored,
    BuildSucceeded,
    Changed,
    CheckFailed,
    Committed,
    ContextHashed,
    EffectFailed,
    EngineAnswered,
    Healthy,
    Input,
    Rescaled,
    RollbackDone,
    Started,
    Stopping,
    Swapped,
    SwapUndone,
    Synced,
    SyncErrored,
    UpdatedInPlace,
    UpdateFailed,
)
from composewatch.core.phases import Phase, ProjectState
from composewatch.core.settle import Outages, Settle
from composewatch.core.swaps import InPlace, Swaps
from composewatch.core.upreplicas import UpReplicas
from composewatch.core.upround import UpImages
from composewatch.core.upwaits import UpAdmission, UpEnds

# `step` only: the vocabulary is imported from where it is defined (`core.inputs`,
# `core.effects`, `core.phases`).
__all__ = ["step"]


def step(state: ProjectState, event: Input, now: float) -> tuple[ProjectState, list[Effect]]:
    """Pure: the new state and the effects to run, given one input at time `now`; then the
    admission (`core.startup.admit`) says what may build or start now, and why the rest
    waits."""
    machine = _Machine(state, now)
    machine.handle(event)
    if not machine.state.stopping and not machine.state.engine_lost:
        machine.start_queued()  # the free build slots (most steps have given them already)
    machine.admit_up()
    return machine.state, machine.effects


class _Machine(
    UpImages, UpReplicas, UpEnds, UpAdmission, Outages, Settle, InPlace, Swaps, Begin, Changes
):
    """One step: an input dispatched to its handler (a result of superseded work, of an older
    generation or phase, is stale and dropped)."""

    def handle(self, event: Input) -> None:
        if self.handle_up(event):
            return
        match event:
            case Changed():
                self.on_changed(event)
            case Started(service, serving):
                self.update(service, serving=serving)
            case Rescaled():
                self.on_rescaled(event)
            case EffectFailed():
                self.on_effect_failed(event)
            case EngineAnswered():
                self.on_engine_answered(event)
            case Stopping():
                self.on_stopping()
            case _:
                self.handle_result(event)

    def handle_result(self, event: Input) -> None:
        match event:
            case ContextHashed() if self.current(event.service, event.generation, Phase.BUILDING):
                self.on_hashed(event)
            case BuildSucceeded() if self.current(event.service, event.generation, Phase.BUILDING):
                self.on_built(event)
            case BuildErrored() if self.current(event.service, event.generation, Phase.BUILDING):
                message = event.message
                if self.get(event.service).background:
                    message = f"the image could not catch up with the container: {message}"
                failed = ev.BuildFailed(event.service, message, event.log_tail)
                self.finish(event.service, failed)
            case Swapped() if self.current(event.service, event.generation, Phase.SWAPPING):
                self.on_swapped(event)
            case SwapUndone() if self.current(event.service, event.generation, Phase.SWAPPING):
                self.finish(event.service, ev.SwapFailed(event.service, event.message))
            case UpdatedInPlace() if self.current(event.service, event.generation, Phase.UPDATING):
                self.on_updated(event)
            case UpdateFailed() if self.current(event.service, event.generation, Phase.UPDATING):
                self.update_failed(event.service, event.message)
            case Synced() if self.current(event.service, event.generation, Phase.SYNCING):
                self.on_synced(event)
            case SyncErrored() if self.current(event.service, event.generation, Phase.SYNCING):
                self.finish(event.service, ev.SyncFailed(event.service, event.message))
            case Healthy() if self.current(event.service, event.generation, Phase.CHECKING):
                self.on_healthy(event)
            case CheckFailed() if self.current(event.service, event.generation, Phase.CHECKING):
                self.roll_back(event.service, self.unhealthy_event(event))
            case Committed() if self.current(event.service, event.generation, Phase.COMMITTING):
                done = self.get(event.service)
                brought_up = event.service in (*self.state.starting, *self.state.redo)
                self.update(event.service, settle=None)
                self.finish(event.service, done.outcome)  # a restore reports why
                if not brought_up:  # `up` starts every service itself, in its order
                    self.follow_dependents(event.service, done.saved_at)
            case RollbackDone(name, gen) if self.current(name, gen, Phase.ROLLING_BACK):
                self.update(name, settle=None)
                self.finish(name, self.get(name).outcome)
            case _:
                pass  # a stale result of superseded work
