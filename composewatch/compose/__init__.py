"""The compose loader: reads compose files exactly as Docker Compose v2 does.

`load_project(ProjectOptions(...))` gives a `LoadedProject`; `loaded.to_compose_dict()` is
`docker compose config --format json` as data, and `render_config(loaded, "json" | "yaml")`
its exact text (docs/compose-fidelity.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from composewatch.compose.model import (
    BuildConfig,
    DependsOn,
    Develop,
    Healthcheck,
    LoadedProject,
    PortConfig,
    Project,
    Service,
    ServiceNetwork,
    ServiceVolume,
    WatchRule,
)

if TYPE_CHECKING:
    from composewatch.compose.loader import ProjectOptions, load_project
    from composewatch.compose.render import render_config

# The loader (files, YAML, .env) and the renderer load when first asked for: the model alone is
# what the pure core needs, and importing the package must not drag the file readers in.
_LAZY = {
    "ProjectOptions": "composewatch.compose.loader",
    "load_project": "composewatch.compose.loader",
    "render_config": "composewatch.compose.render",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BuildConfig",
    "DependsOn",
    "Develop",
    "Healthcheck",
    "LoadedProject",
    "PortConfig",
    "Project",
    "ProjectOptions",
    "Service",
    "ServiceNetwork",
    "ServiceVolume",
    "WatchRule",
    "load_project",
    "render_config",
]
