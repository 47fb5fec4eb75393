"""composewatch creates the same containers as `docker compose up`, key for key.

Each fixture is brought up once by the real compose binary (project A) and once through
compose's canonical form, `container_spec` and `Engine` (project B), one after the other on the
same host ports; then the two sets of `docker inspect` are compared modulo project name and
container ids, as are the files secrets and configs put in the containers and the columns of
`docker compose ps`. Finally `docker compose up -d` on B must adopt composewatch's containers
as they are.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import yaml
from conftest import remove_project
from cwhelpers import COMPOSE, FIXTURES, compose, load, new_project_name
from inspectview import differences, leaves, project_view
from standin import CASES, STANDIN_DOCKERFILE, standin_images, standin_project

from composewatch.compose.model import LoadedProject
from composewatch.engine.containers import Engine
from composewatch.spec import (
    Peer,
    container_spec,
    image_name,
    network_name,
    replica_count,
    startup_order,
)

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


def _normalize(value: Any, project: str, ids: dict[str, str]) -> Any:
    """`value` with the project name as <P> and container ids as <service>."""
    if isinstance(value, str):
        for cid, service in ids.items():
            value = value.replace(cid, f"<{service}>").replace(cid[:12], f"<{service}>")
        return value.replace(project, "<P>")
    if isinstance(value, list):
        return [_normalize(v, project, ids) for v in value]
    if isinstance(value, dict):
        return {_normalize(k, project, ids): _normalize(v, project, ids) for k, v in value.items()}
    return value


def _ids(client: docker.DockerClient, project: str) -> dict[str, str]:
    """Container id -> `<service>-<replica number>`."""
    summaries = client.api.containers(all=True, filters={"label": f"{_LABEL}={project}"})
    return {
        s["Id"]: f"{s['Labels']['com.docker.compose.service']}-"
        f"{s['Labels']['com.docker.compose.container-number']}"
        for s in summaries
    }


def _view(client: docker.DockerClient, project: str) -> dict[str, Any]:
    """The compared part of `docker inspect` of each of the project's containers."""
    ids = _ids(client, project)
    out: dict[str, Any] = {}
    for cid, service in ids.items():
        i = client.api.inspect_container(cid)
        cfg, host = i["Config"], i["HostConfig"]
        view = {
            "Name": i["Name"],
            "Env": sorted(cfg["Env"] or []),
            **{k: cfg.get(k) for k in _CONFIG_KEYS},
            **{k: host.get(k) for k in _HOST_KEYS},
            "Binds": sorted(_normalize(host.get("Binds") or [], project, ids)),
            "HostMounts": sorted(host.get("Mounts") or [], key=lambda m: m["Target"]),
            # compose's order is random; null and [] are not the same value
            "ExtraHosts": _sorted_or_null(host.get("ExtraHosts")),
            "Ulimits": sorted(host.get("Ulimits") or [], key=lambda u: u["Name"]),
            "Links": sorted(_normalize(host.get("Links") or [], project, ids)),
            "Mounts": sorted(
                (
                    {k: v for k, v in m.items() if k != "Source" or m["Type"] != "volume"}
                    for m in i["Mounts"]
                ),
                key=lambda m: m["Destination"],
            ),
            "Networks": {
                net: {
                    "Aliases": sorted(
                        _normalize(
                            [a for a in ep.get("Aliases") or [] if a != cid[:12]], project, ids
                        )
                    ),
                    "Links": sorted(_normalize(ep.get("Links") or [], project, ids)),
                    "IPAMConfig": ep.get("IPAMConfig") or None,  # {} and null alike
                    "DriverOpts": ep.get("DriverOpts"),
                }
                for net, ep in i["NetworkSettings"]["Networks"].items()
            },
            "Labels": _labels(cfg["Labels"], host),
            "Files": _files(client, cid) if i["State"]["Running"] else None,
        }
        out[service] = _normalize(view, project, ids)
    return out


def _sorted_or_null(value: list[str] | None) -> list[str] | None:
    return None if value is None else sorted(value)


