"""A round's new containers: swapped one replica at a time and checked, then committed or
rolled back; or the saved files updated in place (and the image catching up afterwards)."""

from __future__ import annotations

from pathlib import Path

from composewatch import events as ev
from composewatch.core.action import Action
from composewatch.core.effects import (
    CheckHealth,
    Commit,
    Exchange,
    Rollback,
    Serving,
    Swap,
    UpdateInPlace,
)
from composewatch.core.inputs import Changed, Healthy, Swapped, Synced, UpdatedInPlace
from composewatch.core.machine import HOW, Base, digest_kept, totals
from composewatch.core.phases import Phase

__all__ = ["InPlace", "Swaps"]


class Swaps(Base):
    """Replicas swapped in turn, each found healthy before the next; commit or roll back."""

    def on_swapped(self, event: Swapped) -> None:
        service = self.enter(event.service, Phase.CHECKING, event.steps)
        self.update(event.service, candidate=event.container)
        self.up_made(event.service, service.number, event.container)
        if self.state.stopping:  # never checked: the old container serves again
            self.roll_back(event.service, None)
            return
        self.emit(CheckHealth(event.service, service.generation, event.container))
        self.report(ev.CheckStarted(event.service))

    def swap_replica(self, name: str) -> None:
        """Swap the round's next replica (the others serve meanwhile) with its image."""
        service = self.get(name)
        assert service.image is not None
        swap = Swap(name, service.generation, service.image, self.replaced(name), service.number)
        self.emit(swap)

    def wanted(self, name: str) -> int:
        """How many replicas the service's round swaps."""
        serving = self.get(name).serving
        return self.state.replicas.get(name, len(serving.containers) if serving else 1)

    def replaced(self, name: str) -> str | None:
        """The container the replica being swapped replaces (None: it had none)."""
        service = self.get(name)
        serving = service.serving.containers if service.serving is not None else ()
        return serving[service.number - 1] if service.number <= len(serving) else None

    def on_healthy(self, event: Healthy) -> None:
        name, service = event.service, self.get(event.service)
        if service.action is Action.UPDATE:
            self.updated_healthy(name)
            return
        if service.candidate is None:  # a restarted container after a sync: nothing to commit
            self.on_live(name)
            return
        old = service.serving
        exchanged = (
            *service.exchanged,
            Exchange(service.number, service.candidate, self.replaced(name)),
        )
        self.update(name, exchanged=exchanged, candidate=None)
        if len(exchanged) < (len(service.numbers) or self.wanted(name)):
            # One replica at a time: the next one is swapped once this one is found healthy.
            self.enter(name, Phase.SWAPPING)
            self.swap_replica(name)
            return
        image = service.image or (old.image if old is not None else "")
        new, removed = _after_swaps(old, exchanged, bool(service.numbers))
        commit = Commit(name, event.generation, (*exchanged, *removed))
        self.update(
            name,
            serving=Serving(new[0], image, service.digest or digest_kept(old, image), new[1:]),
            settle=commit,  # owed until Committed
            behind=False,
        )
        if not service.restoring and name not in self.state.starting:
            self.report_live(name)
        self.enter(name, Phase.COMMITTING)
        self.emit(commit)

    def undo(self, name: str) -> Rollback:
        """Undo the round's swaps: the replica in flight first, then those already found
        healthy, latest first, so the others serve while each one is put back."""
        service = self.get(name)
        current = Exchange(service.number, service.candidate, self.replaced(name))
        return Rollback(name, service.generation, (current, *reversed(service.exchanged)))

    def roll_back(self, name: str, outcome: ev.Event | None) -> None:
        service = self.get(name)
        if service.action is Action.UPDATE and not self.state.stopping and outcome is not None:
            self.restore(name, outcome)
            return
        if service.action is Action.UPDATE:  # stopping: the updated container stays as it is
            self.update(name, behind=True)
            self.finish(name, outcome)
            return
        rollback = self.undo(name)
        self.update(name, outcome=outcome, settle=rollback)
        self.enter(name, Phase.ROLLING_BACK)
        self.emit(rollback)

    def report_live(self, name: str) -> None:
        service = self.enter(name, self.get(name).phase)  # close the current phase's clock
        since_save = self.now - service.saved_at if service.saved_at is not None else None
        how = HOW.get(service.action, "") if service.action is not None else ""
        self.report(ev.Live(name, since_save, totals(service.timings), how))

    def on_live(self, name: str) -> None:
        self.report_live(name)
        self.finish(name, None)

    def follow_dependents(self, name: str, saved_at: float | None) -> None:
        """A new container now serves `name`: its dependents restart or are recreated, as
        `docker compose up` does (each one as if it had changed)."""
        for dependent, action in self.state.dependents.get(name, ()):
            if dependent in self.state.services:  # only the services this session runs
                change = Changed(dependent, action, frozenset(), saved_at or 0.0)
                self.on_changed(change, noticed_at=saved_at)  # it waited for `name`'s round


