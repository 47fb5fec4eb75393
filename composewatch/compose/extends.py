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

__all__ = ["MAX_EXTENDS", "FileLoader", "apply_extends"]

MAX_EXTENDS = 64  # services extending one another in a chain (each level is a recursion)

# Loads a compose file for `extends.file`: its canonical, path-resolved tree.
FileLoader = Callable[[Path], dict[str, Any]]


def _extend(
    name: str,
    services: dict[str, Any],
    file: Path,
    load_file: FileLoader,
    resets: list[KeyPath],
    chain: tuple[tuple[str, str], ...],
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
    base_services, base_file = services, file
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
        base_services = loaded
    elif ref not in services:
        raise ComposeFileError(
            f"cannot extend service {name!r}: service {ref!r} not found",
            file=file,
            key=f"services.{name}.extends",
        )
    link = (str(file), name)
    if len(chain) >= MAX_EXTENDS:
        raise ComposeFileError(
            f"extends chain longer than {MAX_EXTENDS} services", file=file, key=f"services.{name}"
        )
    if link in chain:
        trail = " -> ".join(f"{s} ({f})" for f, s in (*chain, link))
        raise ComposeFileError(f"extends cycle detected: {trail}", file=file)
    base = _extend(ref, base_services, base_file, load_file, [], (*chain, link))
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
    doc: dict[str, Any], file: Path, load_file: FileLoader, resets: list[KeyPath]
) -> None:
    """Resolve every `extends` in `doc` (in place)."""
    services = doc.get("services")
    if not isinstance(services, dict):
        return
    for name in list(services):
        _extend(name, services, file, load_file, resets, ())