def _labels(labels: dict[str, str], host: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in labels.items() if k != _REPLACE}
    out[_DEPENDS_ON] = sorted(out[_DEPENDS_ON].split(","))  # compose's order is random
    modes = [host.get(k) or "" for k in ("NetworkMode", "IpcMode", "PidMode")]
    if host.get("VolumesFrom") or any(m.startswith("container:") for m in modes):
        # The hash covers the other container's id, so it differs between A and B; the
        # final `docker compose up -d` (nothing recreated) checks it.
        out.pop(_HASH)
    return out


def _files(client: docker.DockerClient, cid: str) -> str:
    """Mode, owner, size, path and content of every secret and config in the container."""
    paths = " ".join(_FILE_PATHS)
    script = (
        f"for f in $(find {paths} -type f 2>/dev/null | sort); "
        'do stat -c "%a %u %g %s %n" "$f"; cat "$f"; done'
    )
    output = client.containers.get(cid).exec_run(["sh", "-c", script]).output
    assert isinstance(output, bytes)
    return output.decode()


def _ps(project: str, files: list[Path], env: dict[str, str]) -> dict[str, Any]:
    """The columns of `docker compose ps -a` (its table's NAME, IMAGE, COMMAND, SERVICE,
    PORTS and the state behind STATUS), per service."""
    out: dict[str, Any] = {}
    for line in compose(project, files, "ps", "-a", "--format", "json", env=env).splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        fixed = {int(v) for k, v in env.items() if k.startswith("CW_PORT_BASE")}
        for publisher in row["Publishers"]:  # an ephemeral host port differs run to run
            if publisher["PublishedPort"] and publisher["PublishedPort"] not in fixed:
                publisher["PublishedPort"] = "<ephemeral>"
        kept = _normalize({k: row[k] for k in _PS_COLUMNS}, project, {})
        # Sorted once the project's name is out of them: it decides the order otherwise.
        kept["Networks"] = sorted(kept["Networks"].split(","))
        kept["Mounts"] = sorted(kept["Mounts"].split(","))
        out[kept["Name"]] = kept
    return out


_LABEL = "com.docker.compose.project"
_REPLACE = "com.docker.compose.replace"
_DEPENDS_ON = "com.docker.compose.depends_on"
_HASH = "com.docker.compose.config-hash"
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
    "ReadonlyRootfs",
    "SecurityOpt",
    "LogConfig",
    "Devices",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "CpuShares",
    "CpuQuota",
    "CpuPeriod",
    "CpusetCpus",
    "OomScoreAdj",
    "OomKillDisable",
    "Sysctls",
    "DnsSearch",
    "DnsOptions",
    "GroupAdd",
    "IpcMode",
    "PidMode",
    "VolumesFrom",
    "MaskedPaths",
    "ReadonlyPaths",
    "Runtime",
    "CgroupnsMode",
    "DeviceCgroupRules",
    "BlkioWeight",
    "CgroupParent",
    "UTSMode",
    "UsernsMode",
]
_CONFIG_KEYS += ["MacAddress", "NetworkDisabled"]
_PS_COLUMNS = [
    "Name",
    "Image",
    "Command",
    "Service",
    "State",
    "Health",
    "ExitCode",
    "Publishers",
    "Networks",
    "Mounts",
    "LocalVolumes",
]  # and Labels, compared above; CreatedAt, RunningFor and Status hold times
_FILE_PATHS = ["/run/secrets", "/etc/app", "/etc/inline.conf", "/inline_conf", "/app_conf"]


def _load(project: str, files: list[Path], env: dict[str, str]) -> LoadedProject:
    """The project as compose's own `config` gives it (the loader has its own corpus tests),
    with what `config` leaves out but `up` uses: the environment (for environment-based
    secrets) and `label_file` (merged into labels, but its paths are in the config hash)."""
    loaded = load(project, files, env)
    raw = yaml.safe_load(files[0].read_text())["services"]
    services = {
        name: service.model_copy(
            update={"label_file": [str(files[0].parent / raw[name]["label_file"])]}
        )
        if "label_file" in raw[name]
        else service
        for name, service in loaded.project.services.items()
    }
    canonical = loaded.project.model_copy(update={"services": services})
    return loaded.model_copy(update={"project": canonical, "environment": env})


