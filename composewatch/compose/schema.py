"""Structural validation of one interpolated compose file against the compose specification.

A table maps each known key to the JSON types it accepts; `x-*` keys are allowed everywhere.
Only the shape is checked here; values (ports, durations, volume specs...) are checked when
they are parsed.
"""

from __future__ import annotations

from typing import Any

from composewatch.errors import ComposeFileError

__all__ = ["validate_file"]

# JSON-schema type names, as compose's messages use them.
STR, INT, NUM, BOOL, ARR, OBJ, NULL = (
    "string",
    "integer",
    "number",
    "boolean",
    "array",
    "object",
    "null",
)

_SERVICE: dict[str, tuple[str, ...]] = {
    "annotations": (OBJ, ARR),
    "attach": (BOOL, STR),
    "build": (STR, OBJ),
    "blkio_config": (OBJ,),
    "cap_add": (ARR,),
    "cap_drop": (ARR,),
    "cgroup": (STR,),
    "cgroup_parent": (STR,),
    "command": (NULL, STR, ARR),
    "configs": (ARR,),
    "container_name": (STR,),
    "cpu_count": (STR, INT),
    "cpu_percent": (STR, INT),
    "cpu_shares": (NUM, STR),
    "cpu_quota": (NUM, STR),
    "cpu_period": (NUM, STR),
    "cpu_rt_period": (NUM, STR),
    "cpu_rt_runtime": (NUM, STR),
    "cpus": (NUM, STR),
    "cpuset": (STR,),
    "credential_spec": (OBJ,),
    "depends_on": (ARR, OBJ),
    "deploy": (OBJ, NULL),
    "develop": (OBJ, NULL),
    "device_cgroup_rules": (ARR,),
    "devices": (ARR,),
    "dns": (STR, ARR),
    "dns_opt": (ARR,),
    "dns_search": (STR, ARR),
    "domainname": (STR,),
    "entrypoint": (NULL, STR, ARR),
    "env_file": (STR, ARR),
    "label_file": (STR, ARR),
    "environment": (OBJ, ARR),
    "expose": (ARR,),
    "extends": (STR, OBJ),
    "provider": (OBJ,),
    "external_links": (ARR,),
    "extra_hosts": (OBJ, ARR),
    "gpus": (STR, ARR),
    "group_add": (ARR,),
    "healthcheck": (OBJ,),
    "hostname": (STR,),
    "image": (STR,),
    "init": (BOOL, STR),
    "ipc": (STR,),
    "isolation": (STR,),
    "labels": (OBJ, ARR),
    "links": (ARR,),
    "logging": (OBJ,),
    "mac_address": (STR,),
    "mem_limit": (NUM, STR),
    "mem_reservation": (STR, INT),
    "mem_swappiness": (INT, STR),
    "memswap_limit": (NUM, STR),
    "network_mode": (STR,),
    "models": (ARR, OBJ),
    "networks": (ARR, OBJ),
    "oom_kill_disable": (BOOL, STR),
    "oom_score_adj": (STR, INT),
    "pid": (STR, NULL),
    "pids_limit": (NUM, STR),
    "platform": (STR,),
    "ports": (ARR,),
    "pre_start": (ARR,),
    "post_start": (ARR,),
    "pre_stop": (ARR,),
    "privileged": (BOOL, STR),
    "profiles": (ARR,),
    "pull_policy": (STR,),
    "pull_refresh_after": (STR,),
    "read_only": (BOOL, STR),
    "restart": (STR,),
    "runtime": (STR,),
    "scale": (INT, STR),
    "security_opt": (ARR,),
    "shm_size": (NUM, STR),
    "secrets": (ARR,),
    "sysctls": (OBJ, ARR),
    "stdin_open": (BOOL, STR),
    "stop_grace_period": (STR,),
    "stop_signal": (STR,),
    "storage_opt": (OBJ,),
    "tmpfs": (STR, ARR),
    "tty": (BOOL, STR),
    "ulimits": (OBJ,),
    "use_api_socket": (BOOL,),
    "user": (STR,),
    "uts": (STR,),
    "userns_mode": (STR,),
    "volumes": (ARR,),
    "volumes_from": (ARR,),
    "working_dir": (STR,),
}

