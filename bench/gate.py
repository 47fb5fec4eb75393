"""When the poller may connect: the engine's container events decide, identically for every tool.

docker-proxy starts accepting on the published host port while the engine starts a container,
before the container's network answers. A client that connects in that window makes the host
ask for the container's MAC address (ARP) into the void; Linux asks again only after 1 s, so
that one request, and every one queued behind it, waits a second for a container that is long
up. The stall is created by the client, so a harness that connects in the window makes every
tool pay for its own behaviour (and rewards a tool that repairs the ARP entry).

The gated poller does not connect while the target service has a container that was created
but has not started yet and none of its containers is running: that is exactly when a new
docker-proxy can be listening in front of a network that does not answer yet (the new
container can only take the host port once the old one has let go of it). Nothing serves the
port in that window, so the harness counts the gated time as unserved.

Pure: the events come in as parsed values; `bench.events` reads them from the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SERVICE_LABELS", "EngineEvent", "Gate", "parse_event"]

# The label naming a container's service: compose's (compose, gaze, composewatch), the script's.
SERVICE_LABELS = ("com.docker.compose.service", "bench.service")

# Container states as `docker ps` names them, and the event that leads to each.
_STATE_AFTER = {
    "create": "created",
    "start": "running",
    "die": "exited",
    "destroy": "removed",
}


@dataclass(frozen=True)
class EngineEvent:
    """One container or image event from `docker events --format '{{json .}}'`."""

    kind: str  # container | image
    action: str  # create, start, die, destroy, tag, ...
    actor: str  # container id, or image id
    at_s: float  # the engine's wall-clock time (time.time() scale)
    service: str | None  # containers: the service label
    name: str  # containers: the container name; images: the image name as tagged


def _service(attributes: dict[str, str]) -> str | None:
    for label in SERVICE_LABELS:
        if attributes.get(label):
            return attributes[label]
    return None


def parse_event(line: str) -> EngineEvent | None:
    """One line of `docker events --format '{{json .}}'`; None for anything else."""
    try:
        raw: Any = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or raw.get("Type") not in ("container", "image"):
        return None
    actor = raw.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    action = str(raw.get("Action", ""))
    # Exec events read "exec_start: sh -c ..."; keep only the verb.
    action = action.split(":", 1)[0]
    return EngineEvent(
        kind=str(raw["Type"]),
        action=action,
        actor=str(actor.get("ID", "")),
        at_s=int(raw.get("timeNano", 0)) / 1e9,
        service=_service(attributes) if raw["Type"] == "container" else None,
        name=str(attributes.get("name", "")),
    )


@dataclass
class Gate:
    """The containers of one service and what they are doing, as the engine has reported."""

    service: str
    states: dict[str, str] = field(default_factory=dict)  # container id -> state

    def seed(self, states: dict[str, str]) -> None:
        """The states `docker ps -a` reported; events already applied win."""
        for container, state in states.items():
            self.states.setdefault(container, state)

    def apply(self, event: EngineEvent) -> None:
        if event.kind != "container" or event.service != self.service:
            return
        state = _STATE_AFTER.get(event.action)
        if state == "removed":
            self.states.pop(event.actor, None)
        elif state is not None:
            self.states[event.actor] = state

    @property
    def open(self) -> bool:
        """False while a new container waits to start and nothing of the service runs."""
        values = self.states.values()
        return "running" in values or "created" not in values
