"""build_image against the real engine: logs, .dockerignore, failing steps, cancellation."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from composewatch.builder import BuildCancelled, build_image, context_digest, read_dockerignore
from composewatch.compose.model import LoadedProject, Project
from composewatch.errors import BuildContextError, BuildError


def _loaded(name: str, context: Path, dockerfile: str | None = None) -> LoadedProject:
    build = {"context": str(context), **({"dockerfile": dockerfile} if dockerfile else {})}
    project = Project.model_validate({"name": name, "services": {"app": {"build": build}}})
    return LoadedProject(
        project=project, working_dir=str(context.parent), config_files=[], environment={}
    )


def test_build_streams_logs_and_honours_dockerignore(
    docker_client: docker.DockerClient,
    project_name: str,
    copy_fixture: Callable[[str], Path],
) -> None:
    app = copy_fixture("dockerignore") / "app"
    lines: list[str] = []
    started = time.perf_counter()
    image_id = build_image(
        docker_client,
        _loaded(project_name, app),
        "app",
        tag=f"{project_name}-app",
        on_log=lines.append,
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"busybox build: {elapsed_ms:.0f} ms")
    assert any(line.startswith("Step 1/") for line in lines)
    assert docker_client.api.inspect_image(f"{project_name}-app")["Id"].endswith(
        image_id.removeprefix("sha256:")
    )
    listing = docker_client.containers.run(
        image_id, ["ls", "-a", "/src"], remove=True, network_mode="none"
    )
    assert b"Dockerfile" in listing
    assert b"ignored" not in listing and b"debug.log" not in listing


def test_failing_step_is_reported(
    docker_client: docker.DockerClient,
    project_name: str,
    copy_fixture: Callable[[str], Path],
) -> None:
    app = copy_fixture("broken-build") / "app"
    with pytest.raises(BuildError) as info:
        build_image(
            docker_client,
            _loaded(project_name, app),
            "app",
            tag=f"{project_name}-app",
            on_log=lambda _: None,
        )
    err = info.value
    assert err.service == "app"
    assert err.step.startswith("Step 3/4 : RUN") and "exit 3" in err.step
    assert any("failing on purpose" in line for line in err.log_tail)
    assert 0 < len(err.log_tail) <= 15


def test_missing_context_or_dockerfile_fails_before_docker(tmp_path: Path) -> None:
    # No client needed: the check happens before the engine is asked anything.
    client: docker.DockerClient = None  # type: ignore[assignment]
    with pytest.raises(BuildContextError, match=r"services\.app\.build\.context"):
        build_image(client, _loaded("p", tmp_path / "nope"), "app", tag="t", on_log=print)
    with pytest.raises(BuildContextError, match=r"services\.app\.build\.dockerfile"):
        build_image(client, _loaded("p", tmp_path, "Other"), "app", tag="t", on_log=print)


def test_cancelled_build_stops(
    docker_client: docker.DockerClient, project_name: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN sleep 20\n")
    cancelled = threading.Event()

    def on_log(line: str) -> None:
        if line.startswith("Step 2/"):
            cancelled.set()

    started = time.monotonic()
    with pytest.raises(BuildCancelled):
        build_image(
            docker_client,
            _loaded(project_name, tmp_path),
            "app",
            tag=f"{project_name}-app",
            on_log=on_log,
            cancelled=cancelled,
        )
    assert time.monotonic() - started < 10


def test_context_digest_tracks_included_files_only(copy_fixture: Callable[[str], Path]) -> None:
    app = copy_fixture("dockerignore") / "app"
    ignore = read_dockerignore(app)
    first = context_digest(app, "Dockerfile", ignore)
    assert context_digest(app, "Dockerfile", ignore) == first
    (app / "debug.log").write_text("more log\n")  # excluded by *.log
    assert context_digest(app, "Dockerfile", ignore) == first
    index = app / "www" / "index.html"
    os.utime(index, ns=(index.stat().st_atime_ns, index.stat().st_mtime_ns + 10**9))
    assert context_digest(app, "Dockerfile", ignore) != first