def _peers(engine: Engine, project: str) -> dict[str, list[Peer]]:
    peers: dict[str, list[Peer]] = {}
    for info in sorted(engine.observe(project), key=lambda i: i.number):
        peers.setdefault(info.service, []).append(Peer(info.id, info.name))
    return peers


def _up_with_composewatch(engine: Engine, loaded: LoadedProject) -> None:
    project = loaded.project
    engine.ensure_networks(loaded)
    engine.ensure_volumes(loaded)
    for layer in startup_order(project):
        peers = _peers(engine, project.name)
        for name in layer:
            image = image_name(project, name)
            image_id = engine.image_id(image)
            assert image_id is not None, image
            for number in range(1, replica_count(project.services[name]) + 1):
                # The id, as composewatch's runner passes it: the spec names the image as
                # compose does.
                spec = container_spec(loaded, name, image_id, number=number, peers=peers)
                engine.start(engine.create(spec))


@pytest.mark.parametrize("fixture", ["equivalence-many", "equivalence-net", "equivalence-keys"])
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
        "CW_SECRET": "from-the-environment",
    }
    # One name for both runs, one after the other: names, and the networks' and volumes'
    # config-hash (which covers their names), are then comparable as they are.
    a = b = new_project_name("eq")
    engine = Engine(client)
    built: list[str] = []
    try:
        compose(a, files, "up", "-d", env=env)
        by_compose, ps_compose = _view(client, a), _ps(a, files, env)
        loaded = _load(b, files, env)
        pools = frozenset(
            network_name(loaded.project, key)
            for key, config in (loaded.project.networks or {}).items()
            if ((config or {}).get("ipam") or {}).get("config")
        )
        everything_by_compose = project_view(client, a, pools)
        for name, config in loaded.project.services.items():
            if config.build is not None:  # run the image compose built, under B's name
                built += [f"{a}-{name}", image_name(loaded.project, name)]
                client.api.tag(f"{a}-{name}", image_name(loaded.project, name))
        compose(a, files, "down", "-v", env=env)

        _up_with_composewatch(engine, loaded)
        by_composewatch = _view(client, b)
        assert differences(everything_by_compose, project_view(client, b, pools)) == []
        assert by_composewatch.keys() == by_compose.keys()
        if fixture == "equivalence-many":  # `scale: 2`: both replicas, under compose's names
            assert {"worker-1", "worker-2"} <= by_compose.keys()
        for service, expected in by_compose.items():
            assert by_composewatch[service] == expected, service
        assert _ps(b, files, env) == ps_compose
        assert not any(row["Image"].startswith("sha256:") for row in ps_compose.values()), (
            ps_compose
        )

        ids = set(_ids(client, b))
        # compose adopts composewatch's containers: same hash, same image, nothing recreated
        compose(b, files, "up", "-d", env=env)
        assert set(_ids(client, b)) == ids
    finally:
        remove_project(a)
        remove_project(b)
        for tag in built:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.api.remove_image(tag)


