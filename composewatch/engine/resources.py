"""The project's networks and volumes, created as compose creates them (its labels and
config-hash, so `docker compose` finds them as its own). Part of `Engine`."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
import docker.types

from composewatch.compose.model import LABEL, LoadedProject
from composewatch.confighash import network_hash, volume_hash
from composewatch.engine.faults import api_failed
from composewatch.errors import EngineError
from composewatch.spec import COMPOSE_VERSION, network_name, volume_name

__all__ = ["NetworksAndVolumes"]


class NetworksAndVolumes:
    _api: docker.APIClient

    def ensure_networks(self, loaded: LoadedProject) -> None:
        project = loaded.project
        for key, config in (project.networks or {}).items():
            cfg = config or {}
            name = network_name(project, key)
            if any(n["Name"] == name for n in self._api.networks(names=[name])):
                continue
            if cfg.get("external"):
                raise EngineError(f"external network {name!r} (networks.{key}) does not exist")
            ipam = cfg.get("ipam") or {}
            labels = _resource_labels(cfg, "network", key, project.name)
            try:
                self._api.create_network(
                    name,
                    driver=cfg.get("driver"),
                    options=cfg.get("driver_opts"),
                    ipam=_ipam(ipam) if ipam.get("config") or ipam.get("driver") else None,
                    internal=bool(cfg.get("internal")),
                    labels=labels,
                    enable_ipv6=bool(cfg.get("enable_ipv6")),
                    attachable=cfg.get("attachable"),
                    check_duplicate=True,
                )
            except docker.errors.APIError as err:
                if err.status_code != 409:  # created meanwhile by someone else: fine
                    raise api_failed(f"creating network {name}", err) from err

    def ensure_volumes(self, loaded: LoadedProject) -> None:
        project = loaded.project
        for key, config in (project.volumes or {}).items():
            cfg = config or {}
            name = volume_name(project, key)
            try:
                self._api.inspect_volume(name)
                continue
            except docker.errors.NotFound:
                if cfg.get("external"):
                    raise EngineError(
                        f"external volume {name!r} (volumes.{key}) does not exist"
                    ) from None
            labels = _resource_labels(cfg, "volume", key, project.name)
            try:
                self._api.create_volume(
                    name,
                    driver=cfg.get("driver"),
                    driver_opts=cfg.get("driver_opts"),
                    labels=labels,
                )
            except docker.errors.APIError as err:
                raise api_failed(f"creating volume {name}", err) from err


def _resource_labels(cfg: dict[str, Any], kind: str, key: str, project: str) -> dict[str, str]:
    """Compose's labels on a network or volume, so `docker compose down` finds it and
    `docker compose up` finds it as configured (its config-hash)."""
    digest = network_hash(cfg) if kind == "network" else volume_hash(cfg)
    return {
        **(cfg.get("labels") or {}),
        LABEL + kind: key,
        LABEL + "project": project,
        LABEL + "version": COMPOSE_VERSION,
        LABEL + "config-hash": digest,
    }


def _ipam(ipam: dict[str, Any]) -> docker.types.IPAMConfig:
    pools = [
        docker.types.IPAMPool(
            subnet=p.get("subnet"),
            iprange=p.get("ip_range"),
            gateway=p.get("gateway"),
            aux_addresses=p.get("aux_addresses"),
        )
        for p in ipam.get("config") or []
    ]
    return docker.types.IPAMConfig(driver=ipam.get("driver") or "default", pool_configs=pools)
