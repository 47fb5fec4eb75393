"""`docker inspect` of a project's containers, networks and volumes, as raw as it can be
compared between two runs of the same project name: only what the engine makes up each run
is normalised (ids, anonymous volume names, addresses, assigned subnets, times, state), and
only lists whose order compose itself randomises (Go map iteration) are sorted. A null stays
null and an empty list stays an empty list.
"""

from __future__ import annotations

import re
from typing import Any

import docker

LABEL = "com.docker.compose.project"
_DEPENDS_ON = "com.docker.compose.depends_on"
_HASH = "com.docker.compose.config-hash"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

# Built by compose from Go maps, so in a random order run to run.
_RANDOM_ORDER_CONFIG = ("Env",)
_RANDOM_ORDER_HOST = ("ExtraHosts", "Binds", "Links", "CapAdd", "CapDrop", "Dns")


def project_view(
    client: docker.DockerClient, project: str, pools: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Every container (by `<service>-<number>`), network and volume of `project`; `pools`:
    the networks whose subnets the compose file sets (others get one the engine picks)."""
    label = {"label": f"{LABEL}={project}"}
    summaries = client.api.containers(all=True, filters=label)
    ids = {
        s["Id"]: f"<{s['Labels']['com.docker.compose.service']}-"
        f"{s['Labels']['com.docker.compose.container-number']}>"
        for s in summaries
    }
    inspected = [client.api.inspect_container(cid) for cid in ids]
    anonymous = {
        m["Name"]: "<anonymous>"
        for i in inspected
        for m in i["Mounts"]
        if m["Type"] == "volume" and _HEX64.match(m.get("Name") or "")
    }
    names = {**ids, **{cid[:12]: name for cid, name in ids.items()}, **anonymous}
    view: dict[str, Any] = {}
    for info in inspected:
        view["container " + ids[info["Id"]]] = _replace(_container(info), names)
    for net in client.api.networks(filters=label):
        inspected_net = client.api.inspect_network(net["Id"])
        view["network " + net["Name"]] = _network(inspected_net, net["Name"] in pools)
    for vol in client.api.volumes(filters=label).get("Volumes") or []:
        view["volume " + vol["Name"]] = _volume(vol)
    return view


def _container(info: dict[str, Any]) -> dict[str, Any]:
    config = dict(info["Config"])
    host = dict(info["HostConfig"])
    for key in _RANDOM_ORDER_CONFIG:
        config[key] = _sorted(config.get(key))
    for key in _RANDOM_ORDER_HOST:
        if key in host:
            host[key] = _sorted(host[key])
    if isinstance(host.get("Ulimits"), list):
        host["Ulimits"] = sorted(host["Ulimits"], key=lambda u: u["Name"])
    if isinstance(host.get("Mounts"), list):
        host["Mounts"] = sorted(host["Mounts"], key=lambda m: m["Target"])
    labels = dict(config.get("Labels") or {})
    if labels.get(_DEPENDS_ON):
        labels[_DEPENDS_ON] = sorted(labels[_DEPENDS_ON].split(","))
    modes = [host.get(k) or "" for k in ("NetworkMode", "IpcMode", "PidMode")]
    if host.get("VolumesFrom") or any(m.startswith("container:") for m in modes):
        # The hash covers the other container's id, which differs run to run; the final
        # `docker compose up -d` (nothing recreated) checks it.
        labels.pop(_HASH, None)
    config["Labels"] = labels
    mounts = sorted(info["Mounts"], key=lambda m: m["Destination"])
    networks = {
        name: {
            "Aliases": _sorted(
                [a for a in endpoint.get("Aliases") or [] if a != info["Id"][:12]]
                if endpoint.get("Aliases") is not None
                else None
            ),
            "Links": endpoint.get("Links"),
            "IPAMConfig": endpoint.get("IPAMConfig"),
            "DriverOpts": endpoint.get("DriverOpts"),
        }
        for name, endpoint in info["NetworkSettings"]["Networks"].items()
    }
    return {
        "Name": info["Name"],
        "Path": info["Path"],
        "Args": info["Args"],
        "Driver": info["Driver"],
        "Platform": info["Platform"],
        "Config": config,
        "HostConfig": host,
        "Mounts": mounts,
        "Networks": networks,
    }


def _network(info: dict[str, Any], configured: bool) -> dict[str, Any]:
    ipam = dict(info["IPAM"])
    if not configured:
        # The engine assigns a subnet when the file names none; compare what was asked.
        ipam["Config"] = [
            {k: v for k, v in pool.items() if k not in ("Subnet", "Gateway")}
            for pool in ipam.get("Config") or []
        ]
    keys: tuple[str, ...] = ("Name", "Scope", "Driver", "EnableIPv6", "Internal", "Attachable")
    keys += ("Ingress", "ConfigFrom", "ConfigOnly", "Options", "Labels")
    return {**{k: info.get(k) for k in keys}, "IPAM": ipam}


def _volume(info: dict[str, Any]) -> dict[str, Any]:
    return {k: info.get(k) for k in ("Name", "Driver", "Labels", "Options", "Scope")}


def _sorted(value: Any) -> Any:
    return sorted(value) if isinstance(value, list) else value


def _replace(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for raw, name in names.items():
            if raw in value:
                value = value.replace(raw, name)
        return value
    if isinstance(value, list):
        return [_replace(v, names) for v in value]
    if isinstance(value, dict):
        return {_replace(k, names): _replace(v, names) for k, v in value.items()}
    return value


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Each field of the view by its path (a null, an empty list or map is a field too)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(leaves(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, item in enumerate(value):
            out.update(leaves(item, f"{path}[{i}]"))
        return out
    return {path: value}


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """One line per field that differs (or is on one side only)."""
    a, b = leaves(expected), leaves(actual)
    return [
        f"{path}: compose {a.get(path, '<absent>')!r}, composewatch {b.get(path, '<absent>')!r}"
        for path in sorted(a.keys() | b.keys())
        if a.get(path, "<absent>") != b.get(path, "<absent>")
    ]
