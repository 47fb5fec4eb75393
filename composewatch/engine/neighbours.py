"""Tell the host's ARP table where a freshly started container is.

docker-proxy starts accepting on the published host port a little before the new container's
network answers. A connection in that window sends the host's ARP request for the container's
IP into the void; the entry stays INCOMPLETE and Linux asks again only after `retrans_time`
(1 s), so every client, and our own probe, waits up to a second for a container that is long
up. Docker knows the container's IP and MAC, so once it has started we write them into the
neighbour table, which releases the queued packets at once.

The entries are written with one rtnetlink message each, sent from this process (no `ip`
subprocess on the way to the restart or after it). This needs CAP_NET_ADMIN in the engine's
network namespace (composewatch as root beside a local engine, as in CI); anywhere else it
quietly does nothing and the kernel recovers alone.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Neighbour", "can_refresh", "forget_neighbours", "neigh_messages", "refresh_neighbours"]

# <linux/rtnetlink.h>, <linux/neighbour.h>, <linux/netlink.h>
RTM_NEWNEIGH, RTM_DELNEIGH = 28, 29
NLM_F_REQUEST, NLM_F_REPLACE, NLM_F_CREATE = 0x1, 0x100, 0x400
NUD_REACHABLE = 0x02
NDA_DST, NDA_LLADDR = 1, 2


@dataclass(frozen=True)
class Neighbour:
    ip: str
    mac: str
    device: str  # the network's bridge on the host, e.g. docker0 or br-<network id>


def can_refresh() -> bool:
    return os.geteuid() == 0 and hasattr(socket, "AF_NETLINK")


def _attribute(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + bytes(-length % 4)


def neigh_messages(entries: Iterable[tuple[Neighbour, int]], *, forget: bool = False) -> bytes:
    """Pure: the rtnetlink messages (neighbour, its bridge's interface index) that set each
    neighbour reachable (`ip neigh replace IP lladdr MAC dev BR nud reachable`), or forget it
    (`ip neigh del IP dev BR`)."""
    messages = b""
    for seq, (neighbour, index) in enumerate(entries, 1):
        state = 0 if forget else NUD_REACHABLE
        body = struct.pack("=BBHiHBB", socket.AF_INET, 0, 0, index, state, 0, 0)
        body += _attribute(NDA_DST, ipaddress.IPv4Address(neighbour.ip).packed)
        if not forget:
            body += _attribute(NDA_LLADDR, bytes.fromhex(neighbour.mac.replace(":", "")))
        kind = RTM_DELNEIGH if forget else RTM_NEWNEIGH
        flags = NLM_F_REQUEST | (0 if forget else NLM_F_CREATE | NLM_F_REPLACE)
        messages += struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body
    return messages


def refresh_neighbours(neighbours: Iterable[Neighbour]) -> None:
    _send(neighbours, forget=False)


def forget_neighbours(neighbours: Iterable[Neighbour]) -> None:
    """Drop a stopped container's entries. Its successor often gets the same IP and MAC; a
    connection docker-proxy makes before the successor's network is up would then be sent to
    that MAC and lost (1 s until TCP retries). Without an entry it waits for ARP instead, and
    `refresh_neighbours` releases it as soon as the successor has started."""
    _send(neighbours, forget=True)


def _send(neighbours: Iterable[Neighbour], *, forget: bool) -> None:
    if not can_refresh():
        return
    entries = []
    for neighbour in neighbours:
        with contextlib.suppress(OSError, ValueError):  # a bridge not here (remote engine)
            entries.append((neighbour, socket.if_nametoindex(neighbour.device)))
    if not entries:
        return
    # rtnetlink handles each request within the send: once it returns, the table is written.
    # An entry that does not apply is answered with an error nobody needs to read.
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock,
    ):
        sock.sendto(neigh_messages(entries, forget=forget), (0, 0))
