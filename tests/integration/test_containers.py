"""Engine against the real engine: a swap keeps the name and serves the new content, compose
sees and removes what composewatch made, and adopts/is adopted through the config hash."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from cwhelpers import id_of

from composewatch.buildcache import BuildCache
from composewatch.compose.model import LoadedProject, Project
from composewatch.config import Settings
from composewatch.core.effects import Exchange
from composewatch.engine.builder import build_image
from composewatch.engine.containers import Engine
from composewatch.engine.executor import DockerRunner
from composewatch.engine.stopsignal import StopSignals
from composewatch.spec import config_hash, container_spec, image_name


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _project(name: str, tmp: Path, port: int) -> LoadedProject:
    compose_file = tmp / "compose.yaml"
    compose_file.write_text("services: {}\n")
    data = {
        "name": name,
        "networks": {"default": {"name": f"{name}_default", "ipam": {}}},
        "services": {
            "web": {
                "build": {"context": str(tmp / "web"), "dockerfile": "Dockerfile"},
                "command": None,
                "entrypoint": None,
                "networks": {"default": None},
                "ports": [
                    {
                        "mode": "ingress",
                        "host_ip": "127.0.0.1",
                        "target": 8080,
                        "published": str(port),
                        "protocol": "tcp",
                    }
                ],
                "stop_grace_period": "1s",
            }
        },
    }
    return LoadedProject(
        project=Project.model_validate(data),
        working_dir=str(tmp),
        config_files=[str(compose_file)],
        environment={},
    )


def _get(port: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                body: bytes = r.read()
                return body.decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _write_app(tmp: Path, text: str) -> None:
    (tmp / "web" / "www").mkdir(parents=True, exist_ok=True)
    (tmp / "web" / "Dockerfile").write_text(
        'FROM busybox:latest\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
    )
    (tmp / "web" / "www" / "index.html").write_text(text)


def test_replace_keeps_name_and_serves_new_content(
    docker_client: docker.DockerClient,
    project_name: str,
    tmp_path: Path,
    compose_bin: Path,
) -> None:
    port = _port()
    loaded = _project(project_name, tmp_path, port)
    engine = Engine(docker_client)
    tag = image_name(loaded.project, "web")
    _write_app(tmp_path, "one\n")
    image = build_image(docker_client, loaded, "web", tag=tag, on_log=lambda _: None)
    engine.ensure_networks(loaded)
    first = engine.create(container_spec(loaded, "web", tag, image_id=engine.image_id(tag)))
    engine.start(first)
    assert _get(port) == "one\n"
    [old] = engine.observe(project_name)
    assert (old.id, old.name, old.number) == (first, f"{project_name}-web-1", 1)
    assert old.config_hash == config_hash(loaded.project.services["web"])

    _write_app(tmp_path, "two\n")
    image = build_image(docker_client, loaded, "web", tag=tag, on_log=lambda _: None)
    timings: dict[str, float] = {}
    for step in ("create", "stop", "start", "rename", "remove"):
        _time(engine, step, timings)
    # The swap composewatch makes on a save: the runner's replace, then commit once healthy.
    runner = _runner(loaded, engine, tmp_path)
    started = time.perf_counter()
    new, _ = runner.swap_in("web", image, old.id)
    timings["replace"] = (time.perf_counter() - started) * 1000
    assert _get(port) == "two\n"
    runner.commit("web", Exchange(1, new, old.id))
    runner.commit("web", Exchange(1, new, old.id))  # idempotent: run again after an interruption
    print("timings (ms):", {k: round(v) for k, v in timings.items()})
    [current] = engine.observe(project_name)
    assert (current.id, current.name, current.status) == (new, f"{project_name}-web-1", "running")
    assert current.image_id == image
    assert not any(c["Id"] == old.id for c in docker_client.api.containers(all=True))

    # `docker compose ps` sees what composewatch made; `docker compose down` removes it
    ps = _compose(compose_bin, project_name, "ps", "--format", "json")
    assert [json.loads(line)["Name"] for line in ps.splitlines()] == [f"{project_name}-web-1"]
    _compose(compose_bin, project_name, "down")
    assert engine.observe(project_name) == []
    assert docker_client.api.networks(names=[f"{project_name}_default"]) == []


def _runner(loaded: LoadedProject, engine: Engine, tmp_path: Path) -> DockerRunner:
    settings = Settings()
    policy = StopSignals(engine.ignores_sigterm, lambda _: None)
    cache = BuildCache(tmp_path / "build-cache.json", {})
    return DockerRunner(loaded, settings, engine, lambda _: None, policy, cache)


def _time(engine: Engine, step: str, timings: dict[str, float]) -> None:
    # Measured by the wrapped Engine methods during the swap.
    original = getattr(engine, step)

    def timed(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timings[step] = timings.get(step, 0) + (time.perf_counter() - started) * 1000

    setattr(engine, step, timed)


def _compose(compose_bin: Path, project: str, *args: str) -> str:
    result = subprocess.run(
        [str(compose_bin), "-p", project, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_observes_compose_containers_and_hash_matches(
    docker_client: docker.DockerClient,
    project_name: str,
    copy_fixture: Callable[[str], Path],
    compose_bin: Path,
) -> None:
    from cwhelpers import load

    root = copy_fixture("equivalence-net")
    files = [root / "compose.yaml"]
    env_name = f"{project_name}-cache"
    result = subprocess.run(
        [str(compose_bin), "-p", project_name, "-f", str(files[0]), "up", "-d"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={
            "CW_CACHE_NAME": env_name,
            "CW_BACK_NAME": f"{project_name}-back",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 0, result.stderr
    loaded = load(
        project_name, files, {"CW_CACHE_NAME": env_name, "CW_BACK_NAME": f"{project_name}-back"}
    )
    seen = {c.service: c for c in Engine(docker_client).observe(project_name)}
    assert set(seen) == {"api", "cache", "job"}
    assert seen["cache"].name == env_name
    for name, info in seen.items():
        assert info.config_hash == config_hash(loaded.project.services[name]), name
        assert info.status == "running" and info.image_id.startswith("sha256:")


@pytest.mark.parametrize(
    "script, init, ignores",
    [
        ("sleep 30", False, True),
        ("trap 'exit 0' TERM; sleep 30 & wait", False, False),
        ("sleep 30", True, False),  # docker-init (tini) forwards SIGTERM: stop it gracefully
    ],
)
def test_ignores_sigterm(
    docker_client: docker.DockerClient, project_name: str, script: str, init: bool, ignores: bool
) -> None:
    container = docker_client.containers.run(
        "busybox:latest",
        ["sh", "-c", script],
        detach=True,
        init=init,
        network_mode="none",
        labels={"com.docker.compose.project": project_name},
    )
    time.sleep(0.2)
    assert Engine(docker_client).ignores_sigterm(id_of(container)) is ignores
