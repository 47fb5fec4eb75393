"""Per-file canonical form, applied after each merge as compose-go does: short syntaxes that
have a long form (ports, volumes, depends_on, build, env_file...) are expanded, so that later
files merge against like-shaped data. Then the defaults applied once all files are merged.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from composewatch.compose.paths import KeyPath, PathTable, format_path
from composewatch.compose.schema import unreadable
from composewatch.compose.shortsyntax import ShortSyntaxError, parse_port, parse_volume
from composewatch.errors import ComposeFileError

__all__ = ["canonical", "set_defaults"]


def _string_or_list(value: Any, path: KeyPath) -> Any:
    return [value] if isinstance(value, str) else value


def _source_mount(value: Any, path: KeyPath) -> Any:
    return {"source": value} if isinstance(value, str) else value


def _key_value(value: Any, path: KeyPath) -> Any:
    if not isinstance(value, list):
        return value
    mapping: dict[str, Any] = {}
    for entry in value:
        key, sep, val = str(entry).partition("=")
        if not sep:
            raise ComposeFileError(
                f"invalid value {entry}, expected key=value", key=format_path(path)
            )
        mapping[key] = val
    return mapping


def _slice_to_map(value: Any, path: KeyPath) -> Any:
    return {str(v): None for v in value} if isinstance(value, list) else value


def _depends_on(value: Any, path: KeyPath) -> Any:
    default = {"condition": "service_started", "required": True}
    if isinstance(value, list):
        return {str(name): dict(default) for name in value}
    if isinstance(value, dict):
        for name, entry in value.items():
            if not isinstance(entry, dict):
                raise ComposeFileError(
                    f"unsupported value {entry!r}", key=format_path((*path, name))
                )
            value[name] = {**default, **entry}
    return value


def _env_file(value: Any, path: KeyPath) -> Any:
    entries = [value] if isinstance(value, str) else value
    return [
        {"path": e, "required": True} if isinstance(e, str) else {"required": True, **e}
        for e in entries
    ]


def _volume(value: Any, path: KeyPath) -> Any:
    if not isinstance(value, str):
        return value
    try:
        volume = parse_volume(value)
    except ShortSyntaxError as exc:
        raise ComposeFileError(str(exc), key=format_path(path)) from None
    volume["target"] = posixpath.normpath(volume["target"]) if volume["target"] else ""
    return volume


def _ports(value: Any, path: KeyPath) -> Any:
    ports: list[Any] = []
    for i, entry in enumerate(value):
        if isinstance(entry, dict):
            ports.append(entry)
            continue
        if isinstance(entry, bool) or not isinstance(entry, int | str):
            raise ComposeFileError(
                f"invalid type {type(entry).__name__} for port", key=format_path((*path, i))
            )
        try:
            ports.extend(parse_port(str(entry)))
        except ShortSyntaxError as exc:
            raise ComposeFileError(str(exc), key=format_path((*path, i))) from None
    return ports


def _device(value: Any, path: KeyPath) -> Any:
    if not isinstance(value, str):
        return value
    parts = value.split(":")
    if len(parts) > 3:
        raise ComposeFileError(
            f"confusing device mapping, please use long syntax: {value}", key=format_path(path)
        )
    source = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1] else source
    permissions = parts[2] if len(parts) == 3 else "rwm"
    return {"source": source, "target": target, "permissions": permissions}


def _build(value: Any, path: KeyPath) -> Any:
    if isinstance(value, str):
        return {"context": value}
    return _transform_mapping(value, path)


def _ssh(value: Any, path: KeyPath) -> Any:
    """`build.ssh` as a map of key id to path (`default` alone has no path)."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, list):
        raise ComposeFileError(f"invalid type for ssh: {value!r}", key=format_path(path))
    keys: dict[str, Any] = {}
    for entry in value:
        if not isinstance(entry, str):
            raise ComposeFileError(f"invalid ssh key type: {entry!r}", key=format_path(path))
        key_id, sep, key_path = entry.partition("=")
        if not sep and key_id != "default":
            raise ComposeFileError(f'invalid ssh key "{entry}"', key=format_path(path))
        keys[key_id] = key_path if sep else None
    return keys


