"""`up` as rounds of the same machine a save runs.

`UpRequested` carries, per service, what `choose_image` chose (with its cause) and what the
engine showed. Its image comes first: built in a build slot (`StartBuild`, the digest `up`
hashed to choose), pulled (`PullImage`), or known. Then `plan_up` decides each replica's step
and the service is `held` until the admission (`core.startup.admit`, asked after every step)
lets it start. Replicas that replace nothing start together (`StartReplica`) and are checked
(`CheckHealth`); the healthy ones are committed (`Commit`: the stop policy learned, leftovers
removed). Replicas that replace a container go as a save's round: `Swap`, one at a time, each
found healthy before the next, then all committed or all rolled back. A failure is said in a
save's words; at `up` it is `ev.Unhealthy`, as nothing served before it.
"""

from __future__ import annotations

from dataclasses import replace

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import (
    ObserveUp,
    PullImage,
)
from composewatch.core.images import ImageStep
from composewatch.core.inputs import (
    BuildErrored,
    BuildSucceeded,
    CheckFailed,
    CreatedAhead,
    Healthy,
    ImageReady,
    Input,
    ReplicaStarted,
    StatusRead,
    UpAsked,
    UpRequest,
    UpRequested,
)
from composewatch.core.machine import Base
from composewatch.core.phases import ROUND_RESET, Phase, UpStart
from composewatch.core.plan import Wanted, plan_up
from composewatch.core.startup import Fact

__all__ = ["UpImages"]


class UpImages(Base):
    """A service's `up` round begins: its image (built, pulled or known), then `plan_up`'s
    plan; the results of the rounds `up` runs come here first."""

    def handle_up(self, event: Input) -> bool:
        """`up`'s own inputs, and the results of a round `up` runs (False: not `up`'s)."""
        match event:
            case UpAsked(services, timeout_s) if not self.state.stopping:
                self.state = replace(self.state, redo=services, timeout_s=timeout_s)
                self.emit(ObserveUp(services))
            case UpRequested():
                self.on_up_requested(event)
            case ImageReady() if self.current(event.service, event.generation, Phase.PULLING):
                self.image_ready(event.service, event.image, None)
            case BuildSucceeded() if self.up_in(event.service, event.generation, Phase.BUILDING):
                started = self.get(event.service).phase_started_at
                self.report(ev.BuildFinished(event.service, self.now - started))
                self.image_ready(event.service, event.image, self.get(event.service).digest)
                self.start_queued()
            case BuildErrored() if self.up_in(event.service, event.generation, Phase.BUILDING):
                self.up_build_failed(event.service, event.message, event.log_tail)
            case ReplicaStarted() if self.current(event.service, event.generation, Phase.STARTING):
                self.on_replica_started(event)
            case Healthy() if self.current(event.service, event.generation, Phase.STARTING):
                self.verdict(event.service, event.number, True)
            case CheckFailed() if self.completed(event, Phase.STARTING):
                self.verdict(event.service, event.number, True)
            case CheckFailed() if self.completed(event, Phase.CHECKING):
                self.on_healthy(Healthy(event.service, event.generation, event.number))
            case CheckFailed() if self.current(event.service, event.generation, Phase.STARTING):
                self.report(self.unhealthy_event(event))
                self.verdict(event.service, event.number, False)
            case StatusRead():
                self.on_status_read(event)
            case CreatedAhead():
                self.on_created_ahead(event)
            case _:
                return False
        return True

    def on_status_read(self, event: StatusRead) -> None:
        fact = replace(self.state.facts.get(event.service, Fact()), status=event.status)
        self.state = replace(
            self.state,
            facts={**self.state.facts, event.service: fact},
            watched=self.state.watched - {event.service},
        )
        self.read.add(event.service)

    def up_in(self, name: str, generation: int, phase: Phase) -> bool:
        return name in self.state.starting and self.current(name, generation, phase)

    def completed(self, event: CheckFailed, phase: Phase) -> bool:
        """A one-shot job that exited 0: its check's end, not a failure."""
        start = self.state.starting.get(event.service)
        done = start is not None and start.request.completes and event.exit_code == 0
        return done and self.current(event.service, event.generation, phase)

    def unhealthy_event(self, event: CheckFailed) -> ev.Event:
        """One failure, one wording: at `up` nothing served before (`ev.Unhealthy`); after a
        save the old container serves again (`ev.RolledBack`). Same reason, same log lines."""
        name = event.service
        if name in self.state.starting:
            return ev.Unhealthy(name, event.reason, event.log_tail)
        return ev.RolledBack(name, event.reason, event.log_tail)

    def put_start(self, name: str, start: UpStart) -> None:
        self.state = replace(self.state, starting={**self.state.starting, name: start})

    def on_up_requested(self, event: UpRequested) -> None:
        if self.state.stopping:
            return
        names = [r.service for r in event.requests]
        self.state = replace(
            self.state,
            starting={**self.state.starting, **{r.service: UpStart(r) for r in event.requests}},
            redo=tuple(n for n in self.state.redo if n not in names),
        )
        for request in event.requests:
            self.prepare(request)

    def prepare(self, request: UpRequest) -> None:
        """The service's image: built (in a slot), pulled, or known already."""
        name, choice = request.service, request.choice
        generation = self.get(name).generation + 1
        self.update(name, **{**ROUND_RESET, "generation": generation, "phase_started_at": self.now})
        match choice.step:
            case ImageStep.PULL:
                self.enter(name, Phase.PULLING)
                self.emit(PullImage(name, generation, request.tag))
            case ImageStep.BUILD:
                self.update(name, digest=request.digest, action=Action.REBUILD)
                self.build_or_queue(name)
            case _:
                assert choice.image is not None
                if choice.step is ImageStep.ADOPT:
                    note = f"{name}: adopting the running container as it is ({choice.cause})"
                    self.report(ev.Note(note))
                digest = request.digest if choice.step is ImageStep.REUSE else None
                self.image_ready(name, choice.image, digest)

    def image_ready(self, name: str, image: str, digest: str | None) -> None:
        """`plan_up` decides each replica's step; the admission decides when it starts."""
        start = self.state.starting[name]
        request = start.request
        wanted = {name: Wanted(request.config_hash, image, request.replicas)}
        plans = tuple(plan_up({name: list(request.observed)}, wanted, [name]))
        self.put_start(name, replace(start, image=image, digest=digest, plans=plans))
        self.enter(name, Phase.HELD)

    def up_build_failed(self, name: str, message: str, log_tail: tuple[str, ...]) -> None:
        """Said as after a save; what already serves the service serves on (the next save
        retries), else `up` cannot go on."""
        self.report(ev.BuildFailed(name, message, log_tail))
        fallback = self.state.starting[name].request.fallback
        if fallback is not None:
            self.image_ready(name, fallback, None)
        else:
            tail = "".join(f"\n    {line}" for line in log_tail)
            self.fail_up(name, f"build of service {name!r} failed at {message}{tail}")
        self.start_queued()
