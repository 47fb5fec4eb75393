"""Reading the engine: the project's containers, a container's state, name, published
port and last log lines, an image's id (pulled when missing). Part of `Engine`."""

from __future__ import annotations

import docker
import docker.errors

from composewatch.compose.model import LABEL
from composewatch.core.plan import LEFTOVER_SUFFIX
from composewatch.core.probe import ContainerStatus
from composewatch.engine.context import Endpoint
from composewatch.engine.faults import api_failed
from composewatch.engine.parse import (
    ContainerInfo,
    parse_name,
    parse_published_url,
    parse_status,
    parse_summary,
)
from composewatch.errors import EngineError
from composewatch.spec import Peer

__all__ = ["Lookups"]


class Lookups:
    _api: docker.APIClient
    endpoint: Endpoint
    _local: bool

    def observe(self, project_name: str) -> list[ContainerInfo]:
        """The project's service containers (not one-offs)."""
        filters = {"label": [f"{LABEL}project={project_name}", f"{LABEL}oneoff=False"]}
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

    def running(self, project_name: str) -> frozenset[str]:
        """The ids of the project's running containers (raises while the engine is away)."""
        return frozenset(i.id for i in self.observe(project_name) if i.status == "running")

    def image_id(self, ref: str) -> str | None:
        try:
            return str(self._api.inspect_image(ref)["Id"])  # type: ignore[no-untyped-call]
        except docker.errors.ImageNotFound:
            return None

    def ensure_image(self, ref: str) -> str:
        """The id of image `ref`, pulled first when the engine does not have it."""
        found = self.image_id(ref)
        if found is not None:
            return found
        repository, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "")
        try:
            self._api.pull(repository, tag=tag or "latest")
        except docker.errors.APIError as err:
            raise api_failed(f"pulling image {ref}", err) from err
        pulled = self.image_id(ref)
        if pulled is None:
            raise EngineError(f"pulling image {ref} gave no image")
        return pulled

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
            raise api_failed(f"inspecting container {cid[:12]}", err) from err
        # A remote engine's ports answer on its host.
        host = None if self._local else self.endpoint.probe_host
        return parse_published_url(inspect, container_port, path, host)

    def container_name(self, cid: str) -> str | None:
        """The container's name, None when it is gone."""
        try:
            return parse_name(self._api.inspect_container(cid))
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as err:
            raise api_failed(f"inspecting container {cid[:12]}", err) from err

    def logs_tail(self, cid: str, lines: int) -> tuple[str, ...]:
        """The container's last `lines` log lines (stdout and stderr); none when it is gone."""
        try:
            raw = self._api.logs(cid, stdout=True, stderr=True, tail=lines)
        except docker.errors.APIError:
            return ()
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return tuple(line for line in text.splitlines() if line.strip())[-lines:]
