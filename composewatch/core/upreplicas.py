"""`up`'s replicas: those that replace nothing start together and are checked, the healthy
ones committed; those that replace a container are swapped in turn, as a save's round."""

from __future__ import annotations

from dataclasses import replace

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import (
    CheckHealth,
    Commit,
    CreateAhead,
    Exchange,
    ObserveUp,
    Serving,
    StartReplica,
)
from composewatch.core.inputs import (
    CreatedAhead,
    ReplicaStarted,
)
from composewatch.core.machine import Base
from composewatch.core.phases import Phase
from composewatch.core.plan import Step
from composewatch.core.startup import Fact, create_early

__all__ = ["UpReplicas"]


class UpReplicas(Base):
    """Replicas started, checked, committed; the ones that replace a container swapped."""

    def start_up(self, name: str) -> None:
        """Admitted: the replicas that replace nothing start together; those that replace a
        container go after, one at a time (`replace_in_turn`)."""
        start, service = self.state.starting[name], self.get(name)
        assert start.image is not None
        if start.creating:  # created ahead still: started once they are (on_created_ahead)
            self.put_start(name, replace(start, admitted=True))
            return
        self.put_start(name, replace(start, began_at=self.now, held=""))
        self.enter(name, Phase.STARTING)
        fresh = [p for p in start.plans if p.step is not Step.RECREATE]
        for plan in fresh:
            made = start.ahead.get(plan.number)  # created ahead: only its start is left
            step, keep = (Step.START, made) if made else (plan.step, plan.keep)
            removed = () if made else plan.removed
            generation = service.generation
            self.emit(StartReplica(name, generation, step, start.image, keep, plan.number, removed))
        if not fresh:
            self.fresh_done(name)

    def create_ahead(self, held: list[str]) -> None:
        """Containers of services still held are created before their conditions hold, as
        compose creates every container before it starts any (`core.startup.create_early`
        says whose, and when): their start is then all that is left."""
        starting = self.state.starting
        under_way = any(
            self.get(n).phase is Phase.STARTING
            and self.state.facts.get(n, Fact()).started_at_s is None
            for n in starting
        )
        asked = [n for n in held if starting[n].asked_ahead or starting[n].image is None]
        others = [n for n in held if starting[n].request.names_others]
        for name in create_early(held, asked, others, under_way):
            start, generation = starting[name], self.get(name).generation
            assert start.image is not None
            fresh = [p for p in start.plans if p.step is Step.CREATE]
            numbers = frozenset(p.number for p in fresh)
            self.put_start(name, replace(start, asked_ahead=True, creating=numbers))
            for plan in fresh:
                self.emit(CreateAhead(name, generation, start.image, plan.number, plan.removed))

    def on_created_ahead(self, event: CreatedAhead) -> None:
        """A container created ahead (or not: its start creates it as usual)."""
        start = self.state.starting.get(event.service)
        if start is None or self.get(event.service).generation != event.generation:
            return
        ahead = dict(start.ahead)
        if event.container is not None:
            ahead[event.number] = event.container
        creating = start.creating - {event.number}
        self.put_start(event.service, replace(start, ahead=ahead, creating=creating))
        if start.admitted and not creating and not self.state.stopping:
            self.start_up(event.service)

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
            owed = self.get(name).settle is not None
            if name in self.state.redo and not owed and not self.state.engine_lost:
                self.emit(ObserveUp((name,)))  # what the outage left is settled: observe
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
        if not ordered:  # scaled to 0: nothing to start
            self.end_up(name, True)
            return
        if any(c is None for c in ordered) or self.state.stopping:
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
