"""build_image against the real engine, with BuildKit and with the classic builder: logs,
.dockerignore, failing steps, errors before the build, cancellation, BuildKit-only files."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from composewatch.compose.model import LoadedProject, Project
from composewatch.engine.build import Builder
from composewatch.engine.builder import BuildCancelled, build_image, builder_for, check_build_inputs
from composewatch.errors import BuildContextError, BuildError

BUILDERS = [Builder.BUILDKIT.value, Builder.CLASSIC.value]


def _loaded(
    name: str, context: Path, dockerfile: str | None = None, **build: object
) -> LoadedProject:
    spec = {"context": str(context), **({"dockerfile": dockerfile} if dockerfile else {}), **build}
    project = Project.model_validate({"name": name, "services": {"app": {"build": spec}}})
    return LoadedProject(
        project=project, working_dir=str(context.parent), config_files=["compose.yaml"],
        environment={},
    )  # fmt: skip


@pytest.fixture
def tag(docker_client: docker.DockerClient, project_name: str) -> Iterator[str]:
    name = f"{project_name}-app"
    yield name
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(name, force=True)


@pytest.fixture
def classic_steps(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Collects a classic build's log; afterwards removes the images of the steps it ran.

    A classic build that fails keeps the image of each step that succeeded (its cache), with
    no name for a clean-up to find; the log names them (` ---> <id>`). Removed newest first,
    without force and only when nothing names them: a base image, or one another build is
    using, stays."""
    lines: list[str] = []
    yield lines
    for image_id in reversed(re.findall(r"^ ---> ([0-9a-f]{12})$", "\n".join(lines), re.M)):
        with contextlib.suppress(docker.errors.APIError):
            if not docker_client.api.inspect_image(image_id).get("RepoTags"):  # type: ignore[no-untyped-call]
                docker_client.api.remove_image(image_id)


def test_buildkit_is_the_default_on_this_engine(docker_client: docker.DockerClient) -> None:
    assert builder_for(docker_client) is Builder.BUILDKIT
    assert builder_for(docker_client, "classic") is Builder.CLASSIC


@pytest.mark.parametrize("builder", BUILDERS)
def test_build_streams_logs_and_honours_dockerignore(
    docker_client: docker.DockerClient, tag: str, copy_fixture: Callable[[str], Path], builder: str
) -> None:
    app = copy_fixture("dockerignore") / "app"
    lines: list[str] = []
    image_id = build_image(
        docker_client, _loaded(tag, app), "app", tag=tag, on_log=lines.append, builder=builder
    )
    step = "[2/" if builder == "buildkit" else "Step 2/"
    assert any(step in line for line in lines), lines
    assert docker_client.images.get(tag).attrs["Id"] == image_id or image_id.startswith(
        docker_client.images.get(tag).attrs["Id"][7:19]
    )
    listing = docker_client.containers.run(
        image_id, ["ls", "-a", "/src"], remove=True, network_mode="none"
    )
    assert b"Dockerfile" in listing
    assert b"ignored" not in listing and b"debug.log" not in listing


@pytest.mark.parametrize("builder", BUILDERS)
def test_failing_step_is_reported_with_its_last_lines(
    docker_client: docker.DockerClient,
    tag: str,
    copy_fixture: Callable[[str], Path],
    builder: str,
    classic_steps: list[str],
) -> None:
    app = copy_fixture("broken-build") / "app"
    with pytest.raises(BuildError) as info:
        build_image(docker_client, _loaded(tag, app), "app", tag=tag,
                    on_log=classic_steps.append, builder=builder)  # fmt: skip
    err = info.value
    assert err.service == "app"
    assert "RUN" in err.step and "exit 3" in err.step, err.step
    assert any("failing on purpose" in line for line in err.log_tail)
    assert 0 < len(err.log_tail) <= 16