def test_a_retagged_name_still_runs_the_chosen_image(client: docker.DockerClient) -> None:
    """Config.Image is the service's image name (for `docker compose ps`); when that name now
    points at another image (a newer build), the container still runs the chosen one."""
    project = new_project_name("eqi")
    loaded = LoadedProject.model_validate(
        {
            "project": {
                "name": project,
                "services": {"app": {"build": {"context": "/nonexistent"}, "network_mode": "none"}},
            },
            "working_dir": "/nonexistent",
            "config_files": ["/nonexistent/compose.yaml"],
            "environment": {},
        }
    )
    chosen = Engine(client).image_id("busybox:latest")
    assert chosen is not None
    client.api.tag("python:3.11-slim", f"{project}-app")  # the name now means another image
    engine = Engine(client)
    try:
        spec = container_spec(loaded, "app", chosen)
        assert spec.config["Image"] == f"{project}-app"
        cid = engine.create(spec)
        assert client.api.inspect_container(cid)["Image"] == chosen
        client.api.tag("busybox:latest", f"{project}-app")  # the name means the chosen image
        engine.remove(cid)
        cid = engine.create(spec)
        info = client.api.inspect_container(cid)
        assert (info["Image"], info["Config"]["Image"]) == (chosen, f"{project}-app")
    finally:
        remove_project(project)
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.api.remove_image(f"{project}-app")


# --- real-world projects (tests/corpus) -------------------------------------------------


@pytest.fixture(scope="module")
def standin(docker_client: docker.DockerClient) -> Iterator[str]:
    """The stand-in image every image name of the corpus cases is tagged with."""
    tag = f"{new_project_name('standin')}:latest"
    docker_client.images.build(
        fileobj=io.BytesIO(STANDIN_DOCKERFILE.encode()), tag=tag, rm=True, forcerm=True
    )
    try:
        yield tag
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.api.remove_image(tag, force=True)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ)
    )


@pytest.mark.parametrize("case", CASES)
def test_a_real_world_project_gets_compose_s_containers_networks_and_volumes(
    client: docker.DockerClient, standin: str, case: str, tmp_path: Path
) -> None:
    """The same file, the same project name, once `docker compose up -d --no-build` and once
    `composewatch up --no-watch`: every field of every container, network and volume equal
    (standin.py says what is rewritten for both; inspectview.py what is normalised)."""
    project = new_project_name("eqc")
    file = standin_project(case, tmp_path, project, standin)
    env_file = tmp_path / "flags.env"  # --env-file: compose labels every container with it
    env_file.write_text("CW_UNUSED=1\n")
    flags = ["-p", project, "-f", str(file), "--env-file", str(env_file)]
    pools = frozenset(
        str(config.get("name") or f"{project}_{key}")
        for key, config in (json.loads(file.read_text()).get("networks") or {}).items()
        if (config.get("ipam") or {}).get("config")
    )
    images = standin_images(tmp_path)
    try:
        for image in images:
            client.api.tag(standin, image)
        made = _cli(COMPOSE, *flags, "up", "-d", "--no-build")
        assert made.returncode == 0, made.stderr
        by_compose = project_view(client, project, pools)
        _remove_made(client, project)

        made = _cli(sys.executable, "-m", "composewatch", *flags, "up", "--no-watch")
        assert made.returncode in (0, 1), made.stderr  # 1: a service found unhealthy
        by_composewatch = project_view(client, project, pools)
        assert differences(by_compose, by_composewatch) == [], made.stdout + made.stderr
        assert len(leaves(by_compose)) > 100  # the view holds what it should

        ids = {
            c.id for c in client.containers.list(all=True, filters={"label": f"{_LABEL}={project}"})
        }
        adopted = _cli(COMPOSE, *flags, "up", "-d", "--no-build")  # nothing to recreate
        assert adopted.returncode == 0, adopted.stderr
        after = client.containers.list(all=True, filters={"label": f"{_LABEL}={project}"})
        assert {c.id for c in after} == ids
    finally:
        try:
            _remove_made(client, project)
        finally:
            for image in images:
                with contextlib.suppress(docker.errors.ImageNotFound):
                    client.api.remove_image(image)


def _remove_made(client: docker.DockerClient, project: str) -> None:
    """The project's containers, networks and volumes (it builds no image: --no-build)."""
    label = {"label": f"{_LABEL}={project}"}
    for summary in client.api.containers(all=True, filters=label):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(summary["Id"], force=True, v=True)
    for network in client.api.networks(filters=label):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_network(network["Id"])
    for volume in client.api.volumes(filters=label).get("Volumes") or []:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_volume(volume["Name"], force=True)
