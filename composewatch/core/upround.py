"""`up` as rounds of the same machine a save runs.

`UpRequested` carries, per service, what `choose_image` chose (with its cause) and what the
engine showed. Its image comes first: built in a build slot (`StartBuild`, the digest `up`
hashed to choose), pulled (`PullImage`), or known. Then `plan_up` decides each replica's step
and the service is `held` until the admission (`core.startup.admit`, asked after every step)
lets it start. Replicas that replace nothing start together (`StartReplica`) and are checked
(`CheckHealth`); the healthy ones are committed (`Commit`: the stop policy learned, leftovers
removed). Replicas that replace a container go as a save's round: `Swap`, one at a time, each
found healthy before the next, then all committed or all rolled back. A failure is said in a
save's words; at `up` it is `Unhealthy`, as nothing served before it.
"""

from __future__ import annotations

from dataclasses import replace

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import (
    CheckHealth,
    Commit,
    Effect,
    Exchange,
    HashContext,
    ObserveUp,
    PullImage,
    Serving,
    StartBuild,
    StartReplica,
    WatchEngine,
    WatchStatus,
)
from composewatch.core.images import ImageStep
from composewatch.core.inputs import (
    BuildFailed,
    BuildSucceeded,
    EffectFailed,
    Healthy,
    ImageReady,
    Input,
    ReplicaStarted,
    StatusRead,
    Unhealthy,
    UpAsked,
    UpRequest,
    UpRequested,
)
from composewatch.core.machine import Base
from composewatch.core.phases import ROUND_RESET, Phase, UpStart
from composewatch.core.plan import Step, Wanted, plan_up
from composewatch.core.probe import REPEAT_S, STALLED_S, ContainerStatus, ProbeProgress, ProbeResult
from composewatch.core.startup import Admission, Fact, admit

__all__ = ["UpRound"]

MIN_READ_S = 0.05  # the shortest wait between two reads of a dependency's status