def _ulimit(value: Any, path: KeyPath) -> Any:
    return {"single": value} if isinstance(value, int) else value


def _external(value: Any, path: KeyPath) -> Any:
    if not isinstance(value, dict):
        return value
    value = _transform_mapping(value, path)
    external = value.get("external")
    if isinstance(external, dict):
        value["external"] = True
        if "name" in external and "name" not in value:
            value["name"] = external["name"]
    return value


def _service(value: Any, path: KeyPath) -> Any:
    return _transform_mapping(value, path) if isinstance(value, dict) else value


Transformer = Callable[[Any, KeyPath], Any]
_TRANSFORMERS: dict[str, Transformer] = {
    "services.*": _service,
    "services.*.build.secrets.*": _source_mount,
    "services.*.build.additional_contexts": _key_value,
    "services.*.build.ssh": _ssh,
    "services.*.gpus": lambda v, p: [{"count": "all"}] if isinstance(v, str) else v,
    "services.*.depends_on": _depends_on,
    "services.*.env_file": _env_file,
    "services.*.label_file": _string_or_list,
    "services.*.extends": lambda v, p: {"service": v} if isinstance(v, str) else v,
    "services.*.networks": _slice_to_map,
    "services.*.models": _slice_to_map,
    "services.*.volumes.*": _volume,
    "services.*.dns": _string_or_list,
    "services.*.devices.*": _device,
    "services.*.secrets.*": _source_mount,
    "services.*.configs.*": _source_mount,
    "services.*.ports": _ports,
    "services.*.build": _build,
    "services.*.ulimits.*": _ulimit,
    "services.*.build.ulimits.*": _ulimit,
    "services.*.develop.watch.*.ignore": _string_or_list,
    "services.*.develop.watch.*.include": _string_or_list,
    "volumes.*": _external,
    "networks.*": _external,
    "secrets.*": _external,
    "configs.*": _external,
    "include.*": lambda v, p: {"path": v} if isinstance(v, str) else v,
}


_TRANSFORMER_TABLE = PathTable(_TRANSFORMERS)


def _transform(value: Any, path: KeyPath) -> Any:
    transformer = _TRANSFORMER_TABLE.lookup(path)
    if transformer is not None:
        try:
            return transformer(value, path)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):
            raise unreadable(value, path) from None
    if isinstance(value, dict):
        return _transform_mapping(value, path)
    if isinstance(value, list):
        return [_transform(v, (*path, i)) for i, v in enumerate(value)]
    return value


def _transform_mapping(value: dict[str, Any], path: KeyPath) -> dict[str, Any]:
    return {k: _transform(v, (*path, k)) for k, v in value.items()}


def canonical(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with every short syntax expanded to its long form (top-level `x-*` extensions,
    which no short syntax lies in, as they are: they may hold 240,000 nodes)."""
    return {k: v if k.startswith("x-") else _transform(v, (k,)) for k, v in doc.items()}


def _default_port(entry: Any) -> Any:
    if isinstance(entry, dict):
        return {"mode": "ingress", "protocol": "tcp", **entry}
    return entry


def set_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """Defaults compose applies once all files are merged (in place)."""
    for service in (doc.get("services") or {}).values():
        if not isinstance(service, dict):
            continue
        if isinstance(service.get("build"), dict):
            service["build"].setdefault("context", ".")
        for secret in service.get("secrets") or []:
            if isinstance(secret, dict):
                secret.setdefault("target", f"/run/secrets/{secret.get('source')}")
        if isinstance(service.get("ports"), list):
            service["ports"] = [_default_port(p) for p in service["ports"]]
        for volume in service.get("volumes") or []:
            bind = volume.get("bind") if isinstance(volume, dict) else None
            if isinstance(bind, dict) and volume.get("type") == "bind":
                bind.setdefault("create_host_path", True)
    return doc
