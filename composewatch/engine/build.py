"""Image builds through the engine's build API: BuildKit (`version=2`) or the classic builder.

Both take the same context tar (made by `buildcontext`, streamed as it is read) and give the
same things back: log lines as they come, the image id, or a BuildError naming the failing
step with its last lines. No BuildKit session is opened: plain builds need none, and the keys
that do (`secrets`, `ssh`) are refused earlier, in `core.buildinputs`.

Cancelling a build (a newer save superseded it) asks the engine to stop the solve
(`POST /build/cancel?id=`) and closes the response, so nothing keeps running on the engine.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import docker
import docker.errors
import requests

from composewatch.compose.textfile import read_input_bytes
from composewatch.core.buildinputs import BuildRequest
from composewatch.engine.buildcontext import ContextSelection, stream_tar
from composewatch.engine.faults import engine_lost
from composewatch.engine.trace import BuildProgress, TraceError, parse_trace_aux
from composewatch.errors import BuildError, ComposeFileError, EngineError

__all__ = ["BuildCancelled", "Builder", "choose_builder", "run_build"]

_TAIL = 15
_CLASSIC_STEP = re.compile(r"^Step \d+/\d+ : ")
_LINE = re.compile(r"\bline (\d+)\b")
_MIN_BUILDKIT_API = (1, 39)  # Engine 18.09, the first with BuildKit behind /build?version=2


class Builder(StrEnum):
    BUILDKIT = "buildkit"
    CLASSIC = "classic"


class BuildCancelled(EngineError):
    """The build was superseded (its `cancelled` event was set) and stopped."""

    def __init__(self, service: str) -> None:
        self.service = service
        super().__init__(f"build of service {service!r} was cancelled")


def choose_builder(api_version: str, os_type: str, requested: str | None) -> Builder:
    """BuildKit wherever the engine offers it (as compose does), unless `requested` says
    classic (`DOCKER_BUILDKIT=0` or the `builder` setting). Pure."""
    value = (requested or "").strip().lower()
    if value in ("0", "false", "classic"):
        return Builder.CLASSIC
    major, _, minor = api_version.partition(".")
    offered = (
        os_type.lower() == "linux"
        and major.isdigit()
        and minor.isdigit()
        and (int(major), int(minor)) >= _MIN_BUILDKIT_API
    )
    if value in ("1", "true", "buildkit") and not offered:
        raise EngineError(
            f"BuildKit was requested but the engine (API {api_version}, {os_type}) does not "
            "offer it; unset DOCKER_BUILDKIT or set x-composewatch.builder to classic"
        )
    return Builder.BUILDKIT if offered else Builder.CLASSIC


@dataclass
class _Stream:
    """What the engine said during one build."""

    image_id: str | None = None
    error: str | None = None


def run_build(
    api: docker.APIClient,
    request: BuildRequest,
    selection: ContextSelection,
    *,
    builder: Builder,
    tag: str,
    on_log: Callable[[str], None],
    cancelled: threading.Event | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """Build and return the image id; BuildError on failure, BuildCancelled when cancelled."""
    build_id = uuid.uuid4().hex
    params: dict[str, str] = {
        **request.engine_params(),
        "t": tag,
        "dockerfile": selection.dockerfile,
        "rm": "1",
        "forcerm": "1",
    }
    if labels:
        params["labels"] = json.dumps({**dict(request.labels), **labels})
    if builder is Builder.BUILDKIT:
        params["version"] = "2"
        params["buildid"] = build_id
    url = f"{api.base_url}/v{api.api_version}/build"
    try:
        response = api.post(
            url,
            params=params,
            data=stream_tar(selection),
            headers={"Content-Type": "application/x-tar"},
            stream=True,
            timeout=None,
        )
    except requests.exceptions.RequestException as exc:
        if cancelled is not None and cancelled.is_set():
            raise BuildCancelled(request.service) from None
        if engine_lost(exc):
            raise  # not a failed build: the engine is gone, and the core waits for it
        raise BuildError(request.service, "sending the build context", [str(exc)]) from None
    if response.status_code >= 400:
        message = _error_body(response)
        response.close()
        raise _before_build_error(request, message)

    finished = threading.Event()
    if cancelled is not None:
        threading.Thread(
            target=_cancel_when_set,
            args=(api, response, build_id, builder, cancelled, finished),
            daemon=True,
        ).start()
    try:
        if builder is Builder.BUILDKIT:
            image = _follow_buildkit(response, request, on_log)
        else:
            image = _follow_classic(response, request, on_log)
    except (requests.exceptions.RequestException, OSError, ValueError) as exc:
        if cancelled is not None and cancelled.is_set():
            raise BuildCancelled(request.service) from None
        raise BuildError(request.service, "reading the build's progress", [str(exc)]) from None
    except BuildError:
        if cancelled is not None and cancelled.is_set():
            raise BuildCancelled(request.service) from None
        raise
    finally:
        finished.set()
        response.close()
    if cancelled is not None and cancelled.is_set():
        raise BuildCancelled(request.service)
    return image


def _messages(response: requests.Response) -> Iterator[dict[str, Any]]:
    """The JSON messages of a build response, as they arrive."""
    decoder = json.JSONDecoder()
    buffer = ""
    for chunk in response.iter_content(chunk_size=None):
        buffer += chunk.decode("utf-8", "replace")
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                message, end = decoder.raw_decode(buffer)
            except ValueError:
                break  # incomplete: wait for more
            buffer = buffer[end:]
            if isinstance(message, dict):
                yield message


def _follow_buildkit(
    response: requests.Response, request: BuildRequest, on_log: Callable[[str], None]
) -> str:
    progress = BuildProgress()
    image_id: str | None = None
    for message in _messages(response):
        if message.get("id") == "moby.buildkit.trace":
            try:
                lines = progress.update(parse_trace_aux(message.get("aux")))
            except TraceError as exc:
                lines = [f"(unreadable progress message: {exc})"]
            for line in lines:
                on_log(line)
        elif message.get("id") == "moby.image.id":
            aux = message.get("aux")
            if isinstance(aux, dict):
                image_id = str(aux.get("ID") or "") or image_id
        elif "error" in message:
            error = _error_text(message)
            on_log(error)
            step, tail = progress.failure()
            if progress.failed_step is None or _syntax_failure(request, error):
                raise _before_build_error(request, error)
            if error not in tail:
                tail.append(error)
            raise BuildError(request.service, step, tail)
        elif "stream" in message:
            for line in str(message["stream"]).splitlines():
                on_log(line)
    if image_id is None:
        raise BuildError(request.service, "the end of the build", ["the engine sent no image id"])
    return image_id


def _follow_classic(
    response: requests.Response, request: BuildRequest, on_log: Callable[[str], None]
) -> str:
    tail: deque[str] = deque(maxlen=_TAIL)
    step = "the first step"
    image_id: str | None = None
    partial = ""
    for message in _messages(response):
        if "error" in message:
            error = _error_text(message)
            tail.append(error)
            on_log(error)
            if step == "the first step" and not any(_CLASSIC_STEP.match(t) for t in tail):
                raise _before_build_error(request, error)
            raise BuildError(request.service, step, list(tail))
        aux = message.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = str(aux["ID"])
        # The engine splits lines across messages; emit whole lines only.
        partial += str(message.get("stream", ""))
        *lines, partial = partial.split("\n")
        for line in lines:
            if _CLASSIC_STEP.match(line):
                step = line.strip()
            tail.append(line)
            on_log(line)
    if partial:
        on_log(partial)
    if image_id is None:
        match = re.search(r"Successfully built ([0-9a-f]+)", "\n".join(tail))
        if match is None:
            raise BuildError(request.service, step, list(tail))
        image_id = match.group(1)
    return image_id


def _cancel_when_set(
    api: docker.APIClient,
    response: requests.Response,
    build_id: str,
    builder: Builder,
    cancelled: threading.Event,
    finished: threading.Event,
) -> None:
    while not finished.is_set():
        if not cancelled.wait(0.05):
            continue
        if finished.is_set():
            return
        if builder is Builder.BUILDKIT:
            # Closing the response below ends the build too, should this call fail.
            with contextlib.suppress(requests.exceptions.RequestException):
                api.post(
                    f"{api.base_url}/v{api.api_version}/build/cancel",
                    params={"id": build_id},
                    timeout=5,
                ).close()
        _shutdown(response)
        return


def _shutdown(response: requests.Response) -> None:
    """Close the response's socket under the thread reading it, so the read ends now."""
    try:
        sock = response.raw._fp.fp.raw._sock  # type: ignore[union-attr]
        sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError):
        pass
    response.close()


