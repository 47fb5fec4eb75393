"""The compose specification's structure as data: for each object (by key-path pattern, `*`
for any name or index), the keys it allows and the JSON types each accepts (`a|b`)."""

from __future__ import annotations

__all__ = ["ENUMS", "ITEMS", "MEMBERS", "NAMES", "PATTERNS", "RANGES", "REQUIRED", "TABLES"]

_LIST_OR_DICT = "object|array"
_RESOURCE = {
    "name": "string",
    "external": "boolean|string|object",
    "labels": _LIST_OR_DICT,
    "driver": "string",
    "driver_opts": "object",
}
_MOUNT = {
    "source": "string",
    "target": "string",
    "uid": "string",
    "gid": "string",
    "mode": "number|string",
}

# fmt: off
TABLES: dict[str, dict[str, str]] = {
    "": {
        "version": "string", "name": "string", "include": "array", "services": "object",
        "models": "object", "networks": "object", "volumes": "object", "secrets": "object",
        "configs": "object",
    },
    "services.*": {
        "annotations": _LIST_OR_DICT, "attach": "boolean|string", "build": "string|object",
        "blkio_config": "object", "cap_add": "array", "cap_drop": "array", "cgroup": "string",
        "cgroup_parent": "string", "command": "null|string|array", "configs": "array",
        "container_name": "string", "cpu_count": "string|integer",
        "cpu_percent": "string|integer", "cpu_shares": "number|string",
        "cpu_quota": "number|string", "cpu_period": "number|string",
        "cpu_rt_period": "number|string", "cpu_rt_runtime": "number|string",
        "cpus": "number|string", "cpuset": "string", "credential_spec": "object",
        "depends_on": "array|object", "deploy": "object|null", "develop": "object|null",
        "device_cgroup_rules": "array", "devices": "array", "dns": "string|array",
        "dns_opt": "array", "dns_search": "string|array", "domainname": "string",
        "entrypoint": "null|string|array", "env_file": "string|array",
        "label_file": "string|array", "environment": _LIST_OR_DICT, "expose": "array",
        "extends": "string|object", "provider": "object", "external_links": "array",
        "extra_hosts": _LIST_OR_DICT, "gpus": "string|array", "group_add": "array",
        "healthcheck": "object", "hostname": "string", "image": "string",
        "init": "boolean|string", "ipc": "string", "isolation": "string",
        "labels": _LIST_OR_DICT, "links": "array", "logging": "object",
        "mac_address": "string", "mem_limit": "number|string",
        "mem_reservation": "string|integer", "mem_swappiness": "integer|string",
        "memswap_limit": "number|string", "network_mode": "string", "models": "array|object",
        "networks": "array|object", "oom_kill_disable": "boolean|string",
        "oom_score_adj": "string|integer", "pid": "string", "pids_limit": "number|string",
        "platform": "string", "ports": "array", "post_start": "array",
        "pre_stop": "array", "privileged": "boolean|string", "profiles": "array",
        "pull_policy": "string", "pull_refresh_after": "string",
        "read_only": "boolean|string", "restart": "string", "runtime": "string",
        "scale": "integer|string", "security_opt": "array", "shm_size": "number|string",
        "secrets": "array", "sysctls": _LIST_OR_DICT, "stdin_open": "boolean|string",
        "stop_grace_period": "string", "stop_signal": "string", "storage_opt": "object",
        "tmpfs": "string|array", "tty": "boolean|string", "ulimits": "object",
        "use_api_socket": "boolean", "user": "string", "uts": "string",
        "userns_mode": "string", "volumes": "array", "volumes_from": "array",
        "working_dir": "string",
    },
    "services.*.build": {
        "context": "string", "dockerfile": "string", "dockerfile_inline": "string",
        "entitlements": "array", "args": _LIST_OR_DICT, "ssh": _LIST_OR_DICT,
        "labels": _LIST_OR_DICT, "cache_from": "array", "cache_to": "array",
        "no_cache": "boolean|string",
        "additional_contexts": _LIST_OR_DICT, "network": "string", "provenance": "string|boolean",
        "sbom": "string|boolean", "pull": "boolean|string", "target": "string",
        "shm_size": "integer|string", "extra_hosts": _LIST_OR_DICT, "isolation": "string",
        "privileged": "boolean|string", "secrets": "array", "tags": "array", "ulimits": "object",
        "platforms": "array",
    },
    "services.*.healthcheck": {
        "disable": "boolean|string", "interval": "string", "retries": "number|string",
        "test": "string|array", "timeout": "string", "start_period": "string",
        "start_interval": "string",
    },
    "services.*.deploy": {
        "mode": "string", "endpoint_mode": "string", "replicas": "integer|string",
        "labels": _LIST_OR_DICT, "rollback_config": "object", "update_config": "object",
        "resources": "object", "restart_policy": "object", "placement": "object",
    },
    "services.*.deploy.resources": {"limits": "object", "reservations": "object"},
    "services.*.deploy.resources.limits": {
        "cpus": "number|string", "memory": "string", "pids": "integer|string",
    },
    "services.*.deploy.resources.reservations": {
        "cpus": "number|string", "memory": "string", "generic_resources": "array",
        "devices": "array",
    },
    "services.*.depends_on.*": {
        "condition": "string", "required": "boolean", "restart": "boolean|string",
    },
    "services.*.networks.*": {
        "aliases": "array", "interface_name": "string", "ipv4_address": "string",
        "ipv6_address": "string", "link_local_ips": "array", "mac_address": "string",
        "driver_opts": "object", "priority": "number", "gw_priority": "number",
    },
    "services.*.ports.*": {
        "name": "string", "mode": "string", "host_ip": "string", "target": "integer|string",
        "published": "string|integer", "protocol": "string", "app_protocol": "string",
    },
    "services.*.volumes.*": {
        "type": "string", "source": "string", "target": "string", "read_only": "boolean|string",
        "consistency": "string", "bind": "object", "volume": "object", "tmpfs": "object",
        "image": "object",
    },
    "services.*.secrets.*": _MOUNT,
    "services.*.configs.*": _MOUNT,
    "services.*.develop": {"watch": "array"},
    "services.*.develop.watch.*": {
        "path": "string", "action": "string", "target": "string", "ignore": "string|array",
        "include": "string|array", "initial_sync": "boolean", "exec": "object",
    },
    "services.*.logging": {"driver": "string", "options": "object"},
    "services.*.extends": {"service": "string", "file": "string"},
    "services.*.env_file.*": {"path": "string", "required": "boolean|string", "format": "string"},
    "include.*": {
        "path": "string|array", "project_directory": "string", "env_file": "string|array",
    },
    "networks.*": {
        **_RESOURCE, "ipam": "object", "internal": "boolean|string",
        "enable_ipv4": "boolean|string", "enable_ipv6": "boolean|string",
        "attachable": "boolean|string",
    },
    "volumes.*": _RESOURCE,
    "secrets.*": {**_RESOURCE, "environment": "string", "file": "string",
                  "template_driver": "string"},
    "configs.*": {**_RESOURCE, "content": "string", "environment": "string", "file": "string",
                  "template_driver": "string"},
}