class UpStarts(Base):
    """A service's `up` round: its image, its plan, its replicas started and checked."""

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
            case BuildFailed() if self.up_in(event.service, event.generation, Phase.BUILDING):
                self.up_build_failed(event.service, event.message, event.log_tail)
            case ReplicaStarted() if self.current(event.service, event.generation, Phase.STARTING):
                self.on_replica_started(event)
            case Healthy() if self.current(event.service, event.generation, Phase.STARTING):
                self.verdict(event.service, event.number, True)
            case Unhealthy() if self.completed(event, Phase.STARTING):
                self.verdict(event.service, event.number, True)
            case Unhealthy() if self.completed(event, Phase.CHECKING):
                self.on_healthy(Healthy(event.service, event.generation, event.number))
            case Unhealthy() if self.current(event.service, event.generation, Phase.STARTING):
                self.report(self.unhealthy_event(event))
                self.verdict(event.service, event.number, False)
            case StatusRead():
                self.on_status_read(event)
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

    def completed(self, event: Unhealthy, phase: Phase) -> bool:
        """A one-shot job that exited 0: its check's end, not a failure."""
        start = self.state.starting.get(event.service)
        done = start is not None and start.request.completes and event.exit_code == 0
        return done and self.current(event.service, event.generation, phase)

    def unhealthy_event(self, event: Unhealthy) -> ev.Event:
        """One failure, one wording: at `up` nothing served before (`Unhealthy`); after a save
        the old container serves again (`RolledBack`). Same reason, same log lines."""
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

    def start_up(self, name: str) -> None:
        """Admitted: the replicas that replace nothing start together; those that replace a
        container go after, one at a time (`replace_in_turn`)."""
        start, service = self.state.starting[name], self.get(name)
        assert start.image is not None
        self.put_start(name, replace(start, began_at=self.now, held=""))
        self.enter(name, Phase.STARTING)
        fresh = [p for p in start.plans if p.step is not Step.RECREATE]
        for plan in fresh:
            self.emit(
                StartReplica(
                    name,
                    service.generation,
                    plan.step,
                    start.image,
                    plan.keep,
                    plan.number,
                    plan.removed,
                )
            )
        if not fresh:
            self.fresh_done(name)

    def on_replica_started(self, event: ReplicaStarted) -> None:
        name = event.service
        if event.container is None or self.state.stopping:
            if event.container is None:
                self.report(ev.Unhealthy(name, event.message))
            self.verdict(name, event.number, False)
            return
        self.up_made(name, event.number, event.container)
        self.emit(CheckHealth(name, event.generation, event.container, event.number))
        self.report(ev.CheckStarted(name))

    def up_made(self, name: str, number: int, container: str) -> None:
        """A replica's container runs: once every one does, `service_started` holds."""
        start = self.state.starting.get(name)
        if start is None:
            return
        made = {**start.made, number: container}
        self.put_start(name, replace(start, made=made))
        fact = self.state.facts.get(name, Fact())
        if fact.started_at_s is None and all(made.get(p.number) for p in start.plans):
            facts = {**self.state.facts, name: replace(fact, started_at_s=self.now)}
            self.state = replace(self.state, facts=facts)

    def verdict(self, name: str, number: int, healthy: bool) -> None:
        start = self.state.starting[name]
        verdicts = {**start.verdicts, number: healthy}
        self.put_start(name, replace(start, verdicts=verdicts))
        fresh = [p for p in start.plans if p.step is not Step.RECREATE]
        if len(verdicts) == len(fresh):
            self.fresh_done(name)

    def fresh_done(self, name: str) -> None:
        """Commit the healthy new replicas (and remove what the plan found left over), as a
        save commits; then replace the others."""
        start, service = self.state.starting[name], self.get(name)
        exchanges = [Exchange(n, start.made[n], None) for n, ok in start.verdicts.items() if ok]
        exchanges += [
            Exchange(p.number, None, gone)
            for p in start.plans
            if p.step is Step.RECREATE
            for gone in p.removed
        ]
        if not exchanges or self.state.stopping:
            self.after_fresh(name)
            return
        commit = Commit(name, service.generation, tuple(exchanges))
        self.update(name, settle=commit)
        self.enter(name, Phase.COMMITTING)
        self.emit(commit)

    def after_round(self, name: str, outcome: ev.Event | None) -> None:
        start = self.state.starting.get(name)
        if start is None:
            return
        if self.state.stopping:
            self.end_up(name, False)
        elif not start.replacing and outcome is None:
            self.after_fresh(name)
        else:
            self.end_up(name, outcome is None)

    def after_fresh(self, name: str) -> None:
        """Every replica has its container; those that replace one are swapped in turn."""
        start = self.state.starting[name]
        containers = {
            p.number: p.keep if p.step is Step.RECREATE else start.made.get(p.number)
            for p in start.plans
        }
        ordered = [containers[n] for n in sorted(containers)]
        if not ordered or any(c is None for c in ordered) or self.state.stopping:
            self.end_up(name, False)  # a replica has no container at all: the next `up` makes it
            return
        first, *rest = [c for c in ordered if c is not None]
        images = {o.container_id: o.image for o in start.request.observed}
        assert start.image is not None
        # A replica being replaced runs its old image until its swap is committed.
        runs = start.image if first in start.made.values() else images.get(first, start.image)
        self.update(name, serving=Serving(first, runs, start.digest, tuple(rest)))
        replacing = tuple(p.number for p in start.plans if p.step is Step.RECREATE)
        if not replacing:
            self.end_up(name, all(start.verdicts.values()))
            return
        self.put_start(name, replace(start, replacing=True))
        numbers = {"numbers": replacing, "image": start.image, "digest": start.digest}
        self.update(name, **numbers, action=Action.RECREATE, phase_started_at=self.now)
        self.enter(name, Phase.SWAPPING)
        self.swap_replica(name)

    def end_up(self, name: str, healthy: bool) -> None:
        """The service's `up` round is over: said, recorded for its dependents, and a save
        made meanwhile begins."""
        start = self.state.starting[name]
        if self.get(name).phase is not Phase.IDLE:
            self.enter(name, Phase.IDLE)
            self.update(name, **ROUND_RESET)
        fact = self.state.facts.get(name, Fact())
        fact = replace(fact, found=healthy, started_at_s=fact.started_at_s or self.now)
        starting = {n: s for n, s in self.state.starting.items() if n != name}
        unhealthy = self.state.unhealthy if healthy else self.state.unhealthy | {name}
        facts = {**self.state.facts, name: fact}
        self.state = replace(self.state, starting=starting, facts=facts, unhealthy=unhealthy)
        serving = self.get(name).serving
        if serving is not None and not healthy:
            self.update(name, serving=replace(serving, digest=None))  # the next save builds
        elif serving is not None and not self.state.stopping:
            adopted = all(p.step is Step.ADOPT for p in start.plans)
            seconds = self.now - start.began_at
            count = len(start.plans)
            self.report(ev.ServiceStarted(name, serving.container[:12], adopted, seconds, count))
        service = self.get(name)
        if (
            service.pending is not None
            and service.pending_saved_at is not None
            and service.settle is None
            and not self.state.engine_lost
            and not self.state.stopping
        ):
            self.begin_pending(name)

    def up_effect_failed(self, effect: Effect, message: str) -> bool:
        """An effect of `up`'s own steps raised: said as its result would have said it."""
        match effect:
            case HashContext() | StartBuild():
                self.up_build_failed(effect.service, message, ())
            case PullImage():
                self.fail_up(effect.service, f"{effect.service}: {message}")
            case StartReplica():
                failed = ReplicaStarted(effect.service, effect.generation, effect.number, None)
                self.on_replica_started(replace(failed, message=message))
            case CheckHealth() if self.get(effect.service).phase is Phase.STARTING:
                reason = f"the health check failed: {message}"
                self.report(ev.Unhealthy(effect.service, reason))
                self.verdict(effect.service, effect.number, False)
            case _:
                return False  # a swap's, a commit's: as after a save
        return True

    def up_watch_failed(self, failure: EffectFailed) -> None:
        """A dependency's status or a new observation could not be read."""
        effect = failure.effect
        if isinstance(effect, WatchStatus):
            self.state = replace(self.state, watched=self.state.watched - {effect.service})
        if self.state.stopping:
            return
        if failure.engine_lost:
            if not self.state.engine_lost:
                self.state = replace(self.state, engine_lost=True)
                self.report(ev.EngineLost(failure.message))
                self.emit(WatchEngine())
            elif isinstance(effect, ObserveUp):
                self.emit(WatchEngine())  # gone again: observed once it is back
            if isinstance(effect, ObserveUp):
                redo = (*self.state.redo, *(n for n in effect.services if n not in self.state.redo))
                self.state = replace(self.state, redo=redo)
            return
        if isinstance(effect, WatchStatus | ObserveUp):
            name = effect.service if isinstance(effect, WatchStatus) else effect.services[0]
            self.fail_up(name, f"{name}: {failure.message}")

    def fail_up(self, name: str, why: str) -> None:
        """`up` cannot go on (compose's "dependency failed to start", a build with nothing
        to fall back on): said by `up`'s caller, which stops."""
        if self.state.up_error is None:
            self.state = replace(self.state, up_error=why)
        if name in self.state.starting:
            self.end_up(name, False)


