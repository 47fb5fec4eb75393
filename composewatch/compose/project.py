"""Project-wide steps after merging: implicit dependencies and the default network, resource
names, profiles, consistency checks and dropping resources no active service uses."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable
from typing import Any

from composewatch.compose.units import UnitError, parse_size
from composewatch.errors import ComposeFileError

__all__ = [
    "check_consistency",
    "normalize_project",
    "prune_resources",
    "select_profiles",
]

_RESOURCES = ("networks", "volumes", "configs", "secrets")


def _implicit_dependencies(service: dict[str, Any]) -> dict[str, Any]:
    depends: dict[str, Any] = dict(service.get("depends_on") or {})

    def add(name: str, restart: bool) -> None:
        depends.setdefault(
            name, {"condition": "service_started", "restart": restart, "required": True}
        )

    for link in service.get("links") or []:
        parts = str(link).split(":")
        add(parts[0] if len(parts) == 2 else str(link), True)
    for namespace in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        ref = service.get(namespace)
        if isinstance(ref, str) and ref.startswith("service:"):
            add(ref.removeprefix("service:"), True)
    for entry in service.get("volumes_from") or []:
        if not str(entry).startswith("container:"):
            add(str(entry).split(":")[0], False)
    return depends


def normalize_project(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """Default network, implicit depends_on, cleaned mount targets, `<project>_<key>` names."""
    networks: dict[str, Any] = dict(doc.get("networks") or {})
    uses_default = False
    for service in doc.get("services", {}).values():
        if "provider" not in service and "network_mode" not in service:
            if not service.get("networks"):
                service["networks"] = {"default": None}
            uses_default = uses_default or "default" in service["networks"]
        for volume in service.get("volumes") or []:
            if volume.get("target"):
                volume["target"] = posixpath.normpath(volume["target"])
        depends = _implicit_dependencies(service)
        if depends:
            service["depends_on"] = depends
    if uses_default and "default" not in networks:
        networks["default"] = None
    if networks:
        doc["networks"] = networks
    for kind in _RESOURCES:
        resources = doc.get(kind)
        if not resources:
            continue
        for key, resource in list(resources.items()):
            resource = dict(resource or {})
            if resource.get("name") is None:
                external = resource.get("external") in (True, "true")
                resource["name"] = key if external else f"{name}_{key}"
            if kind == "networks":
                resource.setdefault("ipam", {})
            resources[key] = resource
    return doc


def select_profiles(
    services: dict[str, Any], profiles: Iterable[str]
) -> tuple[dict[str, Any], set[str]]:
    """Services enabled by `profiles` (`*` enables all), and the names of the disabled ones."""
    active = set(profiles)
    enabled: dict[str, Any] = {}
    disabled: set[str] = set()
    for name, service in services.items():
        own = service.get("profiles") or []
        if not own or "*" in active or active.intersection(own):
            enabled[name] = service
        else:
            disabled.add(name)
    return enabled, disabled


def _quote(value: object) -> str:
    """Go's `%q` for the names in compose's messages."""
    return json.dumps(str(value), ensure_ascii=False)


def _invalid(message: str, key: str | None = None) -> ComposeFileError:
    return ComposeFileError(f"{message}: invalid compose project", key=key)


def _check_cycles(services: dict[str, Any]) -> None:
    """Depth-first, with an explicit stack: a chain of thousands of services is fine."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(services):
        if state.get(root):
            continue
        state[root] = 1
        trail = [root]
        stack = [iter(list(services[root].get("depends_on") or {}))]
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                state[trail.pop()] = 2
                stack.pop()
            elif dep not in services or state.get(dep) == 2:
                continue
            elif state.get(dep) == 1:
                cycle = [*trail[trail.index(dep) :], dep]
                raise ComposeFileError(f"dependency cycle detected: {' -> '.join(cycle)}")
            else:
                state[dep] = 1
                trail.append(dep)
                stack.append(iter(list(services[dep].get("depends_on") or {})))


_DISTINCT = (  # service key, deploy.resources section and key, parser
    ("cpus", "limits", "cpus", float),
    ("mem_limit", "limits", "memory", parse_size),
    ("mem_reservation", "reservations", "memory", parse_size),
    ("pids_limit", "limits", "pids", int),
)


def _check_distinct(name: str, service: dict[str, Any]) -> None:
    """Shorthands and their `deploy` equivalents must agree when both are set."""
    deploy = service.get("deploy") or {}
    scale, replicas = service.get("scale"), deploy.get("replicas")
    if scale is not None and replicas is not None and scale != replicas:
        raise _invalid(
            f"services.{name}: can't set distinct values on 'scale' and 'deploy.replicas'",
            key=f"services.{name}.scale",
        )
    resources = deploy.get("resources") or {}
    for key, section, deploy_key, parse in _DISTINCT:
        if service.get(key) in (None, 0) or not isinstance(resources.get(section), dict):
            continue
        try:
            own, other = parse(service[key]), parse(resources[section].get(deploy_key) or 0)
        except (UnitError, ValueError):
            continue  # reported when the values are normalised
        if own != other:
            raise _invalid(
                f"services.{name}: can't set distinct values on '{key}' and "
                f"'deploy.resources.{section}.{deploy_key}'",
                key=f"services.{name}.{key}",
            )