# The JSON types the items of an array accept, for the arrays the loader reads item by item.
_MOUNTS = "string|object"
ITEMS: dict[str, str] = {
    "include": "string|object", "include.*.path": "string", "include.*.env_file": "string",
    "services.*.volumes": _MOUNTS, "services.*.secrets": _MOUNTS, "services.*.configs": _MOUNTS,
    "services.*.build.secrets": _MOUNTS, "services.*.devices": _MOUNTS,
    "services.*.env_file": _MOUNTS, "services.*.label_file": "string",
    "services.*.ports": "integer|string|object", "services.*.develop.watch": "object",
    "services.*.develop.watch.*.ignore": "string", "services.*.develop.watch.*.include": "string",
    "services.*.depends_on": "string", "services.*.networks": "string",
    "services.*.links": "string", "services.*.external_links": "string",
    "services.*.volumes_from": "string", "services.*.profiles": "string",
    "services.*.cap_add": "string", "services.*.cap_drop": "string",
    "services.*.security_opt": "string", "services.*.dns": "string",
    "services.*.dns_search": "string", "services.*.dns_opt": "string",
    "services.*.tmpfs": "string", "services.*.expose": "string|integer",
    "services.*.extra_hosts": "string", "services.*.build.extra_hosts": "string",
    "services.*.build.cache_from": "string", "services.*.build.cache_to": "string",
    "services.*.build.tags": "string", "services.*.build.platforms": "string",
    "services.*.healthcheck.test": "string", "services.*.networks.*.aliases": "string",
    "services.*.pre_stop": "object", "services.*.post_start": "object",
    "services.*.deploy.resources.reservations.devices": "object", "services.*.gpus": "object",
    # a `list_or_dict` given as a list holds `KEY=value` strings
    "services.*.environment": "string", "services.*.labels": "string",
    "services.*.annotations": "string", "services.*.sysctls": "string",
    "services.*.build.args": "string", "services.*.build.labels": "string",
    "services.*.deploy.labels": "string", "networks.*.labels": "string",
    "volumes.*.labels": "string", "secrets.*.labels": "string", "configs.*.labels": "string",
}

# The JSON types the values of a map of named things accept.
MEMBERS: dict[str, str] = {
    "volumes": "object|null", "networks": "object|null", "secrets": "object|null",
    "configs": "object|null", "models": "object|null",
}

