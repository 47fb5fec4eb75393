"""The compose loader: reads compose files exactly as Docker Compose v2 does.

`load_project(ProjectOptions(...))` gives a `LoadedProject` whose
`project.to_compose_dict()` equals `docker compose config --format json`.
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
