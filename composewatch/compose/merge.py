"""Merging compose files the way compose-go does.

Mappings merge key by key, sequences append, scalars are replaced, with per-key exceptions
(`_SPECIALS`). After a merge, list entries that denote the same thing (same mount target,
same port binding, same variable...) are de-duplicated, the later one winning in place.
`!reset` / `!override` paths delete what earlier files defined before the merge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from composewatch.compose.normalize import go_string
from composewatch.compose.paths import KeyPath, format_path, matches
from composewatch.compose.shortsyntax import ShortSyntaxError, parse_volume
from composewatch.compose.yamlload import Override, Reset
from composewatch.errors import ComposeFileError

__all__ = ["apply_resets", "enforce_unicity", "merge", "strip_tags"]


def strip_tags(value: Any, path: KeyPath = ()) -> tuple[Any, list[KeyPath]]:
    """`value` without its `!reset`/`!override` markers, and the paths they were found at."""
    found: list[KeyPath] = []

    def walk(node: Any, where: KeyPath) -> Any:
        if isinstance(node, Override):
            found.append(where)
            return walk(node.value, where)
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, child in node.items():
                if isinstance(child, Reset):
                    found.append((*where, key))
                else:
                    out[key] = walk(child, (*where, key))
            return out
        if isinstance(node, list):
            return [
                walk(child, (*where, i))
                for i, child in enumerate(node)
                if not isinstance(child, Reset)
            ]
        return node

    return walk(value, path), found


def apply_resets(target: dict[str, Any], paths: list[KeyPath]) -> None:
    """Delete from `target` (in place) every mapping entry at one of `paths`."""
    for path in paths:
        node: Any = target
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)


def _to_sequence(value: Any) -> list[Any]:
    if isinstance(value, dict):
        seq: list[Any] = []
        for key, val in value.items():
            if val is None:
                seq.append(key)
            elif isinstance(val, list):
                seq.extend(f"{key}={go_string(v)}" for v in val)
            else:
                seq.append(f"{key}={go_string(val)}")
        return sorted(seq)
    if isinstance(value, list):
        return list(value)
    return [value] if isinstance(value, str) else []


def _to_mapping(value: Any, default: dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(k): dict(default) if default is not None else None for k in value}
    return {}


def _merge_to_sequence(base: Any, other: Any, path: KeyPath) -> Any:
    return _to_sequence(base) + _to_sequence(other)


def _merge_extra_hosts(base: Any, other: Any, path: KeyPath) -> Any:
    left = _to_sequence(base)
    return left + [v for v in _to_sequence(other) if v not in left]


def _replace(base: Any, other: Any, path: KeyPath) -> Any:
    return other


def _merge_depends_on(base: Any, other: Any, path: KeyPath) -> Any:
    default = {"condition": "service_started", "required": True}
    return _merge_mappings(_to_mapping(base, default), _to_mapping(other, default), path)


def _merge_networks(base: Any, other: Any, path: KeyPath) -> Any:
    return _merge_mappings(_to_mapping(base, None), _to_mapping(other, None), path)


def _merge_build(base: Any, other: Any, path: KeyPath) -> Any:
    def as_map(v: Any) -> dict[str, Any]:
        return {"context": v} if isinstance(v, str) else v if isinstance(v, dict) else {}

    return _merge_mappings(as_map(base), as_map(other), path)


def _merge_logging(base: Any, other: Any, path: KeyPath) -> Any:
    if not isinstance(base, dict) or not isinstance(other, dict):
        return other
    if "driver" in base and "driver" in other and base["driver"] != other["driver"]:
        return other
    return _merge_mappings(base, other, path)


Merger = Callable[[Any, Any, KeyPath], Any]
_SPECIALS: dict[str, Merger] = {
    "networks.*.labels": _merge_to_sequence,
    "volumes.*.labels": _merge_to_sequence,
    "services.*.annotations": _merge_to_sequence,
    "services.*.build": _merge_build,
    "services.*.build.args": _merge_to_sequence,
    "services.*.build.additional_contexts": _merge_to_sequence,
    "services.*.build.extra_hosts": _merge_extra_hosts,
    "services.*.build.labels": _merge_to_sequence,
    "services.*.command": _replace,
    "services.*.depends_on": _merge_depends_on,
    "services.*.deploy.labels": _merge_to_sequence,
    "services.*.dns": _merge_to_sequence,
    "services.*.dns_opt": _merge_to_sequence,
    "services.*.dns_search": _merge_to_sequence,
    "services.*.entrypoint": _replace,
    "services.*.env_file": _merge_to_sequence,
    "services.*.label_file": _merge_to_sequence,
    "services.*.environment": _merge_to_sequence,
    "services.*.extra_hosts": _merge_extra_hosts,
    "services.*.healthcheck.test": _replace,
    "services.*.labels": _merge_to_sequence,
    "services.*.volumes.*.volume.labels": _merge_to_sequence,
    "services.*.logging": _merge_logging,
    "services.*.models": _merge_networks,
    "services.*.networks": _merge_networks,
    "services.*.sysctls": _merge_to_sequence,
    "services.*.tmpfs": _merge_to_sequence,
    "services.*.ulimits.*": _replace,
}


def _format(path: KeyPath) -> str:
    return ".".join(str(p) for p in path)


def merge_value(base: Any, other: Any, path: KeyPath) -> Any:
    """`other` merged over `base` at `path` (both are consumed)."""
    for pattern, merger in _SPECIALS.items():
        if matches(path, pattern):
            return merger(base, other, path)
    if other is None:
        return base
    if isinstance(base, dict):
        if not isinstance(other, dict):
            raise ComposeFileError(f"cannot override {_format(path)}", key=_format(path))
        return _merge_mappings(base, other, path)
    if isinstance(base, list):
        if not isinstance(other, list):
            raise ComposeFileError(f"cannot override {_format(path)}", key=_format(path))
        return base + other
    return other


def _merge_mappings(base: dict[str, Any], other: dict[str, Any], path: KeyPath) -> dict[str, Any]:
    for key, value in other.items():
        base[key] = merge_value(base[key], value, (*path, key)) if key in base else value
    return base


def merge(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """`other` (a later file) merged over `base`."""
    return _merge_mappings(base, other, ())


def _key_value(entry: Any) -> str:
    return str(entry).partition("=")[0]


def _volume_target(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target", ""))
    try:
        return str(parse_volume(str(entry))["target"])
    except ShortSyntaxError as exc:
        raise ComposeFileError(str(exc)) from None


def _mount(default_dir: str) -> Callable[[Any], str]:
    def index(entry: Any) -> str:
        if isinstance(entry, dict):
            return str(entry.get("target") or f"{default_dir}/{entry.get('source')}")
        return f"{default_dir}/{entry}"

    return index


def _port(entry: Any) -> str:
    if isinstance(entry, dict):
        host = entry.get("host_ip", "0.0.0.0")
        return (
            f"{host}:{entry.get('published')}:{entry.get('target')}/{entry.get('protocol', 'tcp')}"
        )
    return str(entry)


def _device(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target"))
    parts = str(entry).split(":")
    return parts[0] if len(parts) == 1 else parts[1]


_UNIQUE: dict[str, Callable[[Any], str]] = {
    "networks.*.labels": _key_value,
    "networks.*.ipam.options": _key_value,
    "services.*.annotations": _key_value,
    "services.*.build.args": _key_value,
    "services.*.build.additional_contexts": _key_value,
    "services.*.build.platform": _key_value,
    "services.*.build.tags": _key_value,
    "services.*.build.labels": _key_value,
    "services.*.cap_add": _key_value,
    "services.*.cap_drop": _key_value,
    "services.*.configs": _mount(""),
    "services.*.deploy.labels": _key_value,
    "services.*.dns": _key_value,
    "services.*.dns_opt": _key_value,
    "services.*.dns_search": _key_value,
    "services.*.environment": _key_value,
    "services.*.env_file": lambda e: str(e.get("path") if isinstance(e, dict) else e),
    "services.*.expose": str,
    "services.*.labels": _key_value,
    "services.*.links": _key_value,
    "services.*.networks.*.aliases": _key_value,
    "services.*.networks.*.link_local_ips": _key_value,
    "services.*.ports": _port,
    "services.*.profiles": _key_value,
    "services.*.secrets": _mount("/run/secrets"),
    "services.*.sysctls": _key_value,
    "services.*.tmpfs": _key_value,
    "services.*.volumes": _volume_target,
    "services.*.devices": _device,
}


def enforce_unicity(value: Any, path: KeyPath = ()) -> Any:
    """`value` with duplicate list entries collapsed (later wins, at the first position)."""
    if isinstance(value, dict):
        return {k: enforce_unicity(v, (*path, k)) for k, v in value.items()}
    if not isinstance(value, list):
        return value
    for pattern, index in _UNIQUE.items():
        if matches(path, pattern):
            seq: list[Any] = []
            positions: dict[str, int] = {}
            for i, entry in enumerate(value):
                try:
                    key = index(entry)
                except ComposeFileError as exc:
                    raise ComposeFileError(exc.reason, key=format_path((*path, i))) from None
                if key in positions:
                    seq[positions[key]] = entry
                else:
                    positions[key] = len(seq)
                    seq.append(entry)
            return seq
    return value
