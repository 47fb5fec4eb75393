"""What the Engine API's container-create takes for a service, as Docker Compose v2.40 builds it.

Pure: no Docker import. The engine here speaks API 1.41, so (as compose does below 1.44) the
first network goes into the create call and the others are connected before start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from composewatch.compose.model import LoadedProject, PortConfig, Project, Service
from composewatch.compose.units import parse_duration
from composewatch.confighash import service_hash
from composewatch.spec_project import startup_order, unsupported_keys
from composewatch.spec_volumes import byte_count, volume_binds_and_mounts, volume_name

__all__ = [
    "COMPOSE_VERSION",
    "ContainerSpec",
    "config_hash",
    "container_name",
    "container_spec",
    "image_name",
    "network_name",
    "startup_order",
    "unsupported_keys",
    "volume_name",
]

COMPOSE_VERSION = "2.40.3"  # written in com.docker.compose.version, as the compose we mimic
_L = "com.docker.compose."


@dataclass(frozen=True)
class ContainerSpec:
    service: str
    number: int
    name: str
    image: str
    config: dict[str, Any]  # the create body without HostConfig/NetworkingConfig
    host_config: dict[str, Any]
    networking_config: dict[str, Any]  # {"EndpointsConfig": {network: endpoint}} or {}
    extra_networks: tuple[tuple[str, dict[str, Any]], ...]  # (network, endpoint) after create
    config_hash: str

    def create_body(self) -> dict[str, Any]:
        body = dict(self.config)
        body["HostConfig"] = self.host_config
        if self.networking_config:
            body["NetworkingConfig"] = self.networking_config
        return body


def config_hash(service: Service) -> str:
    """com.docker.compose.config-hash, identical to what compose writes (see confighash)."""
    return service_hash(service)


def image_name(project: Project, service_name: str) -> str:
    service = project.services[service_name]
    return service.image or f"{project.name}-{service_name}"


def container_name(project: Project, service_name: str, number: int = 1) -> str:
    service = project.services[service_name]
    return service.container_name or f"{project.name}-{service_name}-{number}"


def network_name(project: Project, key: str) -> str:
    config = (project.networks or {}).get(key) or {}
    return str(config.get("name") or f"{project.name}_{key}")


# --- config -----------------------------------------------------------------------------


def _labels(loaded: LoadedProject, name: str, number: int, image_id: str | None) -> dict[str, str]:
    project = loaded.project
    service = project.services[name]
    deps = ",".join(
        f"{dep}:{d.condition}:{str(bool(d.restart)).lower()}"
        for dep, d in (service.depends_on or {}).items()
    )
    labels = dict(service.labels or {})
    # Compose's own labels win over the service's, as in compose's mergeLabels.
    labels.update(
        {
            _L + "project": project.name,
            _L + "service": name,
            _L + "version": COMPOSE_VERSION,
            _L + "project.working_dir": loaded.working_dir,
            _L + "project.config_files": ",".join(loaded.config_files),
            _L + "oneoff": "False",
            _L + "config-hash": config_hash(service),
            _L + "container-number": str(number),
            _L + "depends_on": deps,
        }
    )
    if image_id:
        labels[_L + "image"] = image_id
    return labels


def _env(service: Service) -> list[str]:
    return [k if v is None else f"{k}={v}" for k, v in (service.environment or {}).items()]


def _port_key(port: PortConfig) -> str:
    return f"{port.target}/{port.protocol or 'tcp'}"


def _healthcheck(service: Service) -> dict[str, Any] | None:
    check = service.healthcheck
    if check is None:
        return None
    out: dict[str, Any] = {"Test": ["NONE"] if check.disable else list(check.test or [])}
    for key, value in (
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
    ):
        if value:
            out[key] = parse_duration(value)
    if check.retries:
        out["Retries"] = check.retries
    return out


def _config(
    loaded: LoadedProject, name: str, number: int, image: str, image_id: str | None
) -> dict[str, Any]:
    service = loaded.project.services[name]
    exposed: dict[str, dict[str, Any]] = {p: {} for p in service.expose or []}
    exposed.update({_port_key(p): {} for p in service.ports or []})
    config: dict[str, Any] = {
        "Hostname": service.hostname or "",
        "Domainname": service.domainname or "",
        "User": service.user or "",
        "ExposedPorts": exposed,
        "Tty": bool(service.tty),
        "OpenStdin": bool(service.stdin_open),
        "StdinOnce": False,
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "Cmd": service.command,
        "Image": image,
        "WorkingDir": service.working_dir or "",
        "Entrypoint": service.entrypoint,
        "Labels": _labels(loaded, name, number, image_id),
        "Env": _env(service),
    }
    if service.stop_signal:
        config["StopSignal"] = service.stop_signal
    if service.stop_grace_period:
        config["StopTimeout"] = parse_duration(service.stop_grace_period) // 10**9
    if (health := _healthcheck(service)) is not None:
        config["Healthcheck"] = health
    return config


# --- host config --------------------------------------------------------------------------


def _restart_policy(service: Service) -> dict[str, Any]:
    names = {"none": "no", "no": "no", "any": "always", "always": "always"}
    name, retries = "", 0
    if service.restart:
        head, _, count = service.restart.partition(":")
        name, retries = names.get(head, head), int(count or 0)
    policy = (service.deploy or {}).get("restart_policy")
    if policy:
        name = names.get(policy.get("condition", ""), policy.get("condition", ""))
        retries = int(policy.get("max_attempts") or 0)
    return {"Name": name, "MaximumRetryCount": retries}


def _resources(service: Service) -> dict[str, Any]:
    limits = ((service.deploy or {}).get("resources") or {}).get("limits") or {}
    out: dict[str, Any] = {}
    if memory := byte_count(limits.get("memory")):
        out["Memory"] = memory
    if cpus := float(limits.get("cpus") or 0):
        out["NanoCpus"] = int(cpus * 1e9)
    if (pids := int(limits.get("pids") or 0)) > 0:
        out["PidsLimit"] = pids
    return out


def _ulimits(service: Service) -> list[dict[str, Any]]:
    out = []
    for name, limit in sorted((service.ulimits or {}).items()):
        if isinstance(limit, int):  # `nproc: 512` sets soft and hard alike
            out.append({"Name": name, "Soft": limit, "Hard": limit})
            continue
        single = limit.single or 0
        out.append({"Name": name, "Soft": limit.soft or single, "Hard": limit.hard or single})
    return out


def _caps(caps: list[str] | None) -> list[str] | None:
    # Docker's Go client (which compose uses) normalizes names to CAP_X before sending.
    if caps is None:
        return None
    return [
        c.upper()
        if c.upper() in ("ALL", "") or c.upper().startswith("CAP_")
        else f"CAP_{c.upper()}"
        for c in caps
    ]


def _host_config(project: Project, service: Service, network_mode: str) -> dict[str, Any]:
    binds, mounts = volume_binds_and_mounts(project, service)
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in service.ports or []:
        bindings.setdefault(_port_key(port), []).append(
            {"HostIp": port.host_ip or "", "HostPort": port.published or ""}
        )
    host: dict[str, Any] = {
        "Binds": binds or None,
        "Mounts": mounts or None,
        "PortBindings": bindings,
        "NetworkMode": network_mode,
        "RestartPolicy": _restart_policy(service),
        "CapAdd": _caps(service.cap_add),
        "CapDrop": _caps(service.cap_drop),
        "Privileged": bool(service.privileged),
        "ShmSize": byte_count(service.shm_size),
        "Dns": service.dns,
        # The canonical form writes extra hosts as "host=ip"; the engine wants "host:ip".
        "ExtraHosts": [h.replace("=", ":", 1) for h in service.extra_hosts or []] or None,
        "Ulimits": _ulimits(service) or None,
        **_resources(service),
    }
    if service.init is not None:
        host["Init"] = service.init
    tmpfs = getattr(service, "tmpfs", None)
    if tmpfs:
        entries = [tmpfs] if isinstance(tmpfs, str) else tmpfs
        host["Tmpfs"] = dict((*t.split(":", 1), "")[:2] for t in entries)
    return host


# --- networks --------------------------------------------------------------------------


def _networks_by_priority(service: Service) -> list[str]:
    nets = service.networks or {}

    def rank(key: str) -> tuple[int, str]:
        net = nets[key]
        return (-(net.priority or 0) if net else 0, key)

    return sorted(nets, key=rank)


def _endpoint(project: Project, name: str, number: int, key: str) -> dict[str, Any]:
    service = project.services[name]
    config = (service.networks or {}).get(key)
    aliases = [container_name(project, name, number), name, *((config and config.aliases) or [])]
    endpoint: dict[str, Any] = {"Aliases": aliases}
    if config is not None:
        ipam = {}
        if config.ipv4_address:
            ipam["IPv4Address"] = config.ipv4_address
        if config.ipv6_address:
            ipam["IPv6Address"] = config.ipv6_address
        endpoint["IPAMConfig"] = ipam
    return endpoint


def _networking(
    project: Project, name: str, number: int
) -> tuple[str, dict[str, Any], tuple[tuple[str, dict[str, Any]], ...]]:
    service = project.services[name]
    if service.network_mode:
        return service.network_mode, {}, ()
    if not project.networks:
        return "none", {}, ()
    keys = _networks_by_priority(service) or ["default"]
    primary = network_name(project, keys[0])
    endpoints = {primary: _endpoint(project, name, number, keys[0])}
    extra = tuple((network_name(project, k), _endpoint(project, name, number, k)) for k in keys[1:])
    return primary, {"EndpointsConfig": endpoints}, extra


def container_spec(
    loaded: LoadedProject,
    service_name: str,
    image: str,
    number: int = 1,
    *,
    image_id: str | None = None,
) -> ContainerSpec:
    """The container compose would create for `service_name`, running `image`.

    `image_id` (sha256:...) goes into com.docker.compose.image as compose writes it; it
    defaults to `image` when that is already an id."""
    project = loaded.project
    if service_name not in project.services:
        raise KeyError(service_name)
    if image_id is None and image.startswith("sha256:"):
        image_id = image
    service = project.services[service_name]
    mode, networking, extra = _networking(project, service_name, number)
    return ContainerSpec(
        service=service_name,
        number=number,
        name=container_name(project, service_name, number),
        image=image,
        config=_config(loaded, service_name, number, image, image_id),
        host_config=_host_config(project, service, mode),
        networking_config=networking,
        extra_networks=extra,
        config_hash=config_hash(service),
    )
