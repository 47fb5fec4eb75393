"""A host port already in use, said in the compose file's words (pure).

The engine refuses to start a container whose published port is taken in one of two ways:
another container holds it (`Bind for 127.0.0.1:5000 failed: port is already allocated`),
or another program listens on it (`listen tcp4 0.0.0.0:5000: bind: address already in use`).
Either way the fix is in the compose file: `explain_port_in_use` names the entry.
"""

from __future__ import annotations

import re

from composewatch.compose.model import PortConfig, Service

__all__ = ["explain_port_in_use", "port_in_use"]

_IN_USE = (
    re.compile(r"Bind for (?P<ip>\S*):(?P<port>\d+) failed: port is already allocated"),
    re.compile(
        r"listen (?:tcp|udp|sctp)[46]? (?P<ip>\S*):(?P<port>\d+): bind: address already in use"
    ),
)


def port_in_use(message: str) -> tuple[str, int] | None:
    """The (host address, port) the engine says is taken, None when it says something else."""
    for pattern in _IN_USE:
        found = pattern.search(message)
        if found:
            return found.group("ip").strip("[]"), int(found.group("port"))
    return None


def _publishes(entry: PortConfig, port: int) -> bool:
    first, _, last = (entry.published or "").partition("-")
    if not first.isdigit():
        return False
    return int(first) <= port <= int(last if last.isdigit() else first)


def explain_port_in_use(message: str, name: str, service: Service, files: str) -> str | None:
    """The engine's refusal with the file and the key that publish the port, and what to do;
    None when `message` is not about a port in use."""
    found = port_in_use(message)
    if found is None:
        return None
    address, port = found
    entries = [i for i, entry in enumerate(service.ports or ()) if _publishes(entry, port)]
    if not entries:
        return None
    index = entries[0]
    target = (service.ports or [])[index].target
    where = "all its addresses" if address in ("", "0.0.0.0", "::") else address
    return (
        f"{files}: services.{name}.ports[{index}] publishes host port {port} (on {where}), "
        "which something else on the engine's host already uses: stop it, or publish "
        f'another host port ("{port + 1}:{target}") or let the engine pick one ("{target}"). '
        f"The engine said: {message}"
    )
