"""How `up`'s rounds end (said, recorded for the dependents, or `up` cannot go on), and the
admission asked after every step: who may start, who waits and why, and the dependencies
whose status decides a wait, read when the engine says they changed."""

from __future__ import annotations

from dataclasses import replace

from composewatch import events as ev
from composewatch.core.effects import (
    CheckHealth,
    Effect,
    HashContext,
    ObserveUp,
    PullImage,
    StartBuild,
    StartReplica,
    WatchEngine,
    WatchStatus,
)
from composewatch.core.inputs import (
    EffectFailed,
    ReplicaStarted,
)
from composewatch.core.machine import Base
from composewatch.core.phases import ROUND_RESET, Phase
from composewatch.core.plan import Step
from composewatch.core.progress import (
    REPEAT_S,
    STALLED_S,
    ContainerStatus,
    ProbeProgress,
    ProbeResult,
)
from composewatch.core.startup import MIN_READ_S, Admission, Fact, admit

__all__ = ["UpAdmission", "UpEnds"]


class UpEnds(Base):
    """A service's `up` round ends; a failed effect of `up` said as its result would be."""

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


class UpAdmission(Base):
    """After every step: who may start now, who waits and why (said once per reason), and
    the dependencies whose status decides a wait."""

    def admit_up(self) -> None:
        if self.state.stopping or self.state.up_error is not None or not self.state.starting:
            self.say_waits(Admission())
            return
        starting = self.state.starting
        # One admitted while its containers are created ahead starts once they are.
        held = [n for n in starting if self.get(n).phase is Phase.HELD and not starting[n].admitted]
        needs = {n: dict(s.request.needs) for n, s in starting.items()}
        admission = admit(
            needs,
            self.state.facts,
            held,
            self.now,
            self.state.timeout_s,
            owed=[n for n in held if self.get(n).settle is not None],
            engine_lost=self.state.engine_lost,
            optional={n: s.request.optional for n, s in starting.items()},
        )
        if admission.failed:
            self.fail_up(*next(iter(admission.failed.items())))
            return
        for name, why in admission.warned.items():
            self.report(ev.Note(f"{name}: {why}; it starts anyway (required: false)", "warning"))
        for name in admission.start:
            self.start_up(name)
        for name, why in admission.waiting.items():
            self.say_held(name, why)
        self.create_ahead([n for n in held if n in admission.waiting])
        self.say_waits(admission)
        stuck = all(self.get(n).phase is Phase.HELD for n in self.state.starting)
        lost = self.state.engine_lost or any(s.creating for s in starting.values())
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
        """The container whose status decides: the first one `up` made or kept (a replaced
        one is stopped), else what serves."""
        start = self.state.starting.get(name)
        made = [c for _, c in sorted(start.made.items()) if c] if start is not None else []
        serving = self.get(name).serving
        return made[0] if made else serving.container if serving is not None else None


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
