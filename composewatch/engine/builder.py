"""Builds for compose services: the request from the model, the context from disk, the build
from the engine (BuildKit wherever the engine offers it, as compose does; classic otherwise
or on request).

`prepare_build` walks the context once and gives both the tar's member list and the digest
that lets an unchanged build be skipped; `build_image` sends that same selection. Services
whose builds are identical (same context, Dockerfile and parameters) share one build: the
second waits for the first and gets its image under its own tag.

What a BuildKit build needs from its session beyond credentials and the context comes from
here (`session_services`: the build's secrets and ssh agents), and each `additional_contexts`
directory is built first into an image of its files, which the Dockerfile then names. Images
carry the labels compose gives the images it builds (`compose_image_labels`), which name the
service: services with the same build get the same image only where compose would too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from composewatch.compose.model import LoadedProject
from composewatch.core.buildinputs import BuildRequest, parse_build_request
from composewatch.engine.attachables import SecretSource, secrets_service, ssh_service
from composewatch.engine.build import BuildCancelled, Builder, choose_builder, run_build
from composewatch.engine.buildcontext import ContextSelection, select_context
from composewatch.engine.session import Service
from composewatch.engine.sshagent import agent_sockets, check_ssh_entry
from composewatch.errors import BuildContextError, ComposewatchError, EngineError
from composewatch.spec import COMPOSE_VERSION

__all__ = [
    "BuildCancelled",
    "ContextImage",
    "PreparedBuild",
    "build_image",
    "builder_for",
    "check_build_inputs",
    "compose_image_labels",
    "prepare_build",
    "session_services",
]


@dataclass(frozen=True)
class ContextImage:
    """An additional context directory and the image its files are built into first."""

    name: str
    image: str
    request: BuildRequest
    selection: ContextSelection


@dataclass(frozen=True)
class PreparedBuild:
    request: BuildRequest
    selection: ContextSelection
    contexts: tuple[ContextImage, ...] = ()

    @property
    def digest(self) -> str:
        if not self.contexts:
            return self.selection.digest
        parts = [self.selection.digest, *(f"{c.name}={c.selection.digest}" for c in self.contexts)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _config_file(loaded: LoadedProject) -> str:
    return ", ".join(loaded.config_files) or "compose file"


def prepare_build(loaded: LoadedProject, service: str) -> PreparedBuild:
    """The service's build request and context selection; BuildContextError names the key."""
    request = parse_build_request(loaded.project, service, _config_file(loaded))
    contexts = []
    for name, directory, image in request.context_dirs:
        _check_context_dir(request, name, directory)
        context_request = request.for_context_dir(directory)
        contexts.append(ContextImage(name, image, context_request, select_context(context_request)))
    return PreparedBuild(request, select_context(request), tuple(contexts))


def _check_context_dir(request: BuildRequest, name: str, directory: str) -> None:
    if not Path(directory).is_dir():
        raise BuildContextError(
            f"{request.config_file}: services.{request.service}.build.additional_contexts."
            f"{name}: {directory} does not exist or is not a directory"
        )


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
            _check_session_inputs(request, where, loaded.environment)
            for name, directory, _ in request.context_dirs:
                _check_context_dir(request, name, directory)


def _check_session_inputs(request: BuildRequest, where: str, environment: dict[str, str]) -> None:
    """A secret's file or variable, an agent's socket: missing ones fail before building,
    naming the key (never a value)."""
    for secret_id, kind, source in request.secrets:
        if kind == "file" and not Path(source).is_file():
            raise BuildContextError(
                f"{where}.secrets: the file {source} of secret {secret_id!r} does not exist"
            )
        if kind == "environment" and source not in environment:
            raise BuildContextError(
                f"{where}.secrets: secret {secret_id!r} comes from the environment variable "
                f"{source}, which is not set (in the shell or the project's .env)"
            )
    for ssh_id, value in request.ssh:
        check_ssh_entry(ssh_id, value, where)


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
    on_sent: Callable[[], None] = lambda: None,
) -> str:
    """Build the service's image as `tag` and return its id; BuildError names the failing
    step, BuildCancelled says the build stopped because `cancelled` was set. `on_sent` is
    called once the whole context has been sent."""
    prepared = prepared or prepare_build(loaded, service_name)
    chosen = builder_for(client, builder)
    if chosen is Builder.CLASSIC and prepared.request.needs_session:
        key = "secrets" if prepared.request.secrets else "ssh"
        raise BuildContextError(
            f"{prepared.request.config_file}: services.{service_name}.build.{key}: the "
            "classic builder was chosen (DOCKER_BUILDKIT=0 or x-composewatch.builder: "
            "classic), and only BuildKit takes build secrets and ssh agents. Way out: unset "
            "DOCKER_BUILDKIT or set the builder to auto."
        )
    labels = {**compose_image_labels(loaded.project.name, service_name, chosen), **(labels or {})}
    digest = f"{chosen}:{prepared.digest}:{sorted((labels or {}).items())}"
    with _shared.lock(digest):
        image = _shared.images.get(digest)
        if image is not None and _tag(client, image, tag):
            on_log(f"same build as another service: using image {image[:19]}")
            return image
        for context in prepared.contexts:
            run_build(
                client.api,
                context.request,
                context.selection,
                builder=chosen,
                tag=context.image,
                on_log=_prefixed(on_log, f"(context {context.name}) "),
                cancelled=cancelled,
                labels=labels,
            )
        with session_services(prepared.request, loaded.environment) as services:
            image = run_build(
                client.api,
                prepared.request,
                prepared.selection,
                builder=chosen,
                tag=tag,
                on_log=on_log,
                cancelled=cancelled,
                labels=labels,
                session_services=services,
                on_sent=on_sent,
            )
        _shared.images[digest] = image
        return image


def _prefixed(on_log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda line: on_log(prefix + line)


@contextlib.contextmanager
def session_services(request: BuildRequest, environment: dict[str, str]) -> Iterator[list[Service]]:
    """The session services `request` needs beyond registry credentials and the context: its
    secrets (an `environment:` source read from the project's environment, .env included)
    and ssh agents (a private one for key files, stopped on exit)."""
    services: list[Service] = []
    if request.secrets:
        sources = {
            secret_id: SecretSource(file=Path(where))
            if kind == "file"
            else SecretSource(environment=where)
            for secret_id, kind, where in request.secrets
        }
        services.append(secrets_service(sources, environment))
    with agent_sockets(request.ssh, request.service) as agents:
        if agents:
            services.append(ssh_service(agents))
        yield services


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