def _check_values(name: str, service: dict[str, Any]) -> None:
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list) and test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise ComposeFileError(
            'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"',
            key=f"services.{name}.healthcheck.test",
        )
    for key, value in (
        ("scale", service.get("scale")),
        ("deploy.replicas", (service.get("deploy") or {}).get("replicas")),
    ):
        if isinstance(value, int) and value < 0:
            raise ComposeFileError(
                f"services.{name}.{key}: must be greater than or equal to 0",
                key=f"services.{name}.{key}",
            )
    for index, volume in enumerate(service.get("volumes") or []):
        if volume.get("type") == "bind" and not volume.get("source"):
            raise ComposeFileError(
                'invalid mount config for type "bind": field Source must not be empty',
                key=f"services.{name}.volumes[{index}]",
            )


def _check_build(name: str, service: dict[str, Any]) -> None:
    build = service.get("build")
    if not isinstance(build, dict):
        return
    if build.get("dockerfile_inline") and build.get("dockerfile"):
        raise _invalid(
            f"service {_quote(name)} declares mutualy exclusive dockerfile and dockerfile_inline",
            key=f"services.{name}.build",
        )
    platforms, platform = build.get("platforms") or [], service.get("platform")
    if platforms and platform and platform not in platforms:
        raise ComposeFileError(
            f"service.build.platforms MUST include service.platform {_quote(platform)}: "
            "invalid compose project",
            key=f"services.{name}.build.platforms",
        )


def _check_container_names(services: dict[str, Any]) -> None:
    """compose-go's `CheckContainerNameUnicity` (it names no first user; this does)."""
    owners: dict[str, str] = {}
    for name, service in services.items():
        container = service.get("container_name")
        if not container:
            continue
        if container in owners:
            raise ComposeFileError(
                f"services.{name}: container name {_quote(container)} is already in use by "
                f"service {owners[container]}",
                key=f"services.{name}.container_name",
            )
        owners[container] = name


def check_consistency(doc: dict[str, Any], disabled: set[str]) -> None:
    """compose's checks on the enabled services of a normalized project."""
    services: dict[str, Any] = doc.get("services", {})
    for name, s in services.items():
        if not s.get("image") and "build" not in s and "provider" not in s:
            raise _invalid(
                f"service {_quote(name)} has neither an image nor a build context specified",
                key=f"services.{name}",
            )
        _check_build(name, s)
        if "network_mode" in s and s.get("networks"):
            raise _invalid(
                f"service {name} declares mutually exclusive `network_mode` and `networks`",
                key=f"services.{name}.network_mode",
            )
        for network in s.get("networks") or {}:
            if network not in (doc.get("networks") or {}):
                raise _invalid(
                    f"service {_quote(name)} refers to undefined network {network}",
                    key=f"services.{name}.networks.{network}",
                )
        for dep, cfg in (s.get("depends_on") or {}).items():
            if dep in services or (dep in disabled and not cfg.get("required", True)):
                continue
            raise _invalid(
                f"service {_quote(name)} depends on undefined service {_quote(dep)}",
                key=f"services.{name}.depends_on.{dep}",
            )
        for volume in s.get("volumes") or []:
            source = volume.get("source")
            if (
                volume.get("type") == "volume"
                and source
                and source not in (doc.get("volumes") or {})
            ):
                raise _invalid(
                    f"service {_quote(name)} refers to undefined volume {source}",
                    key=f"services.{name}.volumes",
                )
        for kind in ("secrets", "configs"):
            for mount in s.get(kind) or []:
                if mount.get("source") not in (doc.get(kind) or {}):
                    raise _invalid(
                        f"service {_quote(name)} refers to undefined {kind[:-1]} "
                        f"{mount.get('source')}",
                        key=f"services.{name}.{kind}",
                    )
        _check_distinct(name, s)
        _check_values(name, s)
        scale = s.get("scale", (s.get("deploy") or {}).get("replicas"))
        if s.get("container_name") and isinstance(scale, int) and scale > 1:
            raise _invalid(
                f"services.scale: can't set container_name and {name} as container name "
                "must be unique",
                key=f"services.{name}.container_name",
            )
    _check_container_names(services)
    _check_cycles(services)


def prune_resources(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` without top-level resources no (enabled) service refers to."""
    used: dict[str, set[str]] = {kind: set() for kind in (*_RESOURCES, "models")}
    for s in doc.get("services", {}).values():
        used["networks"].update(s.get("networks") or {})
        used["volumes"].update(
            v["source"]
            for v in s.get("volumes") or []
            if v.get("type") == "volume" and v.get("source")
        )
        used["secrets"].update(m["source"] for m in s.get("secrets") or [])
        used["secrets"].update(m["source"] for m in (s.get("build") or {}).get("secrets") or [])
        used["configs"].update(m["source"] for m in s.get("configs") or [])
        used["models"].update(s.get("models") or {})  # a list of names or a map by name
    for kind in (*_RESOURCES, "models"):
        kept = {k: v for k, v in (doc.get(kind) or {}).items() if k in used[kind]}
        if kept:
            doc[kind] = kept
        else:
            doc.pop(kind, None)
    return doc
