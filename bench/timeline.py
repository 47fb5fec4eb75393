"""What happened between a save and the new content being served, from the engine's events.

The same milestones for every tool, measured from the save (engine wall clock):

- `image`: the new image of the service was tagged (the end of detect + context + build);
- `old down`: the container that served at the save died;
- `created`: the new container was created;
- `started`: the engine reported it started;
- `served`: the first answer carrying the new marker (the poller's figure).

Pure: events in, offsets out.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence

from bench.gate import EngineEvent

__all__ = ["MILESTONES", "median_healthy", "median_milestones", "milestones"]

MILESTONES = ("image", "old down", "created", "started", "served")


def _image_of(name: str, service: str) -> bool:
    """`project-web:bench`, `project-web:latest`, `project-web`: the service's image."""
    repository = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return repository.endswith(f"-{service}")


def milestones(
    events: Iterable[EngineEvent],
    *,
    service: str,
    saved_at_s: float,
    running_at_save: Collection[str],
    served_at_s: float | None,
) -> dict[str, float]:
    """Seconds from the save to each milestone seen (the first of each kind after the save)."""
    at: dict[str, float] = {}
    created: set[str] = set()
    for event in events:
        if event.at_s < saved_at_s:
            continue
        offset = event.at_s - saved_at_s
        if event.kind == "image":
            if event.action == "tag" and _image_of(event.name, service):
                at.setdefault("image", offset)
            continue
        if event.service != service:
            continue
        if event.action == "die" and event.actor in running_at_save:
            at.setdefault("old down", offset)
        elif event.action == "create" and event.actor not in running_at_save:
            created.add(event.actor)
            at.setdefault("created", offset)
        elif event.action == "start" and event.actor in created:
            at.setdefault("started", offset)
    if served_at_s is not None:
        at["served"] = served_at_s - saved_at_s
    return {name: at[name] for name in MILESTONES if name in at}


def median_milestones(per_save: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The median of each milestone over the saves that reached it, in milestone order."""
    out: dict[str, float] = {}
    for name in MILESTONES:
        values = [m[name] for m in per_save if name in m]
        if values:
            out[name] = statistics.median(values)
    return out


def median_healthy(per_save: Sequence[Mapping[str, float]]) -> float | None:
    """The median time from the new container's start to the first served answer: the app's
    start-up as the client sees it."""
    values = [m["served"] - m["started"] for m in per_save if "served" in m and "started" in m]
    return statistics.median(values) if values else None
