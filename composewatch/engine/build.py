"""Image builds through the engine's build API: BuildKit (`version=2`) or the classic builder.

Both take the same context selection (made by `buildcontext`) and give the same things back:
log lines as they come, the image id, or a BuildError naming the failing step with its last
lines. A BuildKit build runs inside a session (`engine.buildsession`) that answers the
engine's calls back: registry credentials for a private `FROM` or `cache_from`, the context
itself (only the files the engine lacks), and the `session_services` the request needs
(secrets, ssh agents). The classic builder, or an engine refusing the session, gets the
context as a tar, streamed as it is read.

Cancelling a build (a newer save superseded it) asks the engine to stop the solve
(`POST /build/cancel?id=`) and closes the response, so nothing keeps running on the engine.
It works from the moment the request is sent: the engine answers a build's request only once
the build prints, and a storm of saves would otherwise leave one build per save running on
the engine (the next build, even the next `up`'s, waits behind them).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import docker
import docker.errors
import requests

from composewatch.core.buildinputs import BuildRequest
from composewatch.engine.buildcontext import ContextSelection, stream_tar
from composewatch.engine.buildhints import before_build_error, registry_hint, syntax_failure
from composewatch.engine.buildsession import JoinedSession, open_build_session
from composewatch.engine.faults import engine_lost
from composewatch.engine.session import Service
from composewatch.engine.trace import BuildProgress, TraceError, parse_trace_aux
from composewatch.errors import BuildError, EngineError

__all__ = ["BuildCancelled", "Builder", "choose_builder", "run_build"]

_TAIL = 15
_CLASSIC_STEP = re.compile(r"^Step \d+/\d+ : ")
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
    session_services: Sequence[Service] = (),
    on_sent: Callable[[], None] = lambda: None,
) -> str:
    """Build and return the image id; BuildError on failure, BuildCancelled when cancelled.
    A BuildKit build gets a session offering registry credentials and `session_services`.
    `on_sent` is called once the whole context has been sent (what "context" measures: not
    the wait for the engine's first line, which a busy engine makes long)."""
    with contextlib.ExitStack() as stack:
        joined = None
        if builder is Builder.BUILDKIT:
            joined = open_build_session(api, request, selection, session_services, stack, on_log)
        image = _run_build(
            api, request, selection, builder=builder, tag=tag, on_log=on_log,
            cancelled=cancelled, labels=labels, joined=joined, on_sent=on_sent,
        )  # fmt: skip
        if joined is not None:
            stats = joined.stats
            on_log(
                f"context: {stats.sent_files} of {stats.files} files sent through the session "
                f"({stats.sent_bytes} bytes; the engine had the others)"
            )
        return image


def _run_build(
    api: docker.APIClient,
    request: BuildRequest,
    selection: ContextSelection,
    *,
    builder: Builder,
    tag: str,
    on_log: Callable[[str], None],
    cancelled: threading.Event | None,
    labels: dict[str, str] | None,
    joined: JoinedSession | None,
    on_sent: Callable[[], None],
) -> str:
    build_id = uuid.uuid4().hex
    params = _build_params(request, selection.dockerfile, builder, tag, labels, build_id)
    body: Iterator[bytes] | bytes
    if joined is not None:  # the engine asks the session for the context as it builds
        params.update(session=joined.id, remote="client-session", dockerfile=joined.dockerfile)
        body = b""
        on_sent()
    else:
        body = _unless(cancelled, stream_tar(selection), on_sent)
    url = f"{api.base_url}/v{api.api_version}/build"
    finished = threading.Event()
    answered: list[requests.Response] = []  # the response, once the engine has answered
    if cancelled is not None:
        threading.Thread(
            target=_cancel_when_set,
            args=(api, answered, build_id, builder, cancelled, finished),
            daemon=True,
        ).start()
    try:
        response = api.post(
            url,
            params=params,
            data=body,
            headers={"Content-Type": "application/x-tar"},
            stream=True,
            timeout=None,
        )
    except (requests.exceptions.RequestException, BuildCancelled) as exc:
        finished.set()
        if cancelled is not None and cancelled.is_set():
            raise BuildCancelled(request.service) from None
        if engine_lost(exc):
            raise  # not a failed build: the engine is gone, and the core waits for it
        raise BuildError(request.service, "sending the build context", [str(exc)]) from None
    answered.append(response)
    if response.status_code >= 400:
        finished.set()
        message = _error_body(response)
        response.close()
        raise before_build_error(request, message)
    return _follow(response, request, builder, on_log, cancelled, finished)


def _build_params(
    request: BuildRequest,
    dockerfile: str,
    builder: Builder,
    tag: str,
    labels: dict[str, str] | None,
    build_id: str,
) -> dict[str, str]:
    """The build API's query parameters."""
    params: dict[str, str] = {
        **request.engine_params(),
        "t": tag,
        "dockerfile": dockerfile,
        "rm": "1",
        "forcerm": "1",
    }
    if labels:
        params["labels"] = json.dumps({**dict(request.labels), **labels})
    if builder is Builder.BUILDKIT:
        params["version"] = "2"
        params["buildid"] = build_id
    return params


def _follow(
    response: requests.Response,
    request: BuildRequest,
    builder: Builder,
    on_log: Callable[[str], None],
    cancelled: threading.Event | None,
    finished: threading.Event,
) -> str:
    """Read the build's progress to its image id; a cancel shows as BuildCancelled."""
    try:
        if builder is Builder.BUILDKIT:
            image = _follow_buildkit(response, request, on_log)
        else:
            image = _follow_classic(response, request, on_log)
    except (requests.exceptions.RequestException, OSError, ValueError, AttributeError) as exc:
        # (A response closed under its reader, on cancel, can fail in urllib3 with an
        # AttributeError.)
        if cancelled is not None and cancelled.is_set():
            raise BuildCancelled(request.service) from None
        if isinstance(exc, AttributeError):
            raise
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
            if progress.failed_step is None or syntax_failure(request, error):
                raise before_build_error(request, error)
            if error not in tail:
                tail.append(error)
            hint = registry_hint(error)
            if hint is not None:
                tail.append(hint)
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
                raise before_build_error(request, error)
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


def _unless(
    cancelled: threading.Event | None, chunks: Iterator[bytes], on_sent: Callable[[], None]
) -> Iterator[bytes]:
    """The context's chunks, until the build is cancelled: the upload stops there (the
    engine's build fails on the cut body). `on_sent` once the last chunk is taken."""
    for chunk in chunks:
        if cancelled is not None and cancelled.is_set():
            raise BuildCancelled("")
        yield chunk
    on_sent()


def _cancel_when_set(
    api: docker.APIClient,
    answered: list[requests.Response],
    build_id: str,
    builder: Builder,
    cancelled: threading.Event,
    finished: threading.Event,
) -> None:
    """Once `cancelled` is set: ask the engine to stop the build (BuildKit knows it by its
    id from the moment it starts, answered or not), and close the response under its reader
    as soon as there is one."""
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
        while not answered and not finished.wait(0.05):
            pass  # the engine has not answered yet: the request's own end comes first
        if answered:
            _shutdown(answered[0])
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
