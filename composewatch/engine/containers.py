"""Docker-side container, network and volume operations, each one small call to the engine.

Everything composewatch creates carries compose's labels, so `docker compose ps/down` see it.
`Engine` is the containers' lifecycle (create, start, stop, restart, remove, rename, down);
its other parts each sit in their own module: reading (engine/lookups.py), files and exec
(engine/containerfiles.py), networks and volumes (engine/resources.py), the host's side of a
container (engine/hostside.py).
"""

from __future__ import annotations

import io
import math
import tarfile
import threading
import time
from typing import Any

import docker
import docker.errors
import docker.types

from composewatch.compose.model import LABEL
from composewatch.core.ownership import Owner
from composewatch.engine.containerfiles import ContainerFiles
from composewatch.engine.context import DEFAULT_HOST, Endpoint, load_endpoint, open_client
from composewatch.engine.faults import api_failed
from composewatch.engine.hostside import HostSide
from composewatch.engine.lookups import Lookups
from composewatch.engine.neighbours import (
    Neighbour,
    can_refresh,
    forget_neighbours,
    refresh_neighbours,
)
from composewatch.engine.parse import (
    ContainerInfo,
)
from composewatch.engine.project import connect_endpoint
from composewatch.engine.resources import NetworksAndVolumes
from composewatch.errors import EngineUnavailable
from composewatch.spec import (
    ContainerSpec,
)

__all__ = ["ContainerInfo", "Engine"]


class Engine(Lookups, ContainerFiles, NetworksAndVolumes, HostSide):
    def __init__(self, client: docker.DockerClient, endpoint: Endpoint | None = None) -> None:
        self.client = client
        self._api = client.api
        self.endpoint = endpoint or Endpoint(DEFAULT_HOST, "default", "default")
        # A unix socket means the engine shares this host's network namespace and /proc.
        self._local = self.endpoint.local
        self._bridges: dict[str, str | None] = {}
        self._started: dict[str, list[Neighbour]] = {}  # our containers' host ARP entries
        self._owners: dict[str, Owner] = {}  # who owns what is synced into each container

    @classmethod
    def connect(cls) -> Engine:
        """The engine the docker CLI would use (DOCKER_HOST, DOCKER_CONTEXT, the current
        context, TLS variables); an unknown context is an EngineContextError."""
        endpoint = load_endpoint()
        try:
            client = open_client(endpoint)
            client.ping()
        except Exception as err:
            raise EngineUnavailable(
                f"No Docker engine answers at {endpoint.host} (context {endpoint.context!r}, "
                f"from {endpoint.source}): {err}. composewatch needs a running Docker engine: "
                "start Docker (or dockerd), check DOCKER_HOST / `docker context ls` if you use "
                "them, and that your user may use the socket (e.g. /var/run/docker.sock)."
            ) from err
        return cls(client, endpoint)

    def create(self, spec: ContainerSpec, *, temp_name: str | None = None) -> str:
        """Create (not start) the container, attach its other networks (as compose does on
        engines older than API 1.44) and write its injected secrets/configs."""
        name = temp_name or spec.name
        cid = self._create(spec.create_body(), name, spec.platform)
        if spec.image_id and self._api.inspect_container(cid)["Image"] != spec.image_id:
            # The name was re-tagged since the caller chose the image: run that image by id.
            self._api.remove_container(cid, force=True)
            cid = self._create({**spec.create_body(), "Image": spec.image_id}, name, spec.platform)
        try:
            for net, endpoint in spec.extra_networks:
                connect_endpoint(self.client, cid, net, endpoint)
            if spec.files:
                self._api.put_archive(cid, "/", _files_tar(spec))
        except docker.errors.APIError as err:
            self._api.remove_container(cid, force=True)
            raise api_failed(f"preparing container {name}", err) from err
        return cid

    def _create(self, body: dict[str, Any], name: str, platform: str | None) -> str:
        try:
            return str(
                self._api.create_container_from_config(  # type: ignore[no-untyped-call]
                    body, name, platform
                )["Id"]
            )
        except docker.errors.APIError as err:
            raise api_failed(f"creating container {name}", err) from err

    def start(self, cid: str) -> None:
        try:
            self._api.start(cid)
        except docker.errors.APIError as err:
            raise api_failed(f"starting container {cid[:12]}", err) from err
        if self._local and can_refresh():
            self._started[cid] = self._neighbours(cid)
            refresh_neighbours(self._started[cid])

    def restart(self, cid: str, timeout_s: float) -> None:
        """Stop and start the container in one call (the engine does both, no round trip
        between); its neighbour entries are forgotten first and written once it runs again,
        as for a stop and a start."""
        forget_neighbours(self._neighbours_of(cid))
        try:
            self._api.restart(cid, timeout=math.ceil(timeout_s))
        except docker.errors.APIError as err:
            raise api_failed(f"restarting container {cid[:12]}", err) from err
        if self._local and can_refresh():
            self._started[cid] = self._neighbours(cid)
            refresh_neighbours(self._started[cid])

    def stop(self, cid: str, timeout_s: float) -> None:
        neighbours = self._neighbours_of(cid)
        try:
            self._api.stop(cid, timeout=math.ceil(timeout_s))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            raise api_failed(f"stopping container {cid[:12]}", err) from err
        forget_neighbours(neighbours)

    def remove(self, cid: str) -> None:
        try:
            self._api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            if err.status_code != 409:  # 409: removal already in progress
                raise api_failed(f"removing container {cid[:12]}", err) from err

    def rename(self, cid: str, name: str) -> None:
        try:
            self._api.rename(cid, name)
        except docker.errors.APIError as err:
            raise api_failed(f"renaming container {cid[:12]} to {name}", err) from err

    def down(self, project_name: str, *, volumes: bool = False) -> None:
        """Like `docker compose down`: stop and remove the project's containers (one-offs
        too) and its networks; its volumes only with `volumes=True`."""
        label = {"label": f"{LABEL}project={project_name}"}
        summaries = self._api.containers(all=True, filters=label)
        threads = [threading.Thread(target=self._stop_remove, args=(s["Id"],)) for s in summaries]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for net in self._api.networks(filters=label):
            try:
                self._api.remove_network(net["Id"])
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as err:
                raise api_failed(f"removing network {net['Name']}", err) from err
        if volumes:
            for vol in self._api.volumes(filters=label).get("Volumes") or []:
                self._api.remove_volume(vol["Name"], force=True)

    def _stop_remove(self, cid: str) -> None:
        # The container's own StopTimeout (stop_grace_period) is honoured; without one, a PID 1
        # that ignores SIGTERM is killed at once rather than after the engine's 10 s.
        try:
            explicit = self._api.inspect_container(cid)["Config"].get("StopTimeout") is not None
            if explicit or not self.ignores_sigterm(cid):
                self._api.stop(cid)
            else:
                self._api.stop(cid, timeout=0)
        except docker.errors.NotFound:
            return
        self.remove(cid)


def _files_tar(spec: ContainerSpec) -> bytes:
    """The injected files as one tar to extract at / (compose's createTar, per file)."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for file in spec.files:
            info = tarfile.TarInfo(file.target.lstrip("/"))
            info.size, info.mode, info.uid, info.gid = (
                len(file.content),
                file.mode,
                file.uid,
                file.gid,
            )
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(file.content))
    return archive.getvalue()
