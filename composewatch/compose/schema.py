"""Structural validation of one interpolated compose file against the compose specification
(the tables in `schema_tables`); `x-*` keys are allowed everywhere. Only the shape is checked
here; values (ports, durations, volume specs...) are checked when they are parsed."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from composewatch.compose.paths import KeyPath, PathTable, format_path, matches
from composewatch.compose.scalars import GoTime
from composewatch.compose.schema_tables import (
    ENUMS,
    ITEMS,
    MEMBERS,
    NAMES,
    PATTERNS,
    RANGES,
    REQUIRED,
    TABLES,
    UNIQUE,
    VALUES,
)
from composewatch.core.ignore import IgnoreSyntaxError, parse_ignore
from composewatch.errors import ComposeFileError

__all__ = [
    "check_items",
    "check_unique",
    "unreadable",
    "validate_file",
    "validate_model",
]

# compose's wording for JSON types in "must be a ..." messages
_NOUNS = {"object": "mapping", "array": "array"}


def _noun(allowed: str) -> str:
    """`string|object` as `a string or a mapping`."""
    return " or ".join(f"a {_NOUNS.get(t, t)}" for t in allowed.split("|"))


def check_items(node: list[Any], path: KeyPath, file: str | None) -> None:
    """Raise ComposeFileError if an item of the array at `path` has a type it may not have."""
    allowed = _lookup(ITEMS, path)
    if allowed is None:
        return
    for index, value in enumerate(node):
        if not _accepts(allowed, value):
            key = format_path((*path, index))
            raise ComposeFileError(f"{key} must be {_noun(allowed)}", file=file, key=key)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def unreadable(value: Any, path: KeyPath) -> ComposeFileError:
    """The error for a value of a shape the field's parser cannot read (a case the schema
    tables do not spell out), at the field's key. The value itself is not quoted."""
    key = format_path(path)
    return ComposeFileError(f"{key}: invalid value of type {_json_type(value)}", key=key)


def _accepts(allowed: str, value: Any) -> bool:
    actual = _json_type(value)
    types = allowed.split("|")
    if actual == "number" and value.is_integer() and "integer" in types:
        return True  # JSON Schema: `50.0` is an integer (`cpu_percent: "50"` is cast to one)
    return actual in types or (actual == "integer" and "number" in types)


def _lookup(tables: dict[str, Any], path: KeyPath) -> Any:
    return next((v for pattern, v in tables.items() if matches(path, pattern)), None)


def _check_object(node: dict[str, Any], path: KeyPath, table: dict[str, str], file: str) -> None:
    where = format_path(path)
    for key, value in node.items():
        if key.startswith("x-"):
            continue
        key_path = format_path((*path, key))
        if key not in table:
            raise ComposeFileError(
                f"{where} additional properties {key!r} not allowed", file=file, key=key_path
            )
        if not _accepts(table[key], value):
            noun = _NOUNS.get(table[key].split("|")[0], table[key].split("|")[0])
            raise ComposeFileError(f"{key_path} must be a {noun}", file=file, key=key_path)
    for key in _lookup(REQUIRED, path) or ():
        if key not in node:
            raise ComposeFileError(f"{where} {key} is required", file=file, key=where)


def _check_members(node: dict[str, Any], path: KeyPath, file: str) -> None:
    allowed = _lookup(MEMBERS, path)
    if allowed is None:
        return
    for name, value in node.items():
        if not _accepts(allowed, value):
            key = format_path((*path, name))
            raise ComposeFileError(f"{key} must be {_noun(allowed)}", file=file, key=key)


def _types_phrase(allowed: str) -> str:
    """compose's words for a choice of JSON types: `a boolean, null, number or string`."""
    types = sorted(t for t in allowed.split("|") if t != "array")
    return "a " + (f"{', '.join(types[:-1])} or {types[-1]}" if len(types) > 1 else types[0])