# Objects whose keys are names and must match compose's name pattern (the schema's
# `patternProperties` with `additionalProperties: false`; networks and models allow any name).
_NAME = r"^[a-zA-Z0-9._-]+$"
NAMES: dict[str, str] = {
    "services": _NAME, "volumes": _NAME, "secrets": _NAME, "configs": _NAME,
    "services.*.depends_on": _NAME,
}

# String values with a schema `pattern` (unanchored, as JSON Schema patterns are).
PATTERNS: dict[str, str] = {
    "services.*.container_name": r"[a-zA-Z0-9][a-zA-Z0-9_.-]+",
    "services.*.pull_policy": (
        r"always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+"
    ),
}

ENUMS: dict[str, tuple[str, ...]] = {
    "services.*.depends_on.*.condition": (
        "service_started", "service_healthy", "service_completed_successfully",
    ),
    "services.*.develop.watch.*.action": (
        "rebuild", "sync", "restart", "sync+restart", "sync+exec",
    ),
    "services.*.volumes.*.type": ("bind", "volume", "tmpfs", "cluster", "npipe", "image"),
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "services.*.develop.watch.*": ("path", "action"),
    "services.*.env_file.*": ("path",),
    "services.*.extends": ("service",),
    "services.*.volumes.*": ("type",),
    "services.*.secrets.*": ("source",),
    "services.*.configs.*": ("source",),
}
# fmt: on

# Integer bounds (minimum, maximum); compose's validator reports a value out of a
# `string | bounded integer` choice as "must be a string".
RANGES: dict[str, tuple[int | None, int | None]] = {
    "services.*.cpu_count": (0, None),
    "services.*.cpu_percent": (0, 100),
    "services.*.oom_score_adj": (-1000, 1000),
    "services.*.volumes.*.tmpfs.size": (0, None),
}

# The JSON types the values of a map with free keys accept (a `list_or_dict` given as a map,
# driver options, log options...); compose names them sorted ("a boolean, null, number or
# string"), and names only `string` for `extra_hosts` (its first form).
_SCALAR = "boolean|null|number|string"
_OPTS = "number|string"
# fmt: off
VALUES: dict[str, str] = {
    "services.*.annotations": _SCALAR, "services.*.environment": _SCALAR,
    "services.*.labels": _SCALAR, "services.*.sysctls": _SCALAR,
    "services.*.build.args": _SCALAR, "services.*.build.ssh": _SCALAR,
    "services.*.build.labels": _SCALAR, "services.*.build.additional_contexts": _SCALAR,
    "services.*.deploy.labels": _SCALAR, "services.*.volumes.*.volume.labels": _SCALAR,
    "services.*.deploy.resources.reservations.devices.*.options": _SCALAR,
    "services.*.gpus.*.options": _SCALAR,
    "services.*.post_start.*.environment": _SCALAR, "services.*.pre_stop.*.environment": _SCALAR,
    "networks.*.labels": _SCALAR, "volumes.*.labels": _SCALAR, "secrets.*.labels": _SCALAR,
    "configs.*.labels": _SCALAR,
    "services.*.logging.options": "null|number|string",
    "services.*.networks.*.driver_opts": _OPTS, "networks.*.driver_opts": _OPTS,
    "volumes.*.driver_opts": _OPTS, "secrets.*.driver_opts": _OPTS,
    "networks.*.ipam.options": "string", "networks.*.ipam.config.*.aux_addresses": "string",
    "services.*.extra_hosts": "string|array", "services.*.build.extra_hosts": "string|array",
}

# Arrays whose items must be unique (`uniqueItems`) and that compose does not deduplicate
# before validating the merged files, with compose's words when it names another form of a
# `oneOf` ("must be a mapping") rather than the duplicate ("items at 0 and 1 are equal").
UNIQUE: dict[str, str | None] = {
    "services.*.security_opt": None, "services.*.group_add": None,
    "services.*.external_links": None, "services.*.volumes_from": None,
    "services.*.device_cgroup_rules": None, "services.*.depends_on": None,
    "services.*.networks": None, "services.*.models": None,
    "services.*.deploy.resources.reservations.devices.*.capabilities": None,
    "services.*.deploy.resources.reservations.devices.*.device_ids": None,
    "services.*.gpus.*.capabilities": None, "services.*.gpus.*.device_ids": None,
    "services.*.extra_hosts": "mapping", "services.*.build.extra_hosts": "mapping",
    "services.*.build.ssh": "mapping", "services.*.volumes.*.volume.labels": "mapping",
    "volumes.*.labels": "mapping", "secrets.*.labels": "mapping", "configs.*.labels": "mapping",
    "services.*.post_start.*.environment": "mapping",
    "services.*.pre_stop.*.environment": "mapping",
    "services.*.deploy.resources.reservations.devices.*.options": "mapping",
    "services.*.gpus.*.options": "mapping",
    "services.*.develop.watch.*.ignore": "string", "services.*.develop.watch.*.include": "string",
}
# fmt: on