class InPlace(Base):
    """Saved files copied into the running replicas, which restart; a sync's restart."""

    def update_replica(self, name: str) -> None:
        """Update the round's next replica in place (the others serve meanwhile)."""
        service = self.get(name)
        assert service.serving is not None
        container = service.serving.containers[service.updated]
        number = service.updated + 1
        self.emit(UpdateInPlace(name, service.generation, container, service.copies, number))

    def on_updated(self, event: UpdatedInPlace) -> None:
        service = self.enter(event.service, Phase.CHECKING, event.steps)
        assert service.serving is not None
        if self.state.stopping or service.pending is not None:
            # Stopping: it restarted with the saved code, leave it so. A newer save waits:
            # checking code that is already stale would only delay it (its round checks).
            self.update(event.service, behind=True)
            self.finish(event.service, None)
            return
        container = service.serving.containers[service.updated]
        self.emit(CheckHealth(event.service, service.generation, container))
        self.report(ev.CheckStarted(event.service))

    def update_failed(self, name: str, message: str) -> None:
        """The files could not go in place: build and swap instead, for the same save."""
        service = self.get(name)
        assert service.saved_at is not None
        self.update(name, phase=Phase.IDLE)
        why = f"rebuild: the in-place update failed ({message})"
        self.begin(name, Action.REBUILD, service.paths, service.saved_at, service.timings, (), why)

    def updated_healthy(self, name: str) -> None:
        """One more replica serves the saved code: the next one, or the round is live and the
        image catches up in the background."""
        service = self.update(name, updated=self.get(name).updated + 1, behind=True)
        assert service.serving is not None
        if service.updated < len(service.serving.containers):
            self.enter(name, Phase.UPDATING)
            self.update_replica(name)
            return
        self.report_live(name)
        saved_at = service.saved_at
        self.finish(name, None)
        self.follow_dependents(name, saved_at)
        if self.get(name).phase is Phase.IDLE and not self.state.stopping:
            self.catch_up(name, service.paths)

    def catch_up(self, name: str, paths: frozenset[Path]) -> None:
        """Build the image the container now matches, off the critical path: a newer save
        cancels it; its result changes the image, never the container."""
        self.update(
            name,
            generation=self.get(name).generation + 1,
            action=Action.REBUILD,
            paths=paths,
            background=True,
            why="the image catches up with the container",
        )
        self.build_or_queue(name)

    def restore(self, name: str, outcome: ev.Event) -> None:
        """An in-place update did not come up healthy: put back containers of the image that
        served before the save (the code that served), then report why."""
        service = self.get(name)
        assert service.serving is not None
        self.update(
            name,
            action=Action.RECREATE,
            image=service.serving.image,
            restoring=True,
            outcome=outcome,
            updated=0,
            exchanged=(),
            candidate=None,
        )
        self.enter(name, Phase.SWAPPING)
        self.swap_replica(name)

    def on_synced(self, event: Synced) -> None:
        service = self.get(event.service)
        if event.restarted and service.serving is not None:
            self.enter(event.service, Phase.CHECKING)
            self.emit(CheckHealth(event.service, event.generation, service.serving.container))
            self.report(ev.CheckStarted(event.service))
        else:
            self.on_live(event.service)


def _after_swaps(
    old: Serving | None, exchanged: tuple[Exchange, ...], some: bool
) -> tuple[tuple[str, ...], tuple[Exchange, ...]]:
    """The containers that serve once the round's swaps are committed, and the replicas
    above the scale to remove. A round of every replica (a save) leaves those it swapped; a
    round of `some` (`up` replacing a few) leaves the others as they were."""
    if some and old is not None:
        merged = dict(enumerate(old.containers, 1))
        merged.update({e.number: e.new for e in exchanged if e.new is not None})
        return tuple(merged[n] for n in sorted(merged)), ()
    above = old.containers[len(exchanged) :] if old is not None else ()
    removed = tuple(Exchange(n, None, c) for n, c in enumerate(above, len(exchanged) + 1))
    return tuple(e.new for e in exchanged if e.new is not None), removed