class UpRound(UpStarts):
    """After every step: who may start now, who waits and why (said once per reason), and
    the dependencies whose status decides a wait, read when the engine says they changed."""

    def admit_up(self) -> None:
        if self.state.stopping or self.state.up_error is not None or not self.state.starting:
            self.say_waits(Admission())
            return
        starting = self.state.starting
        held = [n for n in starting if self.get(n).phase is Phase.HELD]
        needs = {n: dict(s.request.needs) for n, s in starting.items()}
        admission = admit(
            needs,
            self.state.facts,
            held,
            self.now,
            self.state.timeout_s,
            owed=[n for n in held if self.get(n).settle is not None],
            engine_lost=self.state.engine_lost,
        )
        if admission.failed:
            self.fail_up(*next(iter(admission.failed.items())))
            return
        for name in admission.start:
            self.start_up(name)
        for name, why in admission.waiting.items():
            self.say_held(name, why)
        self.say_waits(admission)
        stuck = all(self.get(n).phase is Phase.HELD for n in self.state.starting)
        lost = self.state.engine_lost
        if held and stuck and not admission.start and not admission.poll and not lost:
            # Nothing is left that could change a condition.
            why = "; ".join(f"{n} {w}" for n, w in admission.waiting.items())
            self.fail_up(held[0], f"services cannot start: {why}")

    def say_held(self, name: str, why: str) -> None:
        start = self.state.starting.get(name)
        if start is not None and start.held != why:
            self.put_start(name, replace(start, held=why))
            self.report(ev.Held(name, why))

    def say_waits(self, admission: Admission) -> None:
        """A dependency waited on for a while is said as a probe's wait is (`ProbeProgress`,
        one attempt per status read), and once more when it is no longer waited on."""
        waits = dict(self.state.waits)
        for dep in admission.poll:
            fact = self.state.facts.get(dep, Fact())
            progress = waits.get(dep) or ProbeProgress(dep, self.now)
            if dep in self.read:
                reason = _wait_reason(dep, fact.status, admission.waiting)
                progress, said = progress.after(ProbeResult(False, reason), self.now)
                if said is not None:
                    self.report(said)
            waits[dep] = progress
            self.watch(dep, fact, progress)
        for dep in [d for d in waits if d not in admission.poll]:
            _, said = waits.pop(dep).after(ProbeResult(True, "the condition holds"), self.now)
            if said is not None:
                self.report(said)
        self.state = replace(self.state, waits=waits)

    def watch(self, dep: str, fact: Fact, progress: ProbeProgress) -> None:
        """Ask for the dependency's status: at once when unknown, else at its next change (an
        engine event) or when the wait is next to be said, whichever comes first."""
        container = self.first_container(dep)
        if dep in self.state.watched or container is None:
            return
        said_at = progress.shown_at
        wait_s = (
            STALLED_S - (self.now - progress.started_at)
            if said_at is None
            else REPEAT_S - (self.now - said_at)
        )
        if fact.started_at_s is not None:  # and in time to notice the dependency timeout
            wait_s = min(wait_s, fact.started_at_s + self.state.timeout_s - self.now + MIN_READ_S)
        self.state = replace(self.state, watched=self.state.watched | {dep})
        self.emit(WatchStatus(dep, container, fact.status, max(MIN_READ_S, wait_s)))

    def first_container(self, name: str) -> str | None:
        serving = self.get(name).serving
        if serving is not None:
            return serving.container
        start = self.state.starting.get(name)
        made = [c for _, c in sorted(start.made.items()) if c] if start is not None else []
        return made[0] if made else None


def _wait_reason(dep: str, status: ContainerStatus | None, waiting: dict[str, str]) -> str:
    state = "not started"
    if status is not None:
        state = (
            f"Docker healthcheck: {status.health}"
            if status.has_healthcheck
            else ("still running" if status.running else f"exited with code {status.exit_code}")
        )
    waiters = ", ".join(n for n, why in waiting.items() if dep in why) or "a service"
    until = "healthy" if status is not None and status.has_healthcheck else "completed"
    return f"{state}; {waiters} waits until it is {until}"
