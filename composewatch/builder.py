"""Builds for compose services: the request from the model, the context from disk, the build
from the engine (BuildKit wherever the engine offers it, as compose does; classic otherwise
or on request).

`prepare_build` walks the context once and gives both the tar's member list and the digest
that lets an unchanged build be skipped; `build_image` sends that same selection. Services
whose builds are identical (same context, Dockerfile and parameters) share one build: the
second waits for the first and gets its image under its own tag. Images carry the labels
compose gives the images it builds (`compose_image_labels`), which name the service: services
with the same build get the same image only where compose would too.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import docker
import docker.errors

from composewatch.compose.model import LoadedProject
from composewatch.core.buildinputs import BuildRequest, parse_build_request
from composewatch.engine.build import BuildCancelled, Builder, choose_builder, run_build
from composewatch.engine.buildcontext import ContextSelection, select_context
from composewatch.errors import BuildContextError, ComposewatchError, EngineError
from composewatch.spec import COMPOSE_VERSION

__all__ = [
    "BuildCancelled",
    "PreparedBuild",
    "build_image",
    "builder_for",
    "check_build_inputs",
    "compose_image_labels",
    "prepare_build",
]


@dataclass(frozen=True)
class PreparedBuild:
    request: BuildRequest
    selection: ContextSelection

    @property
    def digest(self) -> str:
        return self.selection.digest


def _config_file(loaded: LoadedProject) -> str:
    return ", ".join(loaded.config_files) or "compose file"


def prepare_build(loaded: LoadedProject, service: str) -> PreparedBuild:
    """The service's build request and context selection; BuildContextError names the key."""
    request = parse_build_request(loaded.project, service, _config_file(loaded))
    return PreparedBuild(request, select_context(request))


def check_build_inputs(loaded: LoadedProject, services: Iterable[str]) -> None:
    """Fail before anything is touched when a service's build cannot be made: a missing
    context or Dockerfile, an unreadable file, a key that cannot be honoured. The message
    names, rather than shows, a variable substituted into a path."""
    try:
        _check_build_inputs(loaded, services)
    except ComposewatchError as exc:
        raise loaded.scrub(exc) from None


def _check_build_inputs(loaded: LoadedProject, services: Iterable[str]) -> None:
    for service in services:
        if loaded.project.services[service].build is not None:
            request = parse_build_request(loaded.project, service, _config_file(loaded))
            where = f"{request.config_file}: services.{service}.build"
            if not request.context.is_dir():
                raise BuildContextError(
                    f"{where}.context: build context {request.context} does not exist or is "
                    "not a directory"
                )
            if request.dockerfile_inline is None and not request.dockerfile_path.is_file():
                raise BuildContextError(
                    f"{where}.dockerfile: Dockerfile {request.dockerfile_path} does not exist"
                )


_builders: dict[int, Builder] = {}


def builder_for(client: docker.DockerClient, requested: str | None = None) -> Builder:
    """The builder for this engine: `requested` ("auto", "buildkit", "classic"), else
    DOCKER_BUILDKIT, else BuildKit wherever the engine offers it."""
    choice = requested if requested not in (None, "", "auto") else os.environ.get("DOCKER_BUILDKIT")
    key = id(client.api)
    if choice in (None, "") and key in _builders:
        return _builders[key]
    try:
        version = client.api.version()
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot ask the engine its version: {exc}") from None
    builder = choose_builder(
        str(version.get("ApiVersion", "0.0")), str(version.get("Os", "linux")), choice
    )
    if choice in (None, ""):
        _builders[key] = builder
    return builder


@dataclass
class _Shared:
    """Identical builds in flight or recently done: one lock and one result per digest.
    Only the last `keep` digests are remembered, so a watcher running all day stays small
    (sharing matters between services built from one configuration, within one round)."""

    keep: int = 64
    locks: OrderedDict[str, threading.Lock] = field(default_factory=OrderedDict)
    images: dict[str, str] = field(default_factory=dict)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def lock(self, digest: str) -> threading.Lock:
        with self.guard:
            lock = self.locks.setdefault(digest, threading.Lock())
            self.locks.move_to_end(digest)
            while len(self.locks) > self.keep:
                old, _ = self.locks.popitem(last=False)
                self.images.pop(old, None)
            return lock


_shared = _Shared()


def build_image(
    client: docker.DockerClient,
    loaded: LoadedProject,
    service_name: str,
    *,
    tag: str,
    on_log: Callable[[str], None],
    cancelled: threading.Event | None = None,
    labels: dict[str, str] | None = None,
    prepared: PreparedBuild | None = None,
    builder: str | None = None,
) -> str:
    """Build the service's image as `tag` and return its id; BuildError names the failing
    step, BuildCancelled says the build stopped because `cancelled` was set."""
    prepared = prepared or prepare_build(loaded, service_name)
    chosen = builder_for(client, builder)
    labels = {**compose_image_labels(loaded.project.name, service_name, chosen), **(labels or {})}
    digest = f"{chosen}:{prepared.digest}:{sorted((labels or {}).items())}"
    with _shared.lock(digest):
        image = _shared.images.get(digest)
        if image is not None and _tag(client, image, tag):
            on_log(f"same build as another service: using image {image[:19]}")
            return image
        image = run_build(
            client.api,
            prepared.request,
            prepared.selection,
            builder=chosen,
            tag=tag,
            on_log=on_log,
            cancelled=cancelled,
            labels=labels,
        )
        _shared.images[digest] = image
        return image


def compose_image_labels(project: str, service: str, builder: Builder) -> dict[str, str]:
    """The labels compose 2.40.3 adds to an image it builds, over the build's own: through
    BuildKit (its buildx path) the project, service and version; through the classic
    builder (DOCKER_BUILDKIT=0) only `com.docker.compose.image.builder: classic`."""
    if builder is Builder.CLASSIC:
        return {"com.docker.compose.image.builder": "classic"}
    return {
        "com.docker.compose.project": project,
        "com.docker.compose.service": service,
        "com.docker.compose.version": COMPOSE_VERSION,
    }


def _tag(client: docker.DockerClient, image: str, tag: str) -> bool:
    repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "")
    try:
        return bool(client.api.tag(image, repository, version or "latest", force=True))
    except docker.errors.DockerException:
        return False  # the image is gone: build it again
