"""Hints, each shown once: a build context too big to send quickly, a service whose health
can only be judged by "it runs", a phase of a save that is slow, with what to do about it.
(The SIGTERM hint lives with the stop policy, which learns it.)

`*_hint` functions are pure; `load_context_sizes` walks a build context as the engine would
receive it; `HintingUI` watches the events for slow phases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from composewatch import events as ev
from composewatch.core.ignore import IgnoreRules
from composewatch.engine.buildcontext import (
    dockerfile_of,
    load_dockerfile_text,
    load_ignore_rules,
    walk_context,
)
from composewatch.health import ProbeKind, ProbePlan
from composewatch.ui import UI

__all__ = [
    "CONTEXT_HINT_BYTES",
    "SLOW_PHASE_S",
    "HintingUI",
    "context_hint",
    "has_healthcheck",
    "health_hint",
    "load_context_sizes",
    "slow_phase_hint",
    "startup_hints",
]

CONTEXT_HINT_BYTES = 5 * 1024 * 1024
# Beyond these a phase is slow enough to be worth a word (seconds).
SLOW_PHASE_S: Mapping[str, float] = {
    "detect": 1.0,
    "context": 1.0,
    "build": 15.0,
    "building": 15.0,
    "stop": 3.0,
    "start": 3.0,
    "checking": 10.0,
}
_BUILD = (
    "order the Dockerfile so the layers that change (COPY of the code) come last, "
    "and dependencies install before them"
)
_ADVICE = {
    "detect": "the watcher is slow to settle: a tool writing many files after the save? "
    "lower x-composewatch.quiet_ms or exclude its output folder",
    "context": "the build context takes long to pack: add large folders to .dockerignore",
    "build": _BUILD,
    "building": _BUILD,
    "stop": "the old container is slow to stop: handle SIGTERM in the app, add `init: true`, "
    "or set a short stop_grace_period",
    "start": "the container is slow to start: the engine's network setup, or a slow entrypoint",
    "checking": "the new container takes long to answer: check its startup work, or point "
    "x-composewatch.services.<name>.health at a cheaper URL",
}


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def context_hint(service: str, sizes: Mapping[str, int]) -> str | None:
    """sizes: top-level entry of the context -> bytes sent. None when the context is small."""
    total = sum(sizes.values())
    if total <= CONTEXT_HINT_BYTES:
        return None
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
    named = ", ".join(f"{name} ({_mb(size)})" for name, size in largest)
    return (
        f"{service}: its build context is {_mb(total)}, sent to the engine on every rebuild; "
        f"largest: {named}. Add what the image does not need to .dockerignore."
    )


def health_hint(service: str, plan: ProbePlan, has_healthcheck: bool) -> str | None:
    if plan.kind is ProbeKind.HTTP or has_healthcheck:
        return None
    return (
        f"{service}: no published port and no healthcheck, so composewatch counts a new "
        "container live as soon as it runs. Publish a port, add a healthcheck, or set "
        f"x-composewatch.services.{service}.health (url or port) for a real check."
    )


def slow_phase_hint(service: str, phase: str, seconds: float) -> str | None:
    limit = SLOW_PHASE_S.get(phase)
    if limit is None or seconds <= limit:
        return None
    return f"{service}: {phase} took {seconds:.1f} s; {_ADVICE[phase]}"


def load_context_sizes(context: Path, ignore: IgnoreRules) -> dict[str, int]:
    """Bytes per top-level entry of the context, as the build would send it (moby's ignore
    rules, the same walk that makes the build's tar)."""
    sizes: dict[str, int] = {}
    for member in walk_context(context, ignore):
        rel = member.name.rstrip("/")
        top = rel.split("/", 1)[0] + ("/" if "/" in rel or member.name.endswith("/") else "")
        sizes[top] = sizes.get(top, 0) + member.size
    return {name: size for name, size in sizes.items() if size or not name.endswith("/")}


class HintingUI:
    """Passes every event on; after a Live, says once per (service, phase) when a phase was
    slow."""

    def __init__(self, inner: UI) -> None:
        self.inner = inner
        self._said: set[tuple[str, str]] = set()

    def __call__(self, event: ev.Event) -> None:
        self.inner(event)
        if isinstance(event, ev.Live):
            for phase, seconds in event.timings:
                hint = slow_phase_hint(event.service, phase, seconds)
                if hint is not None and (event.service, phase) not in self._said:
                    self._said.add((event.service, phase))
                    self.inner(ev.Note(hint))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def has_healthcheck(
    service: Any, dockerfile: str | None, image_config: Mapping[str, Any] | None
) -> bool:
    """Pure: the service's own healthcheck, else its Dockerfile's, else its image's."""
    check = service.healthcheck
    if check is not None:
        return not (check.disable or (check.test or [""])[0] == "NONE")
    if dockerfile is not None and any(
        line.strip().upper().startswith("HEALTHCHECK") and "NONE" not in line.upper()
        for line in dockerfile.splitlines()
    ):
        return True
    test = ((image_config or {}).get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def startup_hints(
    loaded: Any, settings: Any, services: Iterable[str], image_config: Any
) -> Iterable[str]:
    """The hints a project deserves before its first save (reads its build contexts).
    `image_config(ref) -> dict | None` reads an image's config from the engine."""
    from composewatch.health import choose_probe
    from composewatch.spec import image_name

    for name in services:
        service = loaded.project.services[name]
        dockerfile = None
        if service.build is not None and "://" not in service.build.context:
            context = Path(service.build.context)
            dockerfile = load_dockerfile_text(service.build)
            rules, _ = load_ignore_rules(context, dockerfile_of(service.build))
            hint = context_hint(name, load_context_sizes(context, rules))
            if hint:
                yield hint
        plan = choose_probe(service, settings.for_service(name).health)
        if plan.kind is not ProbeKind.HTTP:
            config = None if dockerfile else image_config(image_name(loaded.project, name))
            hint = health_hint(name, plan, has_healthcheck(service, dockerfile, config))
            if hint:
                yield hint
