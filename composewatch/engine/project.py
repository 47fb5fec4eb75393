"""A compose project's containers as `ps`, `logs`, `restart` and `stop` see them.

Compose finds a project's containers by label (`com.docker.compose.project`); so does this
module, so it works on what `docker compose up` made as well as on what composewatch made.
`parse_container` is pure and tested on recorded inspect JSON; the rest are engine calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import docker
import docker.errors

from composewatch.compose.model import LABEL
from composewatch.engine.parse import parse_multiplexed
from composewatch.errors import EngineError

__all__ = [
    "ContainerRow",
    "EngineFacts",
    "engine_facts",
    "exec_output",
    "follow_logs",
    "image_config",
    "image_created_s",
    "inspect_row",
    "list_containers",
    "missing_images",
    "parse_container",
    "parse_timestamp",
    "published_host_ports",
    "restart_containers",
    "stop_containers",
]


@dataclass(frozen=True)
class ContainerRow:
    id: str
    name: str
    service: str
    number: int
    state: str  # running, exited, created, restarting, paused, dead
    exit_code: int | None
    health: str | None  # healthy, unhealthy, starting; None without a healthcheck
    image: str
    ports: tuple[str, ...]  # "127.0.0.1:5000->5000/tcp"
    started_at: datetime | None  # when the container serving now was (re)started
    stop_timeout_s: float | None  # the container's own StopTimeout (stop_grace_period)


def parse_timestamp(text: str | None) -> datetime | None:
    """The engine's RFC 3339 nanosecond timestamps; the zero time is None."""
    if not text or text.startswith("0001-"):
        return None
    head, _, rest = text.partition(".")
    fraction = rest.rstrip("Z").split("+")[0].split("-")[0][:6] if rest else "0"
    zone = "+00:00" if text.endswith("Z") else text[len(text) - 6 :]
    return datetime.fromisoformat(f"{head}.{fraction.ljust(6, '0')}{zone}")


def parse_container(info: dict[str, Any]) -> ContainerRow:
    """Pure: one row from `docker inspect` JSON."""
    state = info.get("State") or {}
    config = info.get("Config") or {}
    labels = config.get("Labels") or {}
    ports: list[str] = []
    for container_port, bindings in sorted(
        ((info.get("NetworkSettings") or {}).get("Ports") or {}).items()
    ):
        for binding in bindings or []:
            host_ip = binding.get("HostIp") or "0.0.0.0"
            ports.append(f"{host_ip}:{binding.get('HostPort')}->{container_port}")
    health = (state.get("Health") or {}).get("Status")
    running = bool(state.get("Running"))
    stop_timeout = config.get("StopTimeout")
    return ContainerRow(
        id=str(info.get("Id", "")),
        name=str(info.get("Name", "")).lstrip("/"),
        service=labels.get(LABEL + "service", ""),
        number=int(labels.get(LABEL + "container-number") or 0),
        state=str(state.get("Status") or ("running" if running else "exited")),
        exit_code=None if running else int(state.get("ExitCode") or 0),
        health=health,
        image=str(config.get("Image", "")),
        ports=tuple(dict.fromkeys(ports)),
        started_at=parse_timestamp(state.get("StartedAt")),
        stop_timeout_s=float(stop_timeout) if stop_timeout is not None else None,
    )


def list_containers(
    client: docker.DockerClient, project: str, services: Iterable[str] = ()
) -> list[ContainerRow]:
    """The project's service containers (not one-offs), by service then number."""
    wanted = set(services)
    filters = {"label": [f"{LABEL}project={project}", f"{LABEL}oneoff=False"]}
    try:
        summaries = client.api.containers(all=True, filters=filters)
        rows = []
        for summary in summaries:
            try:
                rows.append(parse_container(client.api.inspect_container(summary["Id"])))
            except docker.errors.NotFound:
                continue  # removed meanwhile (a swap finished)
    except docker.errors.APIError as err:
        raise EngineError(f"listing the containers of {project} failed: {err}") from err
    rows = [r for r in rows if not wanted or r.service in wanted]
    return sorted(rows, key=lambda r: (r.service, r.number, r.name))


def restart_containers(
    client: docker.DockerClient, rows: Iterable[ContainerRow], timeout_s: float
) -> None:
    for row in rows:
        try:
            client.api.restart(row.id, timeout=int(row.stop_timeout_s or timeout_s))
        except docker.errors.APIError as err:
            raise EngineError(f"restarting {row.name} failed: {err}") from err


