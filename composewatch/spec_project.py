"""Project-level facts about services: start order and the keys composewatch does not apply."""

from __future__ import annotations

from composewatch.compose.model import Project, Service
from composewatch.core.scale import replica_count
from composewatch.errors import ComposeFileError
from composewatch.spec_keys import unsupported

__all__ = [
    "MAX_REPLICAS",
    "check_engine_features",
    "check_replicas",
    "startup_order",
    "unsupported_keys",
]

# Each replica is a container started at `up` and swapped on every save: far beyond this, a
# number is a typo or a hostile file, not a dev loop.
MAX_REPLICAS = 100


def unsupported_keys(service: Service) -> list[str]:
    """Keys of `service` composewatch does not apply (warned or not possible on this
    engine), for one startup warning per service; the table is spec_keys.KEYS."""
    return [key for key, _ in unsupported(service)]


def check_replicas(project: Project, services: list[str], file: str | None = None) -> None:
    """Refuse, before anything runs, a service asking for more than MAX_REPLICAS containers
    (`docker compose config` accepts any count; `up` would start them all)."""
    for name in services:
        count = replica_count(project.services[name])
        if count > MAX_REPLICAS:
            key = "scale" if project.services[name].scale is not None else "deploy.replicas"
            raise ComposeFileError(
                f"{count} replicas: composewatch runs at most {MAX_REPLICAS} containers per "
                "service, each started at `up` and swapped on every save; lower it",
                file=file,
                key=f"services.{name}.{key}",
            )


# compose's words (pkg/compose/convert.go, v2.40.3), refused below API 1.44 (Engine 25).
START_INTERVAL_REFUSED = (
    "can't set healthcheck.start_interval as feature require Docker Engine v25 or later"
)


def check_engine_features(
    project: Project, services: list[str], api_version: str, file: str | None = None
) -> None:
    """Refuse, before anything runs, what `docker compose up` refuses on this engine:
    `healthcheck.start_interval` before Engine API 1.44 (compose makes the network, then
    fails creating the first such container; composewatch makes nothing)."""
    major, _, minor = api_version.partition(".")
    if (int(major), int(minor or 0)) >= (1, 44):
        return
    for name in services:
        check = project.services[name].healthcheck
        if check is not None and check.start_interval is not None:
            raise ComposeFileError(
                f"{START_INTERVAL_REFUSED} (this engine speaks API {api_version}), as "
                "`docker compose up` says; remove the key or use a newer engine",
                file=file,
                key=f"services.{name}.healthcheck.start_interval",
            )


def startup_order(project: Project) -> list[list[str]]:
    """Services in depends_on layers: each layer only depends on earlier ones."""
    deps = {
        name: {d for d in (s.depends_on or {}) if d in project.services}
        for name, s in project.services.items()
    }
    layers: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(deps):
        layer = sorted(n for n, d in deps.items() if n not in done and d <= done)
        if not layer:
            cycle = sorted(set(deps) - done)
            raise ComposeFileError(
                f"dependency cycle between services {', '.join(cycle)}", key="services.*.depends_on"
            )
        layers.append(layer)
        done.update(layer)
    return layers
