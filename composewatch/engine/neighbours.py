"""Tell the host's ARP table where a freshly started container is.

docker-proxy starts accepting on the published host port a little before the new container's
network answers. A connection in that window sends the host's ARP request for the container's
IP into the void; the entry stays INCOMPLETE and Linux asks again only after `retrans_time`
(1 s), so every client, and our own probe, waits up to a second for a container that is long
up. Docker knows the container's IP and MAC, so once it has started we write them into the
neighbour table, which releases the queued packets at once.

This needs CAP_NET_ADMIN in the engine's network namespace (composewatch as root beside a
local engine, as in CI); anywhere else it quietly does nothing and the kernel recovers alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Neighbour", "can_refresh", "forget_neighbours", "refresh_neighbours", "render_batch"]


@dataclass(frozen=True)
class Neighbour:
    ip: str
    mac: str
    device: str  # the network's bridge on the host, e.g. docker0 or br-<network id>


def can_refresh() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


def render_batch(neighbours: Iterable[Neighbour], *, forget: bool = False) -> str:
    """Pure: the `ip -batch` lines that set each neighbour reachable, or forget it."""
    if forget:
        return "".join(f"neigh del {n.ip} dev {n.device}\n" for n in neighbours)
    return "".join(
        f"neigh replace {n.ip} lladdr {n.mac} dev {n.device} nud reachable\n" for n in neighbours
    )


def refresh_neighbours(neighbours: Iterable[Neighbour]) -> None:
    _run(render_batch(neighbours))


def forget_neighbours(neighbours: Iterable[Neighbour]) -> None:
    """Drop a stopped container's entries. Its successor often gets the same IP and MAC; a
    connection docker-proxy makes before the successor's network is up would then be sent to
    that MAC and lost (1 s until TCP retries). Without an entry it waits for ARP instead, and
    `refresh_neighbours` releases it as soon as the successor has started."""
    _run(render_batch(neighbours, forget=True))


def _run(batch: str) -> None:
    if not batch or not can_refresh():
        return
    # -force: one entry that does not apply (a remote engine's bridge) must not stop the rest.
    subprocess.run(
        ["ip", "-force", "-batch", "-"],
        input=batch,
        text=True,
        capture_output=True,
        timeout=5,
        check=False,
    )