_BUILD: dict[str, tuple[str, ...]] = {
    "context": (STR,),
    "dockerfile": (STR,),
    "dockerfile_inline": (STR,),
    "entitlements": (ARR,),
    "args": (OBJ, ARR),
    "ssh": (OBJ, ARR),
    "labels": (OBJ, ARR),
    "cache_from": (ARR,),
    "cache_to": (ARR,),
    "no_cache": (BOOL, STR),
    "no_cache_filter": (STR, ARR),
    "additional_contexts": (OBJ, ARR),
    "network": (STR,),
    "provenance": (STR, BOOL),
    "sbom": (STR, BOOL),
    "pull": (BOOL, STR),
    "target": (STR,),
    "shm_size": (INT, STR),
    "extra_hosts": (OBJ, ARR),
    "isolation": (STR,),
    "privileged": (BOOL, STR),
    "secrets": (ARR,),
    "tags": (ARR,),
    "ulimits": (OBJ,),
    "platforms": (ARR,),
}

_HEALTHCHECK: dict[str, tuple[str, ...]] = {
    "disable": (BOOL, STR),
    "interval": (STR,),
    "retries": (NUM, STR),
    "test": (STR, ARR),
    "timeout": (STR,),
    "start_period": (STR,),
    "start_interval": (STR,),
}

_RESOURCE_COMMON: dict[str, tuple[str, ...]] = {
    "name": (STR,),
    "external": (BOOL, STR, OBJ),
    "labels": (OBJ, ARR),
    "driver": (STR,),
    "driver_opts": (OBJ,),
}
_RESOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "networks": {
        **_RESOURCE_COMMON,
        "ipam": (OBJ,),
        "internal": (BOOL, STR),
        "enable_ipv4": (BOOL, STR),
        "enable_ipv6": (BOOL, STR),
        "attachable": (BOOL, STR),
    },
    "volumes": _RESOURCE_COMMON,
    "secrets": {
        **_RESOURCE_COMMON,
        "environment": (STR,),
        "file": (STR,),
        "template_driver": (STR,),
    },
    "configs": {
        **_RESOURCE_COMMON,
        "content": (STR,),
        "environment": (STR,),
        "file": (STR,),
        "template_driver": (STR,),
    },
}

_TOP: dict[str, tuple[str, ...]] = {
    "version": (STR,),
    "name": (STR,),
    "include": (ARR,),
    "services": (OBJ,),
    "models": (OBJ,),
    "networks": (OBJ,),
    "volumes": (OBJ,),
    "secrets": (OBJ,),
    "configs": (OBJ,),
}


def _json_type(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return NUM
    if isinstance(value, str):
        return STR
    return ARR if isinstance(value, list) else OBJ


def _accepts(allowed: tuple[str, ...], value: Any) -> bool:
    actual = _json_type(value)
    return actual in allowed or (actual == INT and NUM in allowed)


def _check_keys(
    node: dict[str, Any], table: dict[str, tuple[str, ...]], where: str, file: str
) -> None:
    for key, value in node.items():
        if key.startswith("x-"):
            continue
        path = f"{where}.{key}" if where else key
        if key not in table:
            raise ComposeFileError(
                f"{where} additional properties {key!r} not allowed", file=file, key=path
            )
        if not _accepts(table[key], value):
            article = "an" if table[key][0][0] in "aeiou" else "a"
            raise ComposeFileError(f"{path} must be {article} {table[key][0]}", file=file, key=path)


def _check_mapping(value: Any, path: str, file: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ComposeFileError(f"{path} must be a mapping", file=file, key=path)
    return value


def validate_file(doc: dict[str, Any], file: str) -> None:
    """Raise ComposeFileError if `doc` does not have the shape of a compose file."""
    if isinstance(doc.get("services"), list):
        raise ComposeFileError("services must be a mapping", file=file, key="services")
    _check_keys(doc, _TOP, "", file)
    for name, service in (doc.get("services") or {}).items():
        where = f"services.{name}"
        if service is None:
            continue
        service = _check_mapping(service, where, file)
        _check_keys(service, _SERVICE, where, file)
        if isinstance(service.get("build"), dict):
            _check_keys(service["build"], _BUILD, f"{where}.build", file)
        if isinstance(service.get("healthcheck"), dict):
            _check_keys(service["healthcheck"], _HEALTHCHECK, f"{where}.healthcheck", file)
    for kind, table in _RESOURCES.items():
        for name, resource in (doc.get(kind) or {}).items():
            if resource is not None:
                where = f"{kind}.{name}"
                _check_keys(_check_mapping(resource, where, file), table, where, file)
