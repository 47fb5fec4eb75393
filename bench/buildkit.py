"""The script floor's BuildKit build, for Dockerfiles the classic builder cannot build.

The docker CLI here (28.x) has no buildx plugin, and without it `DOCKER_BUILDKIT=1 docker build`
refuses ("BuildKit is enabled but the buildx component is missing or broken"). The engine
itself builds with BuildKit when the context is posted to `POST /build?version=2` as a tar body,
no session needed, so the floor does just that: the one request a script would send with curl.

The tar holds what `.dockerignore` lets through (docker-py's matcher), plus the Dockerfile and
`.dockerignore` themselves, as the CLI sends them. It is written in GNU format: BuildKit's
context detection misreads a PAX header as a Dockerfile.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import tarfile
import time
from pathlib import Path
from urllib.parse import urlencode

from docker.utils.build import exclude_paths

__all__ = ["BuildKitError", "build", "context_tar"]

SOCKET = "/var/run/docker.sock"
API = "v1.41"


class BuildKitError(RuntimeError):
    """The engine refused the build or the build failed."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout_s: float) -> None:
        super().__init__("localhost", timeout=timeout_s)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _ignore_patterns(context: Path) -> list[str]:
    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return []
    lines = ignore.read_text(encoding="utf-8-sig").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def context_tar(context: Path, dockerfile: str = "Dockerfile") -> bytes:
    """The build context as the CLI would send it, as GNU tar bytes (held whole: bench
    contexts are small)."""
    patterns = [*_ignore_patterns(context), "!.dockerignore"]
    members = exclude_paths(str(context), patterns, dockerfile)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(members):
            if (context / name).exists() or (context / name).is_symlink():
                tar.add(context / name, arcname=name, recursive=False)
    return buffer.getvalue()


def build(
    context: Path, tag: str, labels: dict[str, str], timeout_s: float = 300.0
) -> tuple[str, list[tuple[str, float]]]:
    """Build with the engine's BuildKit; the image id and the steps timed (context, build)."""
    began = time.monotonic()
    body = context_tar(context)
    tarred = time.monotonic()
    query = urlencode({"version": "2", "t": tag, "labels": json.dumps(labels), "rm": "1"})
    conn = _UnixConnection(SOCKET, timeout_s)
    try:
        headers = {"Content-Type": "application/x-tar"}
        conn.request("POST", f"/{API}/build?{query}", body=body, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise BuildKitError(f"POST /build answered {response.status}: {response.read()!r}")
        image = None
        errors = []
        for raw in response:
            line = raw.strip()
            if not line:
                continue
            message = json.loads(line)
            if "error" in message:
                errors.append(str(message["error"]))
            aux = message.get("aux")
            if isinstance(aux, dict) and message.get("id") == "moby.image.id":
                image = str(aux.get("ID"))
    finally:
        conn.close()
    if errors or image is None:
        raise BuildKitError("; ".join(errors) or "the engine sent no image id")
    done = time.monotonic()
    return image, [("context", tarred - began), ("build", done - tarred)]
