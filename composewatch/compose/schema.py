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
S, I, N, B, A, O, NULL = "string", "integer", "number", "boolean", "array", "object", "null"

_SERVICE: dict[str, tuple[str, ...]] = {
    "annotations": (O, A), "attach": (B, S), "build": (S, O), "blkio_config": (O,),
    "cap_add": (A,), "cap_drop": (A,), "cgroup": (S,), "cgroup_parent": (S,),
    "command": (NULL, S, A), "configs": (A,), "container_name": (S,), "cpu_count": (S, I),
    "cpu_percent": (S, I), "cpu_shares": (N, S), "cpu_quota": (N, S), "cpu_period": (N, S),
    "cpu_rt_period": (N, S), "cpu_rt_runtime": (N, S), "cpus": (N, S), "cpuset": (S,),
    "credential_spec": (O,), "depends_on": (A, O), "deploy": (O, NULL), "develop": (O, NULL),
    "device_cgroup_rules": (A,), "devices": (A,), "dns": (S, A), "dns_opt": (A,),
    "dns_search": (S, A), "domainname": (S,), "entrypoint": (NULL, S, A), "env_file": (S, A),
    "label_file": (S, A), "environment": (O, A), "expose": (A,), "extends": (S, O),
    "provider": (O,), "external_links": (A,), "extra_hosts": (O, A), "gpus": (S, A),
    "group_add": (A,), "healthcheck": (O,), "hostname": (S,), "image": (S,), "init": (B, S),
    "ipc": (S,), "isolation": (S,), "labels": (O, A), "links": (A,), "logging": (O,),
    "mac_address": (S,), "mem_limit": (N, S), "mem_reservation": (S, I),
    "mem_swappiness": (I, S), "memswap_limit": (N, S), "network_mode": (S,),
    "models": (A, O), "networks": (A, O), "oom_kill_disable": (B, S), "oom_score_adj": (S, I),
    "pid": (S, NULL), "pids_limit": (N, S), "platform": (S,), "ports": (A,), "pre_start": (A,),
    "post_start": (A,), "pre_stop": (A,), "privileged": (B, S), "profiles": (A,),
    "pull_policy": (S,), "pull_refresh_after": (S,), "read_only": (B, S), "restart": (S,),
    "runtime": (S,), "scale": (I, S), "security_opt": (A,), "shm_size": (N, S),
    "secrets": (A,), "sysctls": (O, A), "stdin_open": (B, S), "stop_grace_period": (S,),
    "stop_signal": (S,), "storage_opt": (O,), "tmpfs": (S, A), "tty": (B, S),
    "ulimits": (O,), "use_api_socket": (B,), "user": (S,), "uts": (S,), "userns_mode": (S,),
    "volumes": (A,), "volumes_from": (A,), "working_dir": (S,),
}  # fmt: skip

_BUILD: dict[str, tuple[str, ...]] = {
    "context": (S,), "dockerfile": (S,), "dockerfile_inline": (S,), "entitlements": (A,),
    "args": (O, A), "ssh": (O, A), "labels": (O, A), "cache_from": (A,), "cache_to": (A,),
    "no_cache": (B, S), "no_cache_filter": (S, A), "additional_contexts": (O, A),
    "network": (S,), "provenance": (S, B), "sbom": (S, B), "pull": (B, S), "target": (S,),
    "shm_size": (I, S), "extra_hosts": (O, A), "isolation": (S,), "privileged": (B, S),
    "secrets": (A,), "tags": (A,), "ulimits": (O,), "platforms": (A,),
}  # fmt: skip

_HEALTHCHECK: dict[str, tuple[str, ...]] = {
    "disable": (B, S), "interval": (S,), "retries": (N, S), "test": (S, A), "timeout": (S,),
    "start_period": (S,), "start_interval": (S,),
}  # fmt: skip

_RESOURCE_COMMON: dict[str, tuple[str, ...]] = {
    "name": (S,), "external": (B, S, O), "labels": (O, A), "driver": (S,), "driver_opts": (O,),
}
_RESOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "networks": {
        **_RESOURCE_COMMON, "ipam": (O,), "internal": (B, S), "enable_ipv4": (B, S),
        "enable_ipv6": (B, S), "attachable": (B, S),
    },
    "volumes": _RESOURCE_COMMON,
    "secrets": {
        **_RESOURCE_COMMON, "environment": (S,), "file": (S,), "template_driver": (S,),
    },
    "configs": {
        **_RESOURCE_COMMON, "content": (S,), "environment": (S,), "file": (S,),
        "template_driver": (S,),
    },
}  # fmt: skip

_TOP: dict[str, tuple[str, ...]] = {
    "version": (S,), "name": (S,), "include": (A,), "services": (O,), "models": (O,),
    "networks": (O,), "volumes": (O,), "secrets": (O,), "configs": (O,),
}  # fmt: skip


def _json_type(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return B
    if isinstance(value, int):
        return I
    if isinstance(value, float):
        return N
    if isinstance(value, str):
        return S
    return A if isinstance(value, list) else O


def _accepts(allowed: tuple[str, ...], value: Any) -> bool:
    actual = _json_type(value)
    return actual in allowed or (actual == I and N in allowed)


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
