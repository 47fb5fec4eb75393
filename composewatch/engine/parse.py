"""Pure parsers of the engine's JSON (container list summaries, container inspect), tested on
answers recorded from a real engine (tests/data/inspect-*.json). No I/O, no docker import."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from composewatch.compose.model import LABEL
from composewatch.core.probe import ContainerStatus

__all__ = [
    "ContainerInfo",
    "parse_multiplexed",
    "parse_name",
    "parse_published_url",
    "parse_status",
    "parse_summary",
]

_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    service: str
    number: int
    config_hash: str
    image_id: str  # com.docker.compose.image when set (compose's), else the engine's ImageID
    status: str  # created, running, exited, ...
    health: str | None  # healthy, unhealthy, starting; None without a healthcheck


def parse_summary(summary: dict[str, Any]) -> ContainerInfo:
    """One entry of `GET /containers/json`."""
    labels = summary.get("Labels") or {}
    match = _HEALTH.search(summary.get("Status", ""))
    number = str(labels.get(LABEL + "container-number") or "0")
    return ContainerInfo(
        id=summary["Id"],
        name=(summary.get("Names") or ["/"])[0].lstrip("/"),
        service=labels.get(LABEL + "service", ""),
        number=int(number) if number.isdigit() else 0,
        config_hash=labels.get(LABEL + "config-hash", ""),
        image_id=labels.get(LABEL + "image") or summary.get("ImageID", ""),
        status=summary.get("State", ""),
        health=match.group(1).replace("health: ", "") if match else None,
    )


def parse_status(inspect: dict[str, Any] | None) -> ContainerStatus:
    """`GET /containers/{id}/json` → what the health wait needs; None: the container is gone."""
    if inspect is None:
        return ContainerStatus(running=False, exit_code=None, health=None, has_healthcheck=False)
    state = inspect.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    return ContainerStatus(
        running=bool(state.get("Running")),
        exit_code=int(state.get("ExitCode") or 0),
        health=health,
        has_healthcheck=health is not None,
    )


def parse_published_url(
    inspect: dict[str, Any], container_port: int | None, path: str, host: str | None = None
) -> str | None:
    """http://127.0.0.1:<host port><path> for a published TCP port; None when not (yet)
    published (a container that exited has no ports). `host` replaces the address for a
    remote engine, whose ports answer on its own host."""
    ports = (inspect.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in ports.get(f"{container_port}/tcp") or []:
        host_ip = binding.get("HostIp") or "127.0.0.1"
        # Probe over loopback whatever the container publishes on: only this machine.
        address = host or (host_ip if host_ip.startswith("127.") else "127.0.0.1")
        return f"http://{address}:{binding['HostPort']}{path}"
    return None


def parse_name(inspect: dict[str, Any]) -> str:
    return str(inspect.get("Name") or "").lstrip("/")


def parse_multiplexed(data: bytes) -> str:
    """The output in the engine's multiplexed stream (a non-TTY exec or attach): frames of an
    8-byte header (stream, 0, 0, 0, big-endian size) and that many bytes, stdout and stderr
    in the order written. A cut-off last frame gives what arrived of it."""
    out = bytearray()
    at = 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4 : at + 8], "big")
        out += data[at + 8 : at + 8 + size]
        at += 8 + size
    return out.decode(errors="replace")
