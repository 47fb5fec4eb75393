"""`render_config`: the loaded project printed like `docker compose config`."""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml

from composewatch.compose.model import LoadedProject

__all__ = ["render_config"]


def _sorted(document: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys and each service's keys in alphabetical order, as compose prints them."""
    out = {k: document[k] for k in sorted(document)}
    if isinstance(out.get("services"), dict):
        out["services"] = {
            name: {k: svc[k] for k in sorted(svc)} for name, svc in sorted(out["services"].items())
        }
    return out


def render_config(
    loaded: LoadedProject, fmt: Literal["json", "yaml"] = "yaml", services_only: bool = False
) -> str:
    """The canonical project as JSON or YAML; with `services_only`, one service name a line."""
    document = loaded.project.to_compose_dict()
    if services_only:
        return "".join(f"{name}\n" for name in document.get("services", {}))
    document = _sorted(document)
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)
