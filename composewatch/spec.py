"""What the Engine API's container-create takes for a service, as Docker Compose v2.40 builds it.

Pure: no Docker import. The engine here speaks API 1.41, so (as compose does below 1.44) the
first network goes into the create call and the others are connected before start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from composewatch.compose.model import LABEL, LoadedProject, Project, Service
from composewatch.compose.units import parse_duration
from composewatch.confighash import service_hash
from composewatch.core.scale import replica_count
from composewatch.errors import EngineError
from composewatch.spec_files import InjectedFile, injected_files
from composewatch.spec_host import host_config, port_key
from composewatch.spec_project import startup_order, unsupported_keys
from composewatch.spec_volumes import volume_name

__all__ = [
    "COMPOSE_VERSION",
    "ContainerSpec",
    "InjectedFile",
    "Peer",
    "Peers",
    "config_hash",
    "container_name",
    "container_spec",
    "image_name",
    "network_name",
    "replica_count",
    "startup_order",
    "unsupported_keys",
    "volume_name",
]

COMPOSE_VERSION = "2.40.3"  # written in com.docker.compose.version, as the compose we mimic


_SERVICE_PREFIX = "service:"


@dataclass(frozen=True)
class Peer:
    """A container of another service, as `service:<x>` references and links need it."""

    id: str
    name: str


Peers = Mapping[str, Sequence[Peer]]  # service -> its containers, replica 1 first


@dataclass(frozen=True)
class ContainerSpec:
    service: str
    number: int
    name: str
    image: str  # Config.Image: the name compose creates with
    config: dict[str, Any]  # the create body without HostConfig/NetworkingConfig
    host_config: dict[str, Any]
    networking_config: dict[str, Any]  # {"EndpointsConfig": {network: endpoint}} or {}
    extra_networks: tuple[tuple[str, dict[str, Any]], ...]  # (network, endpoint) after create
    config_hash: str
    image_id: str | None = None  # the image the container must run (sha256:...)
    platform: str | None = None  # the create call's `platform`, as compose passes it
    files: tuple[InjectedFile, ...] = ()  # written into the container before it starts

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
            LABEL + "project": project.name,
            LABEL + "service": name,
            LABEL + "version": COMPOSE_VERSION,
            LABEL + "project.working_dir": loaded.working_dir,
            LABEL + "project.config_files": ",".join(loaded.config_files),
            LABEL + "oneoff": "False",
            LABEL + "config-hash": config_hash(service),
            LABEL + "container-number": str(number),
            LABEL + "depends_on": deps,
        }
    )
    if loaded.env_files:  # --env-file, as compose labels it (absolute paths, comma-joined)
        labels[LABEL + "project.environment_file"] = ",".join(loaded.env_files)
    if image_id:
        labels[LABEL + "image"] = image_id
    return labels


def _env(service: Service) -> list[str]:
    return [k if v is None else f"{k}={v}" for k, v in (service.environment or {}).items()]


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
    exposed.update({port_key(p): {} for p in service.ports or []})
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


def _links(project: Project, service: Service, number: int, peers: Peers) -> list[str]:
    """Compose's getLinks (which mirrors compose v1): each container of a linked service
    under the link name and two numbered names, then the external links."""
    links = []
    for raw in getattr(service, "links", None) or []:
        target, _, alias = raw.partition(":")
        for peer in peers.get(target, ()):
            links += [
                f"{peer.name}:{alias or target}",
                f"{peer.name}:{target}-{number}",
                f"{peer.name}:{project.name}-{target}-{number}",
            ]
    for raw in getattr(service, "external_links", None) or []:
        target, _, alias = raw.partition(":")
        links.append(f"{target}:{alias or target}")
    return links


# --- networks --------------------------------------------------------------------------


def _endpoint(
    project: Project, name: str, number: int, key: str, links: list[str]
) -> dict[str, Any]:
    service = project.services[name]
    config = (service.networks or {}).get(key)
    aliases = [container_name(project, name, number), name, *((config and config.aliases) or [])]
    endpoint: dict[str, Any] = {"Aliases": aliases}
    if links:
        endpoint["Links"] = links
    if config is not None:
        extra = config.model_extra or {}
        ipam: dict[str, Any] = {}
        if config.ipv4_address:
            ipam["IPv4Address"] = config.ipv4_address
        if config.ipv6_address:
            ipam["IPv6Address"] = config.ipv6_address
        if extra.get("link_local_ips"):
            ipam["LinkLocalIPs"] = list(extra["link_local_ips"])
        endpoint["IPAMConfig"] = ipam
        if extra.get("driver_opts"):
            endpoint["DriverOpts"] = dict(extra["driver_opts"])
    return endpoint


def _mac_address(service: Service, keys: list[str]) -> str:
    """Config.MacAddress below API 1.44: the service's, else the primary network's."""
    own = str((service.model_extra or {}).get("mac_address") or "")
    primary = (service.networks or {}).get(keys[0]) if keys else None
    on_network = str((primary.model_extra or {}).get("mac_address") or "") if primary else ""
    return own or on_network


def _networking(
    project: Project, name: str, number: int, links: list[str]
) -> tuple[str, dict[str, Any], tuple[tuple[str, dict[str, Any]], ...]]:
    service = project.services[name]
    if service.network_mode:
        return service.network_mode, {}, ()
    if not project.networks:
        return "none", {}, ()
    keys = service.networks_by_priority() or ["default"]
    primary = network_name(project, keys[0])
    endpoints = {primary: _endpoint(project, name, number, keys[0], links)}
    extra = tuple(
        (network_name(project, k), _endpoint(project, name, number, k, links)) for k in keys[1:]
    )
    return primary, {"EndpointsConfig": endpoints}, extra


# --- references to other services ------------------------------------------------------


def referenced_services(service: Service) -> set[str]:
    """The other services whose containers this one's spec names (`service:x` namespaces,
    `volumes_from`, `links`): the peers `container_spec` needs."""
    extra = service.model_extra or {}
    found = set()
    for mode in (service.network_mode, extra.get("ipc"), extra.get("pid")):
        if isinstance(mode, str) and mode.startswith(_SERVICE_PREFIX):
            found.add(mode[len(_SERVICE_PREFIX) :])
    for entry in extra.get("volumes_from") or []:
        head = str(entry).partition(":")[0]
        if head != "container":
            found.add(head)
    for raw in getattr(service, "links", None) or []:
        found.add(str(raw).partition(":")[0])
    return found


def _shared(mode: str | None, peers: Peers, what: str) -> str | None:
    if not mode or not mode.startswith(_SERVICE_PREFIX):
        return mode
    target = mode[len(_SERVICE_PREFIX) :]
    found = peers.get(target)
    if not found:
        raise EngineError(f"cannot share {what} namespace with service {target}: container missing")
    return f"container:{found[0].id}"


def _resolved(service: Service, peers: Peers) -> Service:
    """`service` with its references to other services replaced by container ids, as
    compose's resolveServiceReferences does before hashing and creating."""
    update: dict[str, Any] = {}
    extra = service.model_extra or {}
    mode = _shared(service.network_mode, peers, "network")
    if mode != service.network_mode:
        update["network_mode"] = mode
    for key, what in (("ipc", "IPC"), ("pid", "PID")):
        value = _shared(extra.get(key), peers, what)
        if value != extra.get(key):
            update[key] = value
    if extra.get("volumes_from"):
        volumes_from = []
        for entry in extra["volumes_from"]:
            head, _, rest = entry.partition(":")
            if head == "container":
                volumes_from.append(rest.partition(":")[0])
                continue
            found = peers.get(head)
            if not found:
                raise EngineError(f"cannot share volume with service {head}: container missing")
            volumes_from.append(found[0].id)
        update["volumes_from"] = volumes_from
    return service.model_copy(update=update) if update else service