def _check_values(node: dict[str, Any], path: KeyPath, file: str) -> None:
    allowed = _lookup(VALUES, path)
    if allowed is None:
        return
    for name, value in node.items():
        if not _accepts(allowed, value):
            key = format_path((*path, name))
            raise ComposeFileError(f"{key} must be {_types_phrase(allowed)}", file=file, key=key)


def _check_names(node: dict[str, Any], path: KeyPath, file: str) -> None:
    pattern = _lookup(NAMES, path)
    if pattern is None:
        return
    where = format_path(path)
    for key in node:
        if not re.match(pattern, key):
            raise ComposeFileError(
                f"{where} additional properties {key!r} not allowed (a name may hold only "
                "letters, digits, '.', '_' and '-')",
                file=file,
                key=where,
            )


def _check_range(value: int, path: KeyPath, file: str) -> None:
    low, high = _lookup(RANGES, path)
    if (low is None or value >= low) and (high is None or value <= high):
        return
    key = format_path(path)
    if "string" in (_lookup(TABLES, path[:-1]) or {}).get(str(path[-1]), ""):
        message = f"{key} must be a string"  # compose's words for a failed string|int choice
    else:
        message = f"{key} must be greater than or equal to {low}"
    raise ComposeFileError(message, file=file, key=key)


def _walk(node: Any, path: KeyPath, file: str) -> None:
    if isinstance(node, GoTime):  # an unquoted date: a Go time.Time, no JSON type
        key = format_path(path)
        raise ComposeFileError(f"{key} invalid jsonType time.Time", file=file, key=key)
    if isinstance(node, dict):
        table = _lookup(TABLES, path)
        if table is not None:
            _check_object(node, path, table, file)
        _check_names(node, path, file)
        _check_members(node, path, file)
        _check_values(node, path, file)
        for key, value in node.items():
            # `x-*` is an extension in a definition; in a map of names (`services: {x-a: }`)
            # it is a name like any other, and its value is checked
            if table is None or not key.startswith("x-"):
                _walk(value, (*path, key), file)
    elif isinstance(node, list):
        check_items(node, path, file)
        for index, value in enumerate(node):
            _walk(value, (*path, index), file)
    elif isinstance(node, int) and not isinstance(node, bool) and _lookup(RANGES, path):
        _check_range(node, path, file)
    elif isinstance(node, str) and not re.search(_lookup(PATTERNS, path) or "", node):
        key = format_path(path)
        pattern = _lookup(PATTERNS, path)
        raise ComposeFileError(f"{key} does not match pattern {pattern!r}", file=file, key=key)
    elif isinstance(node, str) and node not in (_lookup(ENUMS, path) or (node,)):
        key = format_path(path)
        choices = ", ".join(repr(a) for a in _lookup(ENUMS, path))
        raise ComposeFileError(f"{key} value must be one of {choices}", file=file, key=key)


def _check_services(doc: dict[str, Any], file: str) -> None:
    for name, service in (doc.get("services") or {}).items():
        if not isinstance(service, dict):
            raise ComposeFileError(
                f"services.{name} must be a mapping", file=file, key=f"services.{name}"
            )
        for index, profile in enumerate(service.get("profiles") or []):
            if not isinstance(profile, str):
                key = f"services.{name}.profiles[{index}]"
                raise ComposeFileError(f"{key}: unexpected type", file=file, key=key)


def validate_file(doc: dict[str, Any], file: str) -> None:
    """Raise ComposeFileError if `doc` does not have the shape of a compose file."""
    if isinstance(doc.get("services"), list):
        raise ComposeFileError("services must be a mapping", file=file, key="services")
    _walk(doc, (), file)
    _check_services(doc, file)


