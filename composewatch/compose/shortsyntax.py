"""Parsers for compose's short syntaxes: volume mounts (`./src:/app:ro`) and ports
(`127.0.0.1:8000-8001:80-81/udp`), giving the long form as plain dicts."""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["ShortSyntaxError", "parse_port", "parse_volume"]


class ShortSyntaxError(ValueError):
    """A short-syntax string is malformed; the message is compose's."""


_PROPAGATIONS = {"rprivate", "private", "rshared", "shared", "rslave", "slave"}
_SELINUX = {"z", "Z"}
_PROTOCOLS = {"tcp", "udp", "sctp"}  # go-connections' nat.validateProto, any letter case


def _is_drive(buffer: str, char: str) -> bool:
    return char == ":" and len(buffer) == 1 and buffer.isalpha()


def _is_file_path(source: str) -> bool:
    if not source:
        return False
    return (
        source[0] in "./~"
        or source.startswith("\\\\")
        or (len(source) > 1 and _is_drive(source[0], source[1]))
    )


def _split_volume(spec: str) -> list[str]:
    """Colon-separated sections, keeping `${...}` and Windows drive letters whole."""
    sections: list[str] = []
    buffer = ""
    depth = 0
    for i, char in enumerate(spec):
        if char == "$" and spec[i + 1 : i + 2] == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == ":" and depth == 0 and not _is_drive(buffer, char):
            sections.append(buffer)
            buffer = ""
            continue
        buffer += char
    sections.append(buffer)
    return sections


def parse_volume(spec: str) -> dict[str, Any]:
    """The long form of a short volume spec (`source:target:options`)."""
    if not spec:
        raise ShortSyntaxError("invalid empty volume spec")
    if len(spec) <= 2:
        return {"type": "volume", "target": spec, "volume": {}}
    sections = _split_volume(spec)
    if any(not s for s in sections):
        raise ShortSyntaxError(f"invalid spec: {spec}: empty section between colons")
    if len(sections) > 3:
        raise ShortSyntaxError(f"invalid spec: {spec}: too many colons")
    volume: dict[str, Any] = {}
    if len(sections) == 1:
        volume["target"] = sections[0]
    else:
        volume["source"], volume["target"] = sections[0], sections[1]
    bind: dict[str, Any] = {}
    vol: dict[str, Any] = {}
    for option in sections[2].split(",") if len(sections) == 3 else []:
        if option in ("ro", "rw"):
            volume["read_only"] = option == "ro"
        elif option == "nocopy":
            vol["nocopy"] = True
        elif option in _PROPAGATIONS:
            bind["propagation"] = option
        elif option in _SELINUX:
            bind["selinux"] = option
    if not volume.get("read_only"):
        volume.pop("read_only", None)
    if _is_file_path(volume.get("source", "")):
        return {"type": "bind", **volume, "bind": {**bind, "create_host_path": True}}
    extra = {"bind": bind} if bind else {}  # SELinux relabelling applies to volumes too
    return {"type": "volume", **volume, **extra, "volume": vol}


def _port_range(text: str, what: str) -> tuple[int, int]:
    start, _, end = text.partition("-")
    try:
        low, high = int(start), int(end or start)
    except ValueError:
        raise ShortSyntaxError(f"invalid {what}: {text}") from None
    if not (0 <= low <= 65535 and 0 <= high <= 65535):
        raise ShortSyntaxError(f"invalid {what}: {text}")
    if high < low:
        raise ShortSyntaxError(f"invalid range specified for {what}: {text}")
    return low, high


def parse_port(spec: str) -> list[dict[str, Any]]:
    """The long-form entries of a short port spec; a range gives one entry per port."""
    ip, published, target, protocol = _split_port(spec)
    t_low, t_high = _port_range(target, "containerPort")
    p_low = p_high = None
    if published:
        p_low, p_high = _port_range(published, "hostPort")
    count = t_high - t_low + 1
    base: dict[str, Any] = {"mode": "ingress"}
    if ip:
        try:
            ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            raise ShortSyntaxError(f"invalid IP address: {ip}") from None
        base["host_ip"] = ip.strip("[]")
    entries: list[dict[str, Any]] = []
    for i in range(count):
        entry = {**base, "target": t_low + i}
        if p_low is not None and p_high is not None:
            if p_high - p_low + 1 == count:
                entry["published"] = str(p_low + i)
            elif count == 1:
                entry["published"] = published
            else:
                raise ShortSyntaxError(
                    "invalid ranges specified for container and host Ports: "
                    f"{target} and {published}"
                )
        entry["protocol"] = protocol
        entries.append(entry)
    return entries


def _split_port(spec: str) -> tuple[str, str, str, str]:
    rest, _, protocol = spec.partition("/")
    protocol = protocol or "tcp"
    if protocol.lower() not in _PROTOCOLS:
        raise ShortSyntaxError(f"invalid proto: {protocol}")
    protocol = protocol.lower()
    if rest.startswith("["):  # IPv6 host address
        close = rest.find("]")
        ip, rest = rest[: close + 1], rest[close + 2 :]
        published, _, target = rest.rpartition(":")
        return ip, published, target, protocol
    parts = rest.split(":")
    if len(parts) == 1:
        return "", "", parts[0], protocol
    if len(parts) == 2:
        return "", parts[0], parts[1], protocol
    return ":".join(parts[:-2]), parts[-2], parts[-1], protocol
