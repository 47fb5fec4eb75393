"""What `up` observes before the core decides: the project's containers, and per service the
facts `choose_image` decides from (the context digest, the image the tag names, the build
cache, the running containers). Observation only: `choose_image` and `plan_up` decide, the
first here (it needs no more than these facts), the second in the core once the image is
ready. The result is one `UpRequested` input. `watch` (attach) observes here too, and
`plan_attach` decides what serves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from composewatch import events as ev
from composewatch.buildcache import BuildCache
from composewatch.compose.model import LoadedProject
from composewatch.core.effects import Serving
from composewatch.core.images import ImageFacts, choose_image
from composewatch.core.inputs import UpRequest, UpRequested
from composewatch.core.plan import Observed, Wanted, plan_attach
from composewatch.core.startup import COMPLETED, needs_of, optional_of
from composewatch.engine.builder import prepare_build
from composewatch.engine.containers import ContainerInfo, Engine
from composewatch.engine.executor import DockerRunner
from composewatch.engine.steps import in_daemon_thread
from composewatch.errors import ComposewatchError
from composewatch.firstlook import FirstLook, observe_project
from composewatch.spec import (
    config_hash,
    image_name,
    referenced_services,
    replica_count,
    startup_order,
)
from composewatch.ui import UI

__all__ = ["UpObserver", "observed_of", "start_order"]


def observed_of(found: list[ContainerInfo], services: Sequence[str]) -> dict[str, list[Observed]]:
    observed: dict[str, list[Observed]] = {}
    for info in found:
        if info.service in services:
            observed.setdefault(info.service, []).append(
                Observed(
                    info.id,
                    info.name,
                    info.status == "running",
                    info.config_hash,
                    info.image_id,
                    info.number,
                )
            )
    return observed


def start_order(loaded: LoadedProject, services: Sequence[str]) -> list[str]:
    layers = startup_order(loaded.project)
    return [n for layer in layers for n in layer if n in services]


@dataclass
class UpObserver:
    """Observes the services `up` brings up, and says what it found as one input."""

    loaded: LoadedProject
    engine: Engine
    runner: DockerRunner
    services: list[str]  # all those `up` brings up (their depends_on are among them)
    first_look: FirstLook | None = None  # the engine's first answers, asked for early

    @property
    def cache(self) -> BuildCache:
        return self.runner.cache

    async def __call__(self, services: tuple[str, ...]) -> UpRequested:
        # The first observation was asked for while the watcher loaded (firstlook.py).
        first = self.first_look.take() if self.first_look is not None else None
        if first is not None:
            found = await asyncio.wrap_future(first)
        else:
            found = await asyncio.to_thread(observe_project, self.engine, self.loaded)
        needs = needs_of(self.loaded.project, self.services)
        optional = optional_of(self.loaded.project, self.services)
        completes = {d for n in self.services for d, c in needs[n].items() if c == COMPLETED}
        order = [n for n in start_order(self.loaded, self.services) if n in services]
        # Each context is walked in its own daemon thread: a large one takes a while, and
        # Ctrl-C must not wait for it.
        requests = await asyncio.gather(
            *(
                in_daemon_thread(
                    lambda n=name: self.request(n, found, needs[n], n in completes, optional[n]),  # type: ignore[misc]
                    f"observe-{name}",
                )
                for name in order
            )
        )
        return UpRequested(tuple(requests))

    def request(
        self,
        name: str,
        found: list[ContainerInfo],
        needs: dict[str, str],
        completes: bool,
        optional: tuple[str, ...] = (),
    ) -> UpRequest:
        service = self.loaded.project.services[name]
        tag = image_name(self.loaded.project, name)
        prepared = prepare_build(self.loaded, name) if service.build is not None else None
        digest = prepared.digest if prepared is not None else None
        if prepared is not None:
            self.runner.builds.keep_walk(name, prepared)
        current = self.engine.image_id(tag) if service.build is not None else None
        running = [i for i in found if i.service == name and i.status == "running"]
        choice = choose_image(
            ImageFacts(
                has_build=service.build is not None,
                tagged=current,
                cached_for_digest=self.cache.image_for(name, digest) if digest else None,
                built_by_us=self.cache.built(name, current),
                running_as_configured=any(
                    i.image_id == current and i.config_hash == config_hash(service) for i in running
                ),
            )
        )
        return UpRequest(
            name,
            choice,
            tuple(observed_of(found, [name]).get(name, [])),
            config_hash(service),
            replica_count(service),
            tag,
            digest,
            fallback=running[0].image_id if running else None,
            needs=tuple(needs.items()),
            completes=completes,
            optional=optional,
            names_others=bool(referenced_services(service)),
        )

    def attach(
        self, ui: UI, learn: Callable[[str, str], object]
    ) -> tuple[dict[str, Serving], bool]:
        """`watch`: serve what runs, as it is: observe, let `plan_attach` decide. Returns what
        serves each service, and whether every one has something running. Raises when
        nothing of the project runs (there is nothing to watch)."""
        found = self.engine.observe(self.loaded.project.name)
        images = {i.id: i.image_id for i in found}
        services = self.loaded.project.services
        wanted = {
            n: Wanted(config_hash(services[n]), "", replica_count(services[n]))
            for n in self.services
        }
        order = start_order(self.loaded, self.services)
        serving: dict[str, Serving] = {}
        for plan in plan_attach(observed_of(found, self.services), wanted, order):
            if not plan.containers:
                ui(ev.Note(f"{plan.service}: {plan.cause}", "warning"))
                continue
            first, *rest = plan.containers
            digest = self.cache.digest_of(plan.service, images[first])
            serving[plan.service] = Serving(first, images[first], digest, tuple(rest))
            if not plan.current:
                ui(ev.Note(f"{plan.service}: {plan.cause}", "warning"))
            count = len(plan.containers)
            ui(ev.ServiceStarted(plan.service, first[:12], True, 0.0, count))
            for container in plan.containers:
                learn(plan.service, container)
        if not serving:
            raise ComposewatchError(
                f"nothing of project {self.loaded.project.name} runs, so there is nothing to "
                "watch: `composewatch up` builds and starts it, then watches"
            )
        return serving, len(serving) == len(self.services)
