"""Docker Compose's `com.docker.compose.config-hash`, reproduced bit for bit.

Compose v2.40 hashes `json.Marshal(service)` (Go) after clearing build, pull_policy, scale,
deploy.replicas, depends_on and profiles. Go writes struct fields in declaration order and
map keys sorted, escapes <, > and &, and prints integral floats without a fraction. The
canonical dict has the same keys as Go's struct, so re-ordering them is all it takes.
Matching the hash lets composewatch adopt containers `docker compose up` made and lets
`docker compose up` adopt ours.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from composewatch.compose.model import Service

__all__ = ["service_hash"]

# Go struct field order (compose-go v2.9.1 types), keyed by the struct's path from a service.
# "*" marks a map whose values have the nested layout; maps are otherwise sorted by key.
# fmt: off
_ORDER: dict[str, list[str]] = {
    "": [
        "profiles", "annotations", "attach", "build", "develop", "blkio_config", "cap_add",
        "cap_drop", "cgroup_parent", "cgroup", "cpu_count", "cpu_percent", "cpu_period",
        "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpus", "cpuset", "cpu_shares",
        "command", "configs", "container_name", "credential_spec", "depends_on", "deploy",
        "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "dockerfile",
        "domainname", "entrypoint", "provider", "environment", "env_file", "expose", "extends",
        "external_links", "extra_hosts", "group_add", "gpus", "hostname", "healthcheck",
        "image", "init", "ipc", "isolation", "labels", "label_file", "links", "logging",
        "log_driver", "log_opt", "mem_limit", "mem_reservation", "memswap_limit",
        "mem_swappiness", "mac_address", "models", "net", "network_mode", "networks",
        "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports",
        "privileged", "pull_policy", "read_only", "restart", "runtime", "scale", "secrets",
        "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal",
        "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket", "user",
        "userns_mode", "uts", "volume_driver", "volumes", "volumes_from", "working_dir",
        "post_start", "pre_stop",
    ],
    "blkio_config": [
        "weight", "weight_device", "device_read_bps", "device_read_iops", "device_write_bps",
        "device_write_iops",
    ],
    "blkio_config.weight_device": ["Path", "Weight"],
    "blkio_config.device_read_bps": ["Path", "Rate"],
    "blkio_config.device_read_iops": ["Path", "Rate"],
    "blkio_config.device_write_bps": ["Path", "Rate"],
    "blkio_config.device_write_iops": ["Path", "Rate"],
    "configs": ["source", "target", "uid", "gid", "mode"],
    "secrets": ["source", "target", "uid", "gid", "mode"],
    "devices": ["source", "target", "permissions"],
    "gpus": ["capabilities", "driver", "count", "device_ids", "options"],
    "deploy.resources.limits.devices": [
        "capabilities", "driver", "count", "device_ids", "options",
    ],
    "deploy.resources.reservations.devices": [
        "capabilities", "driver", "count", "device_ids", "options",
    ],
    "post_start": ["command", "user", "privileged", "working_dir", "environment"],
    "pre_stop": ["command", "user", "privileged", "working_dir", "environment"],
    "develop": ["watch"],
    "develop.watch": [
        "path", "action", "target", "exec", "include", "ignore", "initial_sync",
    ],
    "deploy": [
        "mode", "replicas", "labels", "update_config", "rollback_config", "resources",
        "restart_policy", "placement", "endpoint_mode",
    ],
    "deploy.resources": ["limits", "reservations"],
    "deploy.resources.limits": ["cpus", "memory", "pids", "devices", "generic_resources"],
    "deploy.resources.reservations": [
        "cpus", "memory", "pids", "devices", "generic_resources",
    ],
    "deploy.restart_policy": ["condition", "delay", "max_attempts", "window"],
    "healthcheck": [
        "test", "timeout", "interval", "retries", "start_period", "start_interval", "disable",
    ],
    "logging": ["driver", "options"],
    "networks.*": [
        "aliases", "driver_opts", "gw_priority", "interface_name", "ipv4_address",
        "ipv6_address", "link_local_ips", "mac_address", "priority",
    ],
    "ports": ["name", "mode", "host_ip", "target", "published", "protocol", "app_protocol"],
    "ulimits.*": ["single", "soft", "hard"],
    "volumes": [
        "type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs",
        "image",
    ],
    "volumes.bind": ["selinux", "propagation", "create_host_path", "recursive"],
    "volumes.volume": ["labels", "nocopy", "subpath"],
    "volumes.tmpfs": ["size", "mode"],
    "volumes.image": ["subpath"],
}
# Go maps (marshalled with sorted keys); "networks" and "ulimits" hold structs.
_MAPS = {
    "annotations", "environment", "labels", "log_opt", "networks", "storage_opt", "sysctls",
    "ulimits", "deploy.labels", "logging.options", "networks.*.driver_opts",
    "gpus.options", "deploy.resources.limits.devices.options",
    "deploy.resources.reservations.devices.options", "post_start.environment",
    "pre_stop.environment",
    "volumes.volume.labels",
}
# fmt: on
_CLEARED = ("build", "pull_policy", "scale", "depends_on", "profiles")


def _go_order(value: Any, path: str) -> Any:
    """`value` re-keyed as Go would marshal it; `path` locates it in ServiceConfig."""
    if isinstance(value, list):
        return [_go_order(v, path) for v in value]
    if not isinstance(value, dict):
        return value
    if path in _MAPS:
        child = f"{path}.*"
        return {k: _go_order(value[k], child) for k in sorted(value)}
    order = _ORDER.get(path)
    if order is None:  # a struct composewatch does not model: the loader kept Go's order
        return value
    rank = {k: i for i, k in enumerate(order)}
    keys = sorted(value, key=lambda k: rank.get(k, len(rank)))
    return {k: _go_order(value[k], f"{path}.{k}" if path else k) for k in keys}


def _go_floats(value: Any) -> Any:
    # Go prints float64(2) as 2, Python as 2.0.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_go_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _go_floats(v) for k, v in value.items()}
    return value


def _go_json(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def service_hash(service: Service) -> str:
    """The value compose writes in `com.docker.compose.config-hash` for this service."""
    data = service.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data = {k: v for k, v in data.items() if not k.startswith("x-") and k not in _CLEARED}
    if service.label_file:  # not printed by `config` (excluded from dumps), hashed by `up`
        data["label_file"] = list(service.label_file)
    # Go never omits these two (ShellCommand has no omitempty).
    data.setdefault("command", None)
    data.setdefault("entrypoint", None)
    if isinstance(data.get("deploy"), dict):
        data["deploy"] = {k: v for k, v in data["deploy"].items() if k != "replicas"}
    ordered = _go_order(_go_floats(data), "")
    return hashlib.sha256(_go_json(ordered).encode()).hexdigest()
