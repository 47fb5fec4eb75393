"""Docker-side container, network and volume operations, each one small call to the engine.

Everything composewatch creates carries compose's labels, so `docker compose ps/down` see it.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types

from composewatch.compose.model import LoadedProject
from composewatch.confighash import network_hash, volume_hash
from composewatch.core.inplace import Copy
from composewatch.core.ownership import Owner
from composewatch.core.plan import LEFTOVER_SUFFIX
from composewatch.engine import procroot
from composewatch.engine.archive import copy_tar, deleted, parse_owner
from composewatch.engine.context import DEFAULT_HOST, Endpoint, load_endpoint, open_client
from composewatch.engine.parse import (
    ContainerInfo,
    parse_name,
    parse_published_url,
    parse_status,
    parse_summary,
)
from composewatch.engine.project import connect_endpoint, exec_output
from composewatch.engine.synccopy import container_owner, sync_archive
from composewatch.errors import EngineError, EngineUnavailable
from composewatch.health import ContainerStatus
from composewatch.neighbours import (
    Neighbour,
    can_refresh,
    forget_neighbours,
    refresh_neighbours,
)
from composewatch.spec import (
    COMPOSE_VERSION,
    ContainerSpec,
    Peer,
    network_name,
    volume_name,
)

__all__ = ["ContainerInfo", "Engine"]

_L = "com.docker.compose."
_SIGTERM_BIT = 1 << (15 - 1)  # SigCgt is a mask where signal n is bit n-1
_SIGNAL_FORWARDERS = frozenset({"docker-init", "tini", "tini-static"})


def _failed(action: str, err: Exception) -> EngineError:
    explanation = getattr(err, "explanation", None) or str(err)
    return EngineError(f"{action} failed: {explanation}")


class Engine:
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

    # --- reading ---------------------------------------------------------------------

    def observe(self, project_name: str) -> list[ContainerInfo]:
        """The project's service containers (not one-offs)."""
        filters = {"label": [f"{_L}project={project_name}", f"{_L}oneoff=False"]}
        summaries = self._api.containers(all=True, filters=filters)
        return [parse_summary(s) for s in summaries]

    def peers(self, project_name: str, services: set[str]) -> dict[str, list[Peer]]:
        """The running containers of `services` under compose's names, replica 1 first (what
        `service:x` references and links resolve to)."""
        if not services:
            return {}
        found: dict[str, list[tuple[int, Peer]]] = {}
        for info in self.observe(project_name):
            if info.service in services and not info.name.endswith(LEFTOVER_SUFFIX):
                found.setdefault(info.service, []).append((info.number, Peer(info.id, info.name)))
        return {s: [p for _, p in sorted(entries)] for s, entries in found.items()}

    def image_id(self, ref: str) -> str | None:
        try:
            return str(self._api.inspect_image(ref)["Id"])  # type: ignore[no-untyped-call]
        except docker.errors.ImageNotFound:
            return None

    def status(self, cid: str) -> ContainerStatus:
        try:
            return parse_status(self._api.inspect_container(cid))
        except docker.errors.NotFound:
            return parse_status(None)

    def published_url(self, cid: str, container_port: int | None, path: str) -> str | None:
        """http://127.0.0.1:<host port><path> for a published TCP port of a running container."""
        try:
            inspect = self._api.inspect_container(cid)
        except docker.errors.APIError as err:
            raise _failed(f"inspecting container {cid[:12]}", err) from err
        # A remote engine's ports answer on its host.
        host = None if self._local else self.endpoint.probe_host
        return parse_published_url(inspect, container_port, path, host)

    def ensure_image(self, ref: str) -> str:
        """The id of image `ref`, pulled first when the engine does not have it."""
        found = self.image_id(ref)
        if found is not None:
            return found
        repository, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "")
        try:
            self._api.pull(repository, tag=tag or "latest")
        except docker.errors.APIError as err:
            raise _failed(f"pulling image {ref}", err) from err
        pulled = self.image_id(ref)
        if pulled is None:
            raise EngineError(f"pulling image {ref} gave no image")
        return pulled

    def sync_files(self, cid: str, files: dict[str, str]) -> None:
        """Copy host files into the container: {host path: container path}, owned by the
        container's user (found once per container), as compose's sync makes them."""
        owner = self._owners.get(cid)
        if owner is None:
            owner = self._owners[cid] = container_owner(self.client, cid)
        try:
            self._api.put_archive(cid, "/", sync_archive(files, owner))
        except docker.errors.APIError as err:
            raise _failed(f"copying files into {cid[:12]}", err) from err

    def update_files(self, cid: str, copies: tuple[Copy, ...]) -> None:
        """Mirror each copy's host file at its path in the container, as the Dockerfile's
        COPY would have put it there (owner, mode); a host file that is gone is deleted.
        Written directly where a local engine's container root is ours to write
        (`engine.procroot`), else through the engine's archive API."""
        if self._local:
            with contextlib.suppress(procroot.NotHere):
                self._write_directly(cid, copies)
                return
        tables: list[str] = []
        if any(c.owner is not None and not c.owner.replace(":", "").isdigit() for c in copies):
            tables = [self.read_file(cid, "/etc/passwd"), self.read_file(cid, "/etc/group")]
        passwd, group = tables or ["", ""]
        archive = copy_tar(copies, lambda spec: parse_owner(spec, passwd, group))
        gone = deleted(copies)
        try:
            if len(gone) < len(copies):
                self._api.put_archive(cid, "/", archive)
        except docker.errors.APIError as err:
            raise _failed(f"copying files into {cid[:12]}", err) from err
        if gone:
            self.exec(cid, ["rm", "-rf", "--", *gone])

    def _write_directly(self, cid: str, copies: tuple[Copy, ...]) -> None:
        try:
            state = self._api.inspect_container(cid)["State"]
        except docker.errors.APIError as err:
            raise procroot.NotHere(str(err)) from err
        pid = int(state.get("Pid") or 0) if state.get("Running") else 0
        with procroot.open_root(pid, cid) as root:
            tables = ["", ""]
            if any(c.owner is not None and not c.owner.replace(":", "").isdigit() for c in copies):
                tables = [
                    procroot.read_text(root, "/etc/passwd"),
                    procroot.read_text(root, "/etc/group"),
                ]
            passwd, group = tables
            procroot.write_copies(root, copies, lambda spec: parse_owner(spec, passwd, group))
            procroot.delete_paths(root, deleted(copies))

    def read_file(self, cid: str, path: str) -> str:
        """A small text file of the container ("" when it has none)."""
        try:
            stream, _ = self._api.get_archive(cid, path)
        except docker.errors.NotFound:
            return ""
        except docker.errors.APIError as err:
            raise _failed(f"reading {path} in {cid[:12]}", err) from err
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member is not None else None
            return extracted.read().decode(errors="replace") if extracted is not None else ""

    def exec_output(self, cid: str, command: list[str]) -> tuple[int, str]:
        """Run `command` in the container: (exit code, stdout and stderr). A command the
        container does not have exits 126 or 127 with the runtime's message as output."""
        return exec_output(self.client, cid, command)

    def exec(self, cid: str, command: list[str]) -> None:
        """Run `command` in the container; a non-zero exit is an EngineError with its output."""
        code, output = self.exec_output(cid, command)
        if code:
            raise EngineError(f"{' '.join(command)!r} exited with {code}: {output.strip()[-300:]}")

    def restart(self, cid: str, timeout_s: float) -> None:
        """Stop and start the container in one call (the engine does both, no round trip
        between); its neighbour entries are forgotten first and written once it runs again,
        as for a stop and a start."""
        forget_neighbours(self._neighbours_of(cid))
        try:
            self._api.restart(cid, timeout=math.ceil(timeout_s))
        except docker.errors.APIError as err:
            raise _failed(f"restarting container {cid[:12]}", err) from err
        if self._local and can_refresh():
            self._started[cid] = self._neighbours(cid)
            refresh_neighbours(self._started[cid])

    def ignores_sigterm(self, cid: str) -> bool:
        """True when the container's PID 1 has no SIGTERM handler, so `stop` waits the full
        timeout before SIGKILL (the kernel drops unhandled signals to a namespace's init)."""
        info = self._api.inspect_container(cid)
        if (info.get("HostConfig") or {}).get("Init"):
            return False  # docker-init forwards the signal to the app
        pid = info["State"].get("Pid") or 0
        status = self._host_proc_status(pid) if pid and self._local else None
        if status is None:  # the engine's /proc is not ours: ask inside the container
            try:
                _, status = exec_output(self.client, cid, ["cat", "/proc/1/status"])
            except EngineError:
                return False
        name = re.search(r"^Name:\s*(\S+)", status, re.M)
        # tini waits in sigtimedwait, which hides its signals from SigCgt and SigBlk.
        if name is not None and name.group(1) in _SIGNAL_FORWARDERS:
            return False
        caught = re.search(r"^SigCgt:\s*([0-9a-fA-F]+)", status, re.M)
        if caught is None:
            return False
        return not int(caught.group(1), 16) & _SIGTERM_BIT

    @staticmethod
    def _host_proc_status(pid: int) -> str | None:
        try:
            return Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None

    # --- networks and volumes ----------------------------------------------------------

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
                    raise _failed(f"creating network {name}", err) from err

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
                raise _failed(f"creating volume {name}", err) from err

    # --- containers --------------------------------------------------------------------

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
            raise _failed(f"preparing container {name}", err) from err
        return cid

    def _create(self, body: dict[str, Any], name: str, platform: str | None) -> str:
        try:
            return str(
                self._api.create_container_from_config(  # type: ignore[no-untyped-call]
                    body, name, platform
                )["Id"]
            )
        except docker.errors.APIError as err:
            raise _failed(f"creating container {name}", err) from err

    def start(self, cid: str) -> None:
        try:
            self._api.start(cid)
        except docker.errors.APIError as err:
            raise _failed(f"starting container {cid[:12]}", err) from err
        if self._local and can_refresh():
            self._started[cid] = self._neighbours(cid)
            refresh_neighbours(self._started[cid])

    def _neighbours_of(self, cid: str) -> list[Neighbour]:
        """The entries to forget when `cid` stops: known since we started it, else read now."""
        if not (self._local and can_refresh()):
            return []
        known = self._started.pop(cid, None)
        return known if known is not None else self._neighbours(cid)

    def _neighbours(self, cid: str) -> list[Neighbour]:
        """The container's address on each bridge network, with the bridge's host device."""
        networks = self._api.inspect_container(cid)["NetworkSettings"].get("Networks") or {}
        found = []
        for endpoint in networks.values():
            device = self._bridge_device(endpoint.get("NetworkID") or "")
            if device and endpoint.get("IPAddress") and endpoint.get("MacAddress"):
                found.append(Neighbour(endpoint["IPAddress"], endpoint["MacAddress"], device))
        return found

    def _bridge_device(self, network_id: str) -> str | None:
        if network_id not in self._bridges:
            try:
                network = self._api.inspect_network(network_id)
            except docker.errors.APIError:
                return None
            options = network.get("Options") or {}
            device = options.get("com.docker.network.bridge.name") or f"br-{network_id[:12]}"
            self._bridges[network_id] = device if network.get("Driver") == "bridge" else None
        return self._bridges[network_id]

    def stop(self, cid: str, timeout_s: float) -> None:
        neighbours = self._neighbours_of(cid)
        try:
            self._api.stop(cid, timeout=math.ceil(timeout_s))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            raise _failed(f"stopping container {cid[:12]}", err) from err
        forget_neighbours(neighbours)

    def remove(self, cid: str) -> None:
        try:
            self._api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            if err.status_code != 409:  # 409: removal already in progress
                raise _failed(f"removing container {cid[:12]}", err) from err

    def rename(self, cid: str, name: str) -> None:
        try:
            self._api.rename(cid, name)
        except docker.errors.APIError as err:
            raise _failed(f"renaming container {cid[:12]} to {name}", err) from err

    def container_name(self, cid: str) -> str | None:
        """The container's name, None when it is gone."""
        try:
            return parse_name(self._api.inspect_container(cid))
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as err:
            raise _failed(f"inspecting container {cid[:12]}", err) from err

    def logs_tail(self, cid: str, lines: int) -> tuple[str, ...]:
        """The container's last `lines` log lines (stdout and stderr); none when it is gone."""
        try:
            raw = self._api.logs(cid, stdout=True, stderr=True, tail=lines)
        except docker.errors.APIError:
            return ()
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return tuple(line for line in text.splitlines() if line.strip())[-lines:]

    def running(self, project_name: str) -> frozenset[str]:
        """The ids of the project's running containers (raises while the engine is away)."""
        return frozenset(i.id for i in self.observe(project_name) if i.status == "running")

    def down(self, project_name: str, *, volumes: bool = False) -> None:
        """Like `docker compose down`: stop and remove the project's containers (one-offs
        too) and its networks; its volumes only with `volumes=True`."""
        label = {"label": f"{_L}project={project_name}"}
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
                raise _failed(f"removing network {net['Name']}", err) from err
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


def _resource_labels(cfg: dict[str, Any], kind: str, key: str, project: str) -> dict[str, str]:
    """Compose's labels on a network or volume, so `docker compose down` finds it and
    `docker compose up` finds it as configured (its config-hash)."""
    digest = network_hash(cfg) if kind == "network" else volume_hash(cfg)
    return {
        **(cfg.get("labels") or {}),
        _L + kind: key,
        _L + "project": project,
        _L + "version": COMPOSE_VERSION,
        _L + "config-hash": digest,
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
