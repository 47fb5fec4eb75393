"""Image builds through the engine's classic builder, streaming the log as it comes.

`context_digest` lets the caller skip a build whose context did not change: it hashes the
path, mtime and size of every file the build would send (the .dockerignore honoured), which
is far cheaper than the tar docker-py makes of the same files.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.utils.build import exclude_paths

from composewatch.compose.model import LoadedProject
from composewatch.errors import BuildContextError, BuildError, EngineError

__all__ = [
    "BuildCancelled",
    "build_image",
    "check_build_inputs",
    "context_digest",
    "read_dockerignore",
]

_TAIL = 15
_STEP = re.compile(r"^Step \d+/\d+ : ")


class BuildCancelled(EngineError):
    """The build was superseded (its `cancelled` event was set) and stopped."""

    def __init__(self, service: str) -> None:
        self.service = service
        super().__init__(f"build of service {service!r} was cancelled")


def read_dockerignore(context: Path) -> list[str]:
    try:
        # as mapping.load_watch_targets reads it: a non-UTF-8 byte must not stop a build
        lines = (context / ".dockerignore").read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [s for line in lines if (s := line.strip()) and not s.startswith("#")]


def context_digest(context: Path | str, dockerfile: str, ignore: Iterable[str]) -> str:
    """A digest of what a build of `context` would send: path, mtime and size of each file
    not excluded by `ignore` (.dockerignore patterns), plus the Dockerfile's name."""
    root = Path(context)
    digest = hashlib.sha256(dockerfile.encode())
    # The same file selection docker-py's tar makes for the build (dockerfile kept).
    for rel in sorted(exclude_paths(str(root), [p for p in ignore if p], dockerfile)):
        st = os.lstat(root / rel)
        digest.update(f"{rel}\0{st.st_mode}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return digest.hexdigest()


def check_build_inputs(loaded: LoadedProject, services: Iterable[str]) -> None:
    """Fail before anything is touched when a service's context or Dockerfile is missing."""
    for service in services:
        if loaded.project.services[service].build is not None:
            _check_context(loaded, service)


def _check_context(loaded: LoadedProject, service: str) -> tuple[Path, str]:
    """The context dir and Dockerfile, checked before Docker is asked anything."""
    files = ", ".join(loaded.config_files) or "compose file"
    build = loaded.project.services[service].build
    if build is None:
        raise BuildContextError(f"{files}: services.{service}.build: the service has no build")
    context = Path(build.context)
    if not context.is_dir():
        raise BuildContextError(
            f"{files}: services.{service}.build.context: build context {context} does not "
            "exist or is not a directory"
        )
    dockerfile = build.dockerfile or "Dockerfile"
    if not (context / dockerfile).is_file():
        raise BuildContextError(
            f"{files}: services.{service}.build.dockerfile: Dockerfile {context / dockerfile} "
            "does not exist"
        )
    return context, dockerfile


def build_image(
    client: docker.DockerClient,
    loaded: LoadedProject,
    service_name: str,
    *,
    tag: str,
    on_log: Callable[[str], None],
    cancelled: threading.Event | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """Build the service's image as `tag` and return its id; BuildError names the failing
    step, BuildCancelled says the build stopped because `cancelled` was set. `labels` are
    added to the image's own (composewatch records the context digest there)."""
    context, dockerfile = _check_context(loaded, service_name)
    build = loaded.project.services[service_name].build
    assert build is not None
    try:
        stream = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=dict(build.args or {}),
            target=build.target,
            labels={**(build.labels or {}), **(labels or {})} or None,
            decode=True,
            rm=True,
            forcerm=True,
            nocache=bool(build.no_cache),
        )
    except docker.errors.APIError as err:
        raise BuildError(service_name, "sending the build context", [str(err)]) from err
    return _follow(stream, service_name, on_log, cancelled)


def _follow(
    stream: Iterable[dict[str, Any]],
    service: str,
    on_log: Callable[[str], None],
    cancelled: threading.Event | None,
) -> str:
    tail: deque[str] = deque(maxlen=_TAIL)
    step = "the first step"
    image_id: str | None = None
    partial = ""
    try:
        for chunk in stream:
            if cancelled is not None and cancelled.is_set():
                raise BuildCancelled(service)
            if "error" in chunk:
                error = str(chunk.get("error", "")).rstrip()
                if error:
                    tail.append(error)
                    on_log(error)
                raise BuildError(service, step, list(tail))
            if "aux" in chunk and isinstance(chunk["aux"], dict):
                image_id = chunk["aux"].get("ID", image_id)
            # The engine splits lines across chunks; emit whole lines only.
            partial += str(chunk.get("stream", ""))
            *lines, partial = partial.split("\n")
            for line in lines:
                if _STEP.match(line):
                    step = line.strip()
                tail.append(line)
                on_log(line)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:  # stops reading the response, so a cancelled build ends
            close()
    if partial:
        on_log(partial)
    if image_id is None:
        # The classic builder's last line is "Successfully built <short id>".
        match = re.search(r"Successfully built ([0-9a-f]+)", "\n".join(tail))
        if match is None:
            raise BuildError(service, step, list(tail))
        image_id = match.group(1)
    return image_id
