"""Edit a test project's compose file: merge `x-composewatch` settings into it (a file has one
such key, so settings added by several helpers must meet in it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def add_settings(compose_file: Path, settings: dict[str, Any]) -> None:
    """Merge `settings` into the file's `x-composewatch` (created if missing)."""
    data = yaml.safe_load(compose_file.read_text()) or {}
    data["x-composewatch"] = _merge(data.get("x-composewatch") or {}, settings)
    compose_file.write_text(yaml.safe_dump(data, sort_keys=False))


def rebuild_on_save(project_dir: Path, compose_name: str = "compose.yaml") -> Path:
    """Turn in-place updates off: every save of the project rebuilds and swaps (for the tests
    of that path)."""
    add_settings(project_dir / compose_name, {"in_place": False})
    return project_dir
