"""The executor's swap, a transaction: `swap` creates the new container under a temporary
name, stops the old one and starts the new one; if any of that fails it undoes it (removes
the new, starts the old) before returning `SwapUndone`, and raises only when the undo failed
too, so the core rolls back again. `commit` and `rollback` are idempotent: the core runs them
again after an interruption, and the next `swap` first removes whatever an interrupted one
left under the temporary name."""

from __future__ import annotations

from dataclasses import dataclass

from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.core.effects import Exchange, Steps
from composewatch.core.inputs import Input, Swapped, SwapUndone
from composewatch.core.plan import LEFTOVER_SUFFIX
from composewatch.core.ports import explain_port_in_use
from composewatch.engine.containers import Engine
from composewatch.engine.steps import StepClock
from composewatch.engine.stopsignal import StopSignals, stop_timeout_s
from composewatch.errors import ComposewatchError, EngineError
from composewatch.spec import ContainerSpec, container_name, container_spec, referenced_services

__all__ = ["TEMP_SUFFIX", "SwapNotUndone", "Swaps"]

TEMP_SUFFIX = LEFTOVER_SUFFIX  # the name a new container has until it is committed


class SwapNotUndone(EngineError):
    """A swap failed and so did its undo: the old container may be stopped."""


@dataclass
class Swaps:
    settings: Settings
    engine: Engine
    signals: StopSignals

    def stop_timeout_s(self, loaded: LoadedProject, service: str, container: str) -> float:
        return stop_timeout_s(self.signals, loaded.project, self.settings, service, container)

    def swap(
        self,
        loaded: LoadedProject,
        service: str,
        generation: int,
        image: str,
        old: str | None,
        number: int = 1,
    ) -> Input:
        try:
            new, steps = self.swap_in(loaded, service, image, old, number)
        except SwapNotUndone:
            raise  # the core rolls back again: the old container may not serve
        except ComposewatchError as exc:
            return SwapUndone(service, generation, self.explain(loaded, service, exc))
        return Swapped(service, generation, new, steps)

    def explain(self, loaded: LoadedProject, service: str, exc: ComposewatchError) -> str:
        """A failure's text; a host port in use names the compose file and key."""
        message = str(exc)
        model = loaded.project.services[service]
        files = ", ".join(loaded.config_files) or "the compose file"
        return explain_port_in_use(message, service, model, files) or message

    def spec_for(
        self, loaded: LoadedProject, service: str, image: str, number: int = 1
    ) -> ContainerSpec:
        """Replica `number`'s container to create, with the containers of the services it
        names (observed only when it names some: `service:x` namespaces, `volumes_from`,
        `links`)."""
        wanted = referenced_services(loaded.project.services[service])
        peers = self.engine.peers(loaded.project.name, wanted)
        return container_spec(loaded, service, image, number=number, peers=peers)

    def swap_in(
        self, loaded: LoadedProject, service: str, image: str, old: str | None, number: int = 1
    ) -> tuple[str, Steps]:
        """Create the new container beside the old, then stop the old and start the new.

        Old and new publish the same host ports, so the new one can only start once the old
        one has stopped; creating it first keeps that gap as short as it can be.
        """
        clock = StepClock()
        spec = self.spec_for(loaded, service, image, number)
        temp = spec.name + TEMP_SUFFIX
        self.engine.remove(temp)  # what an interrupted swap left behind, if anything
        new = self.engine.create(spec, temp_name=temp)
        clock.lap("create")
        try:
            if old is not None:
                self.engine.stop(old, self.stop_timeout_s(loaded, service, old))
                clock.lap("stop")
            self.engine.start(new)
            clock.lap("start")
        except BaseException as exc:
            try:
                self.rollback(loaded, service, Exchange(number, new, old))
            except Exception as undo:  # reported with the cause below
                raise SwapNotUndone(f"{exc}; undoing the swap failed too: {undo}") from exc
            raise
        return new, clock.steps()

    def commit(self, loaded: LoadedProject, service: str, exchange: Exchange) -> None:
        new, old = exchange.new, exchange.old
        if old is not None and old != new:
            self.engine.remove(old)
        if new is None:
            return  # a replica above the scale: removed
        name = container_name(loaded.project, service, exchange.number)
        if self.engine.container_name(new) != name:
            self.engine.rename(new, name)
        # Learn the new container's stop policy now, not on the next save's critical path.
        self.signals.observe(service, new)

    def rollback(self, loaded: LoadedProject, service: str, exchange: Exchange) -> None:
        new, old = exchange.new, exchange.old
        spec_name = container_name(loaded.project, service, exchange.number)
        if new is not None and new != old:
            self.engine.remove(new)
        self.engine.remove(spec_name + TEMP_SUFFIX)
        if old is not None:
            self.engine.start(old)
