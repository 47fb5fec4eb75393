"""The compose loader: reads compose files exactly as Docker Compose v2 does.

`load_project(ProjectOptions(...))` gives a `LoadedProject`; `loaded.to_compose_dict()` is
`docker compose config --format json` as data, and `render_config(loaded, "json" | "yaml")`
its exact text (docs/compose-fidelity.md).
"""

from composewatch.compose.loader import ProjectOptions, load_project
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
from composewatch.compose.render import render_config

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