def _repeated(items: list[Any]) -> tuple[int, int] | None:
    """The indices of the first item equal to an earlier one (JSON equality), if any."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first = seen.setdefault(repr(item), index)
        if first != index:
            return first, index
    return None


def _unique_items(node: Any, path: KeyPath, file: str) -> None:
    if isinstance(node, list):
        pattern = next((p for p in UNIQUE if matches(path, p)), None)
        pair = _repeated(node) if pattern is not None else None
        if pattern is not None and pair is not None:
            key, form = format_path(path), UNIQUE[pattern]
            reason = f"must be a {form}" if form else "items at {} and {} are equal".format(*pair)
            raise ComposeFileError(f"{key} {reason}", file=file, key=key)
    if isinstance(node, list):
        for index, item in enumerate(node):
            _unique_items(item, (*path, index), file)
    elif isinstance(node, dict):
        for name, value in node.items():
            _unique_items(value, (*path, name), file)


def check_unique(model: dict[str, Any], file: str) -> None:
    """Raise ComposeFileError if an array that must hold unique items repeats one, in the
    merged files (an override repeating a base file's `security_opt` entry fails in compose)."""
    _unique_items(model, (), file)


def _external_conflict(path: KeyPath, value: Any) -> str | None:
    if not isinstance(value, dict) or value.get("external") is not True:
        return None
    for key in value:
        if key not in ("name", "external") and not key.startswith("x-"):
            return f'{format_path(path)}: conflicting parameters "external" and "{key}" specified'
    return None


def _file_object(*keys: str) -> Callable[[KeyPath, Any], str | None]:
    def check(path: KeyPath, value: Any) -> str | None:
        if not isinstance(value, dict):
            return None
        count = sum(key in value for key in keys)
        if count > 1:
            return f"{format_path(path)}: {'|'.join(keys)} attributes are mutually exclusive"
        if count == 0 and "driver" not in value and "external" not in value:
            return f"{format_path(path)}: one of {'|'.join(keys)} must be set"
        return None

    return check


def _host_ip(path: KeyPath, value: Any) -> str | None:
    ip = value.get("host_ip") if isinstance(value, dict) else None
    if isinstance(ip, str):
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return f"{format_path(path)}: invalid ip address: {ip}"
    return None


def _watch_path(path: KeyPath, value: Any) -> str | None:
    return f"{format_path(path)}: value can't be blank" if value == "" else None


def _watch_ignore(path: KeyPath, value: Any) -> str | None:
    """A `develop.watch` ignore pattern is matched on every save: checked here, once."""
    if not isinstance(value, str):
        return None
    try:
        parse_ignore(value, "develop.watch ignore")
    except IgnoreSyntaxError as exc:
        return f"{format_path(path)}: {exc.describe()}"
    return None


def _device_request(path: KeyPath, value: Any) -> str | None:
    if isinstance(value, dict) and "count" in value and "device_ids" in value:
        return f'{format_path(path)}: "count" and "device_ids" attributes are exclusive'
    return None


# compose-go's `validation.Validate`, run on the merged model before paths are resolved
_MODEL_CHECKS: dict[str, Callable[[KeyPath, Any], str | None]] = {
    "volumes.*": _external_conflict,
    "configs.*": _file_object("file", "environment", "content"),
    "secrets.*": _file_object("file", "environment"),
    "services.*.ports.*": _host_ip,
    "services.*.develop.watch.*.path": _watch_path,
    "services.*.develop.watch.*.ignore.*": _watch_ignore,
    "services.*.deploy.resources.reservations.devices.*": _device_request,
    "services.*.gpus.*": _device_request,
}


_MODEL_CHECK_TABLE = PathTable(_MODEL_CHECKS)


def _check_model(node: Any, path: KeyPath, file: str) -> None:
    check = _MODEL_CHECK_TABLE.lookup(path)
    if check is not None:
        message = check(path, node)
        if message:
            raise ComposeFileError(message, file=file, key=format_path(path))
        return
    if isinstance(node, dict):
        for key, value in node.items():
            _check_model(value, (*path, key), file)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check_model(value, (*path, index), file)


def validate_model(model: dict[str, Any], file: str) -> None:
    """Raise ComposeFileError on the combinations compose rejects in a merged model
    (`external` with other keys, exclusive attributes, bad host IPs, blank watch paths)."""
    for key, value in model.items():
        if not key.startswith("x-"):  # no check lies in an extension
            _check_model(value, (key,), file)
