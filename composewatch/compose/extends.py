"""`extends`: a service built from another service's definition (same file or `file:`),
merged as an override of the base, with cycle detection."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from composewatch.compose.merge import apply_resets, merge_value
from composewatch.compose.paths import KeyPath
from composewatch.errors import ComposeFileError

__all__ = ["MAX_EXTENDS", "FileLoader", "Resolved", "apply_extends"]

MAX_EXTENDS = 64  # services extending one another in a chain (each level is a recursion)

# Loads a compose file for `extends.file`: its canonical, path-resolved tree.
FileLoader = Callable[[Path], dict[str, Any]]


# A service of another file, resolved (its own `extends` applied), by (file, service): many
# services extending one base through a chain of files resolved that chain once each
# (2,000 services over a 60-file chain took 17 s). Safe to share: a base resolves the same
# whoever extends it, and a cycle through it would have been found when it was resolved.
Resolved = dict[tuple[str, str], Any]


def _base_of(
    name: str,
    ref: str,
    extends: dict[str, Any],
    services: dict[str, Any],
    file: Path,
    load_file: FileLoader,
) -> tuple[dict[str, Any], Path]:
    """The services `ref` is looked up in (this file's, or `extends.file`'s) and that file."""
    if extends.get("file"):
        base_file = Path(str(extends["file"]))
        if not base_file.is_absolute():
            base_file = file.parent / base_file
        loaded = load_file(base_file).get("services")
        if not isinstance(loaded, dict) or ref not in loaded:
            raise ComposeFileError(
                f"cannot extend service {name!r}: service {ref!r} not found in {base_file}",
                file=file,
                key=f"services.{name}.extends",
            )
        return loaded, base_file
    if ref not in services:
        raise ComposeFileError(
            f"cannot extend service {name!r}: service {ref!r} not found",
            file=file,
            key=f"services.{name}.extends",
        )
    return services, file


def _extend(
    name: str,
    services: dict[str, Any],
    file: Path,
    load_file: FileLoader,
    resets: list[KeyPath],
    chain: tuple[tuple[str, str], ...],
    resolved: Resolved,
) -> Any:
    service = services.get(name)
    if not isinstance(service, dict) or "extends" not in service:
        return service
    extends = service["extends"]
    if isinstance(extends, str):
        extends = {"service": extends}
    if not isinstance(extends, dict):
        return service  # the schema check reports it
    ref = extends.get("service")
    if not isinstance(ref, str):
        raise ComposeFileError(
            f"extends.{name}.service is required", file=file, key=f"services.{name}.extends"
        )
    base_services, base_file = _base_of(name, ref, extends, services, file, load_file)
    link = (str(file), name)
    if len(chain) >= MAX_EXTENDS:
        raise ComposeFileError(
            f"extends chain longer than {MAX_EXTENDS} services", file=file, key=f"services.{name}"
        )
    if link in chain:
        trail = " -> ".join(f"{s} ({f})" for f, s in (*chain, link))
        raise ComposeFileError(f"extends cycle detected: {trail}", file=file)
    key = (str(base_file), ref)
    if base_services is not services and key in resolved:
        base = resolved[key]
    else:
        base = _extend(ref, base_services, base_file, load_file, [], (*chain, link), resolved)
        if base_services is not services:
            resolved[key] = base
    if base is None:
        return service
    source = copy.deepcopy(base)
    holder = {"services": {name: source}}
    apply_resets(holder, resets)
    merged = merge_value(holder["services"].get(name, {}), service, ("services", name))
    merged.pop("extends", None)
    services[name] = merged
    return merged


def apply_extends(
    doc: dict[str, Any],
    file: Path,
    load_file: FileLoader,
    resets: list[KeyPath],
    resolved: Resolved | None = None,
) -> None:
    """Resolve every `extends` in `doc` (in place); `resolved` may be shared by the calls of
    one load."""
    services = doc.get("services")
    if not isinstance(services, dict):
        return
    shared: Resolved = {} if resolved is None else resolved
    for name in list(services):
        _extend(name, services, file, load_file, resets, (), shared)
