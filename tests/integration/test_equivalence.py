"""composewatch creates the same containers as `docker compose up`, key for key.

Each fixture is brought up once by the real compose binary (project A) and once through
`container_spec` + `Engine` (project B), one after the other on the same host ports; then the
two sets of `docker inspect` are compared modulo project name and container id. Finally
`docker compose up -d` on B must adopt composewatch's containers as they are.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import remove_project
from cwhelpers import FIXTURES, compose, load, new_project_name

from composewatch.containers import Engine
from composewatch.spec import container_spec, startup_order

pytestmark = pytest.mark.docker


def _free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_udp_pair() -> int:
    """A port p with p and p+1 both free for UDP (for a published range)."""
    while True:
        port = _free_port(socket.SOCK_DGRAM)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue


@pytest.fixture
def client(docker_client: docker.DockerClient) -> docker.DockerClient:
    """The shared engine client (conftest: skips locally, fails in CI without an engine)."""
    return docker_client


def _normalize(value: Any, project: str, ids: list[str]) -> Any:
    if isinstance(value, str):
        for cid in ids:
            value = value.replace(cid[:12], "<ID>")
        return value.replace(project, "<P>")
    if isinstance(value, list):
        return [_normalize(v, project, ids) for v in value]
    if isinstance(value, dict):
        return {_normalize(k, project, ids): _normalize(v, project, ids) for k, v in value.items()}
    return value


def _view(client: docker.DockerClient, project: str) -> dict[str, Any]:
    """The compared part of `docker inspect` of each of the project's containers."""
    summaries = client.api.containers(all=True, filters={"label": f"{_LABEL}={project}"})
    ids = [s["Id"] for s in summaries]
    out: dict[str, Any] = {}
    for cid in ids:
        i = client.api.inspect_container(cid)
        cfg, host = i["Config"], i["HostConfig"]
        view = {
            "Name": i["Name"],
            "Env": sorted(cfg["Env"] or []),
            **{k: cfg.get(k) for k in _CONFIG_KEYS},
            **{k: host.get(k) for k in _HOST_KEYS},
            "Binds": sorted(host.get("Binds") or []),
            "HostMounts": sorted(host.get("Mounts") or [], key=lambda m: m["Target"]),
            "ExtraHosts": sorted(host.get("ExtraHosts") or []),  # compose's order is random
            "Ulimits": sorted(host.get("Ulimits") or [], key=lambda u: u["Name"]),
            "Mounts": sorted(
                (
                    {k: v for k, v in m.items() if k != "Source" or m["Type"] != "volume"}
                    for m in i["Mounts"]
                ),
                key=lambda m: m["Destination"],
            ),
            "Networks": {
                net: sorted(a for a in (ep.get("Aliases") or []) if a != cid[:12])
                for net, ep in i["NetworkSettings"]["Networks"].items()
            },
            "Labels": {k: v for k, v in cfg["Labels"].items() if k != _REPLACE},
        }
        out[cfg["Labels"]["com.docker.compose.service"]] = _normalize(view, project, ids)
    return out


_LABEL = "com.docker.compose.project"
_REPLACE = "com.docker.compose.replace"
_CONFIG_KEYS = [
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Healthcheck",
    "StopSignal",
    "StopTimeout",
    "Hostname",
    "Domainname",
    "Tty",
    "OpenStdin",
    "Image",
]
_HOST_KEYS = [
    "PortBindings",
    "RestartPolicy",
    "Init",
    "CapAdd",
    "CapDrop",
    "Privileged",
    "ShmSize",
    "Dns",
    "NetworkMode",
    "Memory",
    "NanoCpus",
    "PidsLimit",
    "Tmpfs",
]


def _up_with_composewatch(
    engine: Engine, project: str, files: list[Path], env: dict[str, str]
) -> None:
    loaded = load(project, files, env)
    engine.ensure_networks(loaded)
    engine.ensure_volumes(loaded)
    for layer in startup_order(loaded.project):
        for name in layer:
            image = loaded.project.services[name].image
            assert image is not None
            spec = container_spec(loaded, name, image, image_id=engine.image_id(image))
            engine.start(engine.create(spec))


@pytest.mark.parametrize("fixture", ["equivalence-many", "equivalence-net"])
def test_composewatch_creates_what_compose_creates(
    client: docker.DockerClient, fixture: str
) -> None:
    files = [FIXTURES / fixture / "compose.yaml"]
    p1, p2 = _free_port(), _free_udp_pair()
    unique = new_project_name("eq")
    env = {
        "CW_PORT_BASE": str(p1),
        "CW_PORT_BASE2": str(p2),
        "CW_PORT_BASE3": str(p2 + 1),
        "CW_CACHE_NAME": f"{unique}-cache",
        "CW_BACK_NAME": f"{unique}-back",
    }
    a, b = new_project_name("eqa"), new_project_name("eqb")
    engine = Engine(client)
    try:
        compose(a, files, "up", "-d", env=env)
        by_compose = _view(client, a)
        compose(a, files, "down", "-v", env=env)

        _up_with_composewatch(engine, b, files, env)
        by_composewatch = _view(client, b)
        assert by_composewatch.keys() == by_compose.keys()
        for service, expected in by_compose.items():
            assert by_composewatch[service] == expected, service

        ids = {c["Id"] for c in client.api.containers(all=True, filters={"label": f"{_LABEL}={b}"})}
        ps = compose(b, files, "ps", "--format", "json", env=env)
        assert len([line for line in ps.splitlines() if line.strip()]) == len(ids)
        # compose adopts composewatch's containers: same hash, same image, nothing recreated
        compose(b, files, "up", "-d", env=env)
        after = {
            c["Id"] for c in client.api.containers(all=True, filters={"label": f"{_LABEL}={b}"})
        }
        assert after == ids
    finally:
        remove_project(a)
        remove_project(b)