def stop_containers(
    client: docker.DockerClient,
    rows: Iterable[ContainerRow],
    timeout_for: Callable[[ContainerRow], float],
) -> None:
    """Stop in parallel (as compose does), each with its own timeout."""
    errors: list[str] = []

    def stop(row: ContainerRow) -> None:
        try:
            client.api.stop(row.id, timeout=int(timeout_for(row)))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            errors.append(f"stopping {row.name} failed: {err}")

    threads = [threading.Thread(target=stop, args=(row,)) for row in rows if row.state == "running"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise EngineError("; ".join(errors))


def follow_logs(
    client: docker.DockerClient,
    row: ContainerRow,
    *,
    follow: bool,
    tail: int | None,
    since: datetime | None = None,
) -> Iterator[str]:
    """The container's output lines (stdout and stderr), decoded, without their newline."""
    kwargs: dict[str, Any] = {
        "stream": True,
        "follow": follow,
        "tail": "all" if tail is None else tail,
    }
    if since is not None:
        kwargs["since"] = since
    try:
        chunks = client.api.logs(row.id, **kwargs)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as err:
        raise EngineError(f"reading the logs of {row.name} failed: {err}") from err
    pending = b""
    try:
        for chunk in chunks:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace").rstrip("\r")
    except (docker.errors.DockerException, OSError):
        pass  # the container (or the connection) went away while we read it
    if pending:
        yield pending.decode(errors="replace").rstrip("\r")


def project_events(client: docker.DockerClient, project: str) -> Iterator[tuple[str, str]]:
    """(action, container id) for the project's containers as they start and die."""
    filters = {"type": "container", "label": f"{LABEL}project={project}", "event": ["start"]}
    try:
        for event in client.api.events(filters=filters, decode=True):
            yield str(event.get("Action") or event.get("status")), str(event.get("id"))
    except (docker.errors.DockerException, OSError) as err:  # requests' errors are OSErrors
        raise EngineError(f"following the engine's events failed: {err}") from err


def exec_output(client: docker.DockerClient, cid: str, argv: list[str]) -> tuple[int, str]:
    """Run `argv` in the container: (exit code, stdout and stderr together).

    Not docker-py's `exec_start`: it upgrades the connection and reads the output from the
    raw socket, past what its HTTP parser has already buffered, so over TCP a short
    command's output, arriving with the response headers, is lost. Started without
    `Upgrade`, the engine answers 200 and streams the output until the command ends: it is
    read through the response, as any body.

    The engine sets the exit code as the stream ends; a command still running once its
    output ended (a transport that cut the stream short) is an error saying so, never the
    "exit 0" its missing code would read as."""
    api = client.api
    failed = f"running {argv[0]!r} in {cid[:12]} failed"
    try:
        exec_id = api.exec_create(cid, argv)["Id"]
        start = f"{api.base_url}/v{api.api_version}/exec/{exec_id}/start"
        with api.post(start, json={"Detach": False, "Tty": False}, stream=True) as response:
            if response.status_code >= 400:
                raise EngineError(f"{failed}: {response.text.strip()}")
            output = parse_multiplexed(response.raw.read())
        code = _exit_code(api, exec_id)
    except docker.errors.APIError as err:
        raise EngineError(f"{failed}: {err}") from err
    if code is None:
        said = f" (its output so far: {output.strip()[-200:]!r})" if output.strip() else ""
        raise EngineError(
            f"{failed}: its output ended while it was still running, so its answer is "
            f"unknown{said}; the connection to the engine cut the stream short"
        )
    return code, output


def _exit_code(api: docker.APIClient, exec_id: str, wait_s: float = 1.0) -> int | None:
    """The exec's exit code; None when it still runs after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def connect_endpoint(
    client: docker.DockerClient, cid: str, network: str, endpoint: dict[str, Any]
) -> None:
    """Connect the container to `network` with the endpoint settings as given, as compose
    sends them: docker-py's `connect_container_to_network` drops an empty `IPAMConfig`,
    which the engine then keeps as null where compose's container has `{}`."""
    api = client.api
    url = f"{api.base_url}/v{api.api_version}/networks/{quote(network, safe='')}/connect"
    response = api.post(url, json={"Container": cid, "EndpointConfig": endpoint})
    if response.status_code >= 400:
        raise docker.errors.APIError(response.text.strip(), response=response)


def inspect_row(client: docker.DockerClient, cid: str) -> ContainerRow | None:
    """One container's row; None when it is gone."""
    try:
        return parse_container(client.api.inspect_container(cid))
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as err:
        raise EngineError(f"inspecting container {cid[:12]} failed: {err}") from err


@dataclass(frozen=True)
class EngineFacts:
    version: str
    api_version: str


def engine_facts(client: docker.DockerClient) -> EngineFacts:
    try:
        version = client.version()
    except docker.errors.DockerException as err:
        raise EngineError(str(err)) from err
    return EngineFacts(str(version["Version"]), str(version["ApiVersion"]))


def image_config(client: docker.DockerClient, ref: str) -> dict[str, Any] | None:
    """An image's Config (Healthcheck, Cmd...); None when the engine does not have it."""
    try:
        config = client.api.inspect_image(ref).get("Config")  # type: ignore[no-untyped-call]
    except docker.errors.APIError:
        return None
    return dict(config) if isinstance(config, dict) else None


def image_created_s(client: docker.DockerClient, ref: str) -> float | None:
    """When an image was made (seconds since the epoch); None when the engine lacks it."""
    try:
        created = client.api.inspect_image(ref).get("Created")  # type: ignore[no-untyped-call]
    except docker.errors.APIError:
        return None
    stamp = parse_timestamp(created if isinstance(created, str) else None)
    return stamp.timestamp() if stamp is not None else None


def missing_images(client: docker.DockerClient, refs: Iterable[str]) -> list[str]:
    missing = []
    for ref in refs:
        try:
            client.api.inspect_image(ref)  # type: ignore[no-untyped-call]
        except docker.errors.ImageNotFound:
            missing.append(ref)
        except docker.errors.APIError:
            continue
    return missing


def published_host_ports(client: docker.DockerClient, project: str) -> set[int]:
    """The host ports the project's running containers publish."""
    found: set[int] = set()
    for summary in client.api.containers(filters={"label": f"{LABEL}project={project}"}):
        for port in summary.get("Ports") or []:
            if port.get("PublicPort"):
                found.add(int(port["PublicPort"]))
    return found