def container_spec(
    loaded: LoadedProject,
    service_name: str,
    image: str,
    number: int = 1,
    *,
    image_id: str | None = None,
    peers: Peers | None = None,
) -> ContainerSpec:
    """The container compose would create for `service_name`, running `image`.

    `image` is an image id (sha256:...) or a reference. Config.Image is the name compose uses
    (`image:` or `<project>-<service>`), so `docker compose ps` shows it; the id goes into
    com.docker.compose.image. `peers` are the containers of other services, first replica
    first, for `network_mode/ipc/pid: service:<x>`, `volumes_from` and `links`."""
    project = loaded.project
    if service_name not in project.services:
        raise KeyError(service_name)
    if image.startswith("sha256:"):
        image_id = image_id or image
        image = image_name(project, service_name)
    peers = peers or {}
    service = _resolved(project.services[service_name], peers)
    resolved = loaded.model_copy(
        update={
            "project": project.model_copy(
                update={"services": {**project.services, service_name: service}}
            )
        }
    )
    links = _links(project, service, number, peers)
    mode, networking, extra = _networking(resolved.project, service_name, number, links)
    config = _config(resolved, service_name, number, image, image_id)
    keys = service.networks_by_priority() or ["default"]
    if not service.network_mode and (mac := _mac_address(service, keys)):
        config["MacAddress"] = mac
    if mode == "disabled":
        config["NetworkDisabled"] = True
    platform = (service.model_extra or {}).get("platform") or loaded.environment.get(
        "DOCKER_DEFAULT_PLATFORM"
    )
    return ContainerSpec(
        service=service_name,
        number=number,
        name=container_name(project, service_name, number),
        image=image,
        image_id=image_id,
        config=config,
        host_config=host_config(resolved, service, service_name, mode, links),
        networking_config=networking,
        extra_networks=extra,
        config_hash=config_hash(service),
        platform=platform or None,
        files=tuple(injected_files(loaded, service_name)),
    )