@pytest.mark.parametrize("builder", BUILDERS)
def test_dockerfile_syntax_error_names_the_line(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path, builder: str
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nCPY . /x\n")
    with pytest.raises(BuildError) as info:
        build_image(docker_client, _loaded(tag, tmp_path), "app", tag=tag, on_log=lambda _: None,
                    builder=builder)  # fmt: skip
    assert info.value.step == f"{tmp_path / 'Dockerfile'}, line 2"
    assert "CPY" in str(info.value)


def test_unpullable_syntax_frontend_says_what_to_do(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("# syntax=docker/dockerfile:1\nFROM busybox:latest\n")
    with pytest.raises(BuildError) as info:
        build_image(docker_client, _loaded(tag, tmp_path), "app", tag=tag, on_log=lambda _: None)
    assert "syntax=docker/dockerfile:1" in str(info.value)
    assert "remove the line" in str(info.value)


def test_buildkit_only_dockerfile_builds(
    docker_client: docker.DockerClient,
    tag: str,
    copy_fixture: Callable[[str], Path],
    classic_steps: list[str],
) -> None:
    app = copy_fixture("docker-init-python")
    image_id = build_image(docker_client, _loaded(tag, app), "app", tag=tag, on_log=lambda _: None)
    config = docker_client.images.get(image_id).attrs["Config"]
    assert config["User"] == "appuser"
    out = docker_client.containers.run(
        image_id, ["python3", "-c", "import flask, os; print(os.listdir('.'))"], remove=True,
        network_mode="none",
    )  # fmt: skip
    assert b"app.py" in out and b"compose.yaml" not in out  # .dockerignore honoured
    with pytest.raises(BuildError, match="--mount"):
        build_image(docker_client, _loaded(tag, app), "app", tag=tag,
                    on_log=classic_steps.append, builder="classic")  # fmt: skip


def test_build_keys_reach_the_engine(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox:latest AS base\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\n"
        "RUN grep -q 'myhost' /etc/hosts && echo hosts-ok > /hosts\n"
        "FROM base AS other\nRUN false\n"
    )  # fmt: skip
    loaded = _loaded(tag, tmp_path, args={"GREETING": "hi there"}, target="base",
                     labels={"org.example": "yes"}, extra_hosts=["myhost=10.1.2.3"],
                     shm_size="64m", network="none")  # fmt: skip
    image_id = build_image(docker_client, loaded, "app", tag=tag, on_log=lambda _: None)
    assert docker_client.images.get(image_id).attrs["Config"]["Labels"]["org.example"] == "yes"
    out = docker_client.containers.run(image_id, ["cat", "/greeting", "/hosts"], remove=True)
    assert out == b"hi there\nhosts-ok\n"


def test_an_undefined_build_secret_is_refused_before_building(tmp_path: Path) -> None:
    loaded = _loaded("p", tmp_path, secrets=["token"])
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\n")
    with pytest.raises(BuildContextError, match=r"services\.app\.build\.secrets: .*'token'"):
        check_build_inputs(loaded, ["app"])


def test_missing_context_or_dockerfile_fails_before_docker(tmp_path: Path) -> None:
    with pytest.raises(BuildContextError, match=r"services\.app\.build\.context"):
        check_build_inputs(_loaded("p", tmp_path / "nope"), ["app"])
    with pytest.raises(BuildContextError, match=r"services\.app\.build\.dockerfile"):
        check_build_inputs(_loaded("p", tmp_path, "Other"), ["app"])


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(pid))
    return found


@pytest.mark.parametrize("builder", BUILDERS)
def test_cancelled_build_stops_on_the_engine(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path, builder: str
) -> None:
    marker = f"cwcancel{tag[-8:]}{builder}"
    (tmp_path / "Dockerfile").write_text(f"FROM busybox:latest\nRUN sleep 120 && echo {marker}\n")
    cancelled = threading.Event()
    seen_step = threading.Event()

    def on_log(line: str) -> None:
        if "sleep 120" in line:
            seen_step.set()

    def cancel_once_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _processes_with(marker):
            time.sleep(0.1)
        cancelled.set()

    threading.Thread(target=cancel_once_running, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(BuildCancelled):
        build_image(docker_client, _loaded(tag, tmp_path), "app", tag=tag, on_log=on_log,
                    cancelled=cancelled, builder=builder)  # fmt: skip
    stopped_in = time.monotonic() - started
    assert seen_step.is_set() and stopped_in < 60
    # Nothing of the build is left running on the engine.
    deadline = time.monotonic() + 15
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == [], "the build's RUN step still runs after cancellation"
    print(f"{builder}: cancelled and stopped; no solve left ({stopped_in:.1f} s in total)")


def test_additional_contexts_naming_images_are_applied(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        'FROM base\nCOPY --from=tools /bin/busybox /copied-busybox\nCMD ["true"]\n'
    )
    contexts = {"base": "docker-image://busybox:latest", "tools": "docker-image://busybox:latest"}
    loaded = _loaded(tag, tmp_path, additional_contexts=contexts)
    image_id = build_image(docker_client, loaded, "app", tag=tag, on_log=lambda _: None)
    out = docker_client.containers.run(image_id, ["ls", "/copied-busybox"], remove=True)
    assert out == b"/copied-busybox\n"


def test_services_sharing_one_build_configuration_are_built_once(
    docker_client: docker.DockerClient, project_name: str, tmp_path: Path
) -> None:
    """With the classic builder, whose images compose labels alike for every service (through
    BuildKit compose labels each with its service, so each service gets its own image)."""
    (tmp_path / "Dockerfile").write_text(f"FROM busybox:latest\nRUN echo {project_name}\n")
    shared = {"context": str(tmp_path)}
    project = Project.model_validate(
        {"name": project_name, "services": {"a": {"build": shared}, "b": {"build": shared}}}
    )
    loaded = LoadedProject(
        project=project, working_dir=str(tmp_path), config_files=["compose.yaml"], environment={}
    )
    logs: dict[str, list[str]] = {"a": [], "b": []}
    results: dict[str, str] = {}

    def build(service: str) -> None:
        results[service] = build_image(
            docker_client, loaded, service, tag=f"{project_name}-{service}",
            on_log=logs[service].append, builder="classic",
        )  # fmt: skip

    threads = [threading.Thread(target=build, args=(s,)) for s in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert results["a"] == results["b"]
        reused = [s for s in ("a", "b") if any("same build as" in line for line in logs[s])]
        assert len(reused) == 1, logs  # one built, the other waited and took its image
        for service in ("a", "b"):
            assert (
                docker_client.images.get(f"{project_name}-{service}").attrs["Id"] == (results["a"])
            )
    finally:
        for service in ("a", "b"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(f"{project_name}-{service}", force=True)