def _error_body(response: requests.Response) -> str:
    try:
        body = response.json()
        return str(body.get("message") or body)
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"


def _error_text(message: dict[str, Any]) -> str:
    detail = message.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"]).rstrip()
    return str(message.get("error", "")).rstrip()


def _before_build_error(request: BuildRequest, message: str) -> BuildError:
    """An error the engine answered before building anything: most often the Dockerfile's
    syntax, or a `# syntax=` frontend it could not pull."""
    where = request.dockerfile_path if request.dockerfile_inline is None else "dockerfile_inline"
    syntax = _syntax_failure(request, message)
    if syntax is not None:
        return BuildError(
            request.service,
            f"loading the Dockerfile frontend {syntax}",
            [
                f"{where}, line 1: `# syntax={syntax}` makes BuildKit pull that frontend image "
                "from a registry, which failed; remove the line to build with the engine's "
                "built-in Dockerfile frontend, or make the image available to the engine.",
                message,
            ],
        )
    line = _LINE.search(message)
    step = f"{where}, line {line.group(1)}" if line else f"reading {where}"
    return BuildError(request.service, step, [message])


def _syntax_failure(request: BuildRequest, message: str) -> str | None:
    """The `# syntax=` frontend, when the error is about getting it."""
    syntax = _syntax_directive(request)
    if syntax is None or not any(
        s in message for s in ("gateway", "resolve", "pull", "dial", "lookup", "no such host")
    ):
        return None
    return syntax


def _syntax_directive(request: BuildRequest) -> str | None:
    try:
        text = (
            request.dockerfile_inline
            if request.dockerfile_inline is not None
            else read_input_bytes(request.dockerfile_path).decode("utf-8", "replace")
        )
    except ComposeFileError:  # unreadable, special or huge: the build itself says so
        return None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            return None
        match = re.match(r"#\s*syntax\s*=\s*(\S+)", stripped, re.IGNORECASE)
        if match:
            return match.group(1)
    return None
