"""The fixture projects: where each comes from, how a temp copy is made, how a save is written.

Every tool run gets its own copy with a unique project name, fresh loopback ports, and names
derived from the project (the seed's fixed `container_name`/`image` would clash between runs).
Nothing else in a fixture changes, except a `bench.project` build label used to clean up images.
"""

from __future__ import annotations

import random
import re
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["FIXTURES", "Fixture", "Prepared", "free_port", "prepare"]

REPO = Path(__file__).resolve().parent.parent
BENCH_FIXTURES = Path(__file__).resolve().parent / "fixtures"
LABEL = "bench.project"


def _flask_marker(project_dir: Path, marker: str) -> None:
    app = project_dir / "app.py"
    text = app.read_text()
    new, count = re.subn(r'return "[^"]*"', f'return "Hello, Docker! {marker}"', text, count=1)
    if count != 1:
        raise RuntimeError(f'{app}: no `return "..."` line to put the marker in')
    app.write_text(new)


def _busybox_marker(service: str) -> Callable[[Path, str], None]:
    def write(project_dir: Path, marker: str) -> None:
        (project_dir / service / "www" / "index.html").write_text(f"{service} {marker}\n")

    return write


@dataclass(frozen=True)
class Fixture:
    name: str
    source: Path
    compose_file: str
    target: str  # the service whose content each save changes
    container_port: dict[str, int]  # service -> the container port published
    write_marker: Callable[[Path, str], None]
    init: bool = False  # add `init: true` to every service
    ignores_sigterm: bool = False  # PID 1 ignores SIGTERM: a graceful stop waits out the timeout
    buildkit_only: bool = False  # the Dockerfile needs BuildKit (the classic builder fails)

    @property
    def others(self) -> tuple[str, ...]:
        return tuple(s for s in self.container_port if s != self.target)


FIXTURES: dict[str, Fixture] = {
    "flask": Fixture(
        name="flask",
        source=REPO / "sample-flask-app",
        compose_file="docker-compose.yml",
        target="web",
        container_port={"web": 5000},
        write_marker=_flask_marker,
        ignores_sigterm=True,
    ),
    "flask-init": Fixture(
        name="flask-init",
        source=REPO / "sample-flask-app",
        compose_file="docker-compose.yml",
        target="web",
        container_port={"web": 5000},
        write_marker=_flask_marker,
        init=True,
    ),
    "five": Fixture(
        name="five",
        source=BENCH_FIXTURES / "five",
        compose_file="compose.yaml",
        target="s1",
        container_port={f"s{i}": 8080 for i in range(1, 6)},
        write_marker=_busybox_marker("s1"),
        ignores_sigterm=True,  # busybox httpd as PID 1 installs no SIGTERM handler either
    ),
    # What `docker init` writes for a Python app: a cache mount and a bind mount of
    # requirements.txt (BuildKit only), a non-root user, `init: true`.
    "docker-init": Fixture(
        name="docker-init",
        source=REPO / "fixtures" / "docker-init-python",
        compose_file="compose.yaml",
        target="server",
        container_port={"server": 8000},
        write_marker=_flask_marker,
        init=True,
        buildkit_only=True,
    ),
}


@dataclass(frozen=True)
class Prepared:
    """A fixture copied into `directory`, ready for one tool."""

    fixture: Fixture
    project: str
    directory: Path
    compose_file: Path
    host_port: dict[str, int]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.host_port[service]}/"

    def image(self, service: str) -> str:
        return f"{self.project}-{service}:bench"

    def context(self, service: str) -> Path:
        return self.directory / str(self._service(service)["build"]["context"])

    def container_name(self, service: str) -> str:
        return f"{self.project}-{service}"

    def _service(self, service: str) -> dict[str, Any]:
        data = yaml.safe_load(self.compose_file.read_text())
        spec: dict[str, Any] = data["services"][service]
        return spec

    def write_marker(self, marker: str) -> None:
        self.fixture.write_marker(self.directory, marker)


def free_port(taken: set[int] | None = None) -> int:
    """A loopback port nothing is bound to right now, below Linux's ephemeral range (so the
    poller's own client sockets never take it first)."""
    taken = taken if taken is not None else set()
    while True:
        port = random.randint(20_000, 32_000)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port


def _rewrite(
    data: dict[str, Any], prepared_ports: dict[str, int], fixture: Fixture, project: str
) -> dict[str, Any]:
    for name, service in data["services"].items():
        build = service["build"]
        if isinstance(build, str):
            build = {"context": build}
        build["labels"] = {**build.get("labels", {}), LABEL: project}
        service["build"] = build
        if "image" in service:
            service["image"] = f"{project}-{name}:bench"
        if "container_name" in service:
            service["container_name"] = f"{project}-{name}"
        port = fixture.container_port[name]
        service["ports"] = [f"127.0.0.1:{prepared_ports[name]}:{port}"]
        if fixture.init:
            service["init"] = True
    return data


def prepare(fixture: Fixture, workdir: Path, project: str) -> Prepared:
    """Copy the fixture to `workdir/project` and point it at fresh ports and names."""
    directory = workdir / project
    shutil.copytree(fixture.source, directory, ignore=shutil.ignore_patterns("__pycache__"))
    compose_file = directory / fixture.compose_file
    taken: set[int] = set()
    ports = {service: free_port(taken) for service in fixture.container_port}
    data = yaml.safe_load(compose_file.read_text())
    compose_file.write_text(
        yaml.safe_dump(_rewrite(data, ports, fixture, project), sort_keys=False)
    )
    return Prepared(fixture, project, directory, compose_file, ports)
