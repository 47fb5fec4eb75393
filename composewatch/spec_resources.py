"""HostConfig resources as compose's getDeployResources builds them: the service-level keys
first, then `deploy.resources.limits/reservations` over them, then devices, GPUs, ulimits."""

from __future__ import annotations

from typing import Any

from composewatch.compose.model import Service
from composewatch.spec_volumes import byte_count

__all__ = ["resources"]


def _extra(service: Service, key: str) -> Any:
    """A service key the model keeps as an extra (as the loader printed it)."""
    return getattr(service, key, None)


def _number(value: Any) -> float:
    return float(value) if value not in (None, "") else 0.0


def _ulimits(service: Service) -> list[dict[str, Any]]:
    out = []
    for name, limit in sorted((service.ulimits or {}).items()):
        if isinstance(limit, int):  # `nproc: 512` sets soft and hard alike
            out.append({"Name": name, "Soft": limit, "Hard": limit})
            continue
        single = limit.single or 0
        out.append({"Name": name, "Soft": limit.soft or single, "Hard": limit.hard or single})
    return out


def _field(entry: dict[str, Any], name: str) -> Any:
    # Go marshals WeightDevice/ThrottleDevice (no json tags) with capitalised field names.
    return entry.get(name.capitalize(), entry.get(name))


def _blkio(config: dict[str, Any] | None) -> dict[str, Any]:
    if not config:
        return {}
    out: dict[str, Any] = {}
    if config.get("weight"):
        out["BlkioWeight"] = int(config["weight"])
    if config.get("weight_device"):
        out["BlkioWeightDevice"] = [
            {"Path": _field(d, "path"), "Weight": int(_field(d, "weight"))}
            for d in config["weight_device"]
        ]
    for key, field in (
        ("device_read_bps", "BlkioDeviceReadBps"),
        ("device_read_iops", "BlkioDeviceReadIOps"),
        ("device_write_bps", "BlkioDeviceWriteBps"),
        ("device_write_iops", "BlkioDeviceWriteIOps"),
    ):
        if config.get(key):
            out[field] = [
                {"Path": _field(d, "path"), "Rate": byte_count(_field(d, "rate"))}
                for d in config[key]
            ]
    return out


def _device_requests(service: Service, reservations: dict[str, Any]) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = []
    for device in reservations.get("devices") or []:
        requests.append(
            {
                "Driver": device.get("driver") or "",
                "Count": int(device.get("count") or 0),
                "DeviceIDs": device.get("device_ids"),
                "Capabilities": [list(device.get("capabilities") or [])],
                "Options": device.get("options"),
            }
        )
    cdi = [
        d["source"]
        for d in _extra(service, "devices") or []
        if d.get("source") == d.get("target") and "=" in str(d.get("source"))
    ]
    if cdi:
        requests.append({"Driver": "cdi", "DeviceIDs": cdi})
    for gpu in _extra(service, "gpus") or []:
        if not isinstance(gpu, dict):
            continue
        requests.append(
            {
                "Driver": gpu.get("driver") or "",
                "Count": int(gpu.get("count") or 0),
                "DeviceIDs": gpu.get("device_ids"),
                "Capabilities": [[*(gpu.get("capabilities") or []), "gpu"]],
                "Options": gpu.get("options"),
            }
        )
    return requests


def resources(service: Service) -> dict[str, Any]:
    """The Resources part of HostConfig (only what differs from the engine's zero values)."""
    out: dict[str, Any] = {}
    for key, field in (
        ("mem_limit", "Memory"),
        ("memswap_limit", "MemorySwap"),
        ("mem_reservation", "MemoryReservation"),
    ):
        if size := byte_count(_extra(service, key)):
            out[field] = size
    # Compose sends a swappiness only when it is not 0 (0 reads as unset).
    if swappiness := int(_number(_extra(service, "mem_swappiness"))):
        out["MemorySwappiness"] = swappiness
    if _extra(service, "oom_kill_disable"):
        out["OomKillDisable"] = True
    for key, field in (
        ("cpu_count", "CpuCount"),
        ("cpu_period", "CpuPeriod"),
        ("cpu_quota", "CpuQuota"),
        ("cpu_rt_period", "CpuRealtimePeriod"),
        ("cpu_rt_runtime", "CpuRealtimeRuntime"),
        ("cpu_shares", "CpuShares"),
    ):
        if value := int(_number(_extra(service, key))):
            out[field] = value
    if cpus := _number(_extra(service, "cpus")):
        out["NanoCpus"] = int(cpus * 1e9)
    if percent := _number(_extra(service, "cpu_percent")):
        out["CpuPercent"] = int(percent * 100)  # as compose computes it
    if cpuset := _extra(service, "cpuset"):
        out["CpusetCpus"] = cpuset
    if parent := _extra(service, "cgroup_parent"):
        out["CgroupParent"] = parent
    if rules := _extra(service, "device_cgroup_rules"):
        out["DeviceCgroupRules"] = list(rules)
    if pids := int(_number(_extra(service, "pids_limit"))):
        out["PidsLimit"] = pids
    out.update(_blkio(_extra(service, "blkio_config")))

    reservations = ((service.deploy or {}).get("resources") or {}).get("reservations") or {}
    out.update(_deploy_resources(service))
    devices = [
        {
            "PathOnHost": d["source"],
            "PathInContainer": d.get("target") or d["source"],
            "CgroupPermissions": d.get("permissions") or "",
        }
        for d in _extra(service, "devices") or []
        if not (d.get("source") == d.get("target") and "=" in str(d.get("source")))
    ]
    if devices:
        out["Devices"] = devices
    if requests := _device_requests(service, reservations):
        out["DeviceRequests"] = requests
    if ulimits := _ulimits(service):
        out["Ulimits"] = ulimits
    return out


def _deploy_resources(service: Service) -> dict[str, Any]:
    """`deploy.resources`: its limits and reservations win over the service's own keys."""
    out: dict[str, Any] = {}
    deploy = (service.deploy or {}).get("resources") or {}
    limits = deploy.get("limits") or {}
    reservations = deploy.get("reservations") or {}
    if memory := byte_count(limits.get("memory")):
        out["Memory"] = memory
    if cpus := _number(limits.get("cpus")):
        out["NanoCpus"] = int(cpus * 1e9)
    if (pids := int(_number(limits.get("pids")))) > 0:
        out["PidsLimit"] = pids
    if memory := byte_count(reservations.get("memory")):
        out["MemoryReservation"] = memory
    return out
