"""What an exception raised at the Docker edge means: the engine gone, or one call failed.

docker-py lets the transport's errors through untranslated: a socket that vanished is a
`requests.ConnectionError` (or a bare `FileNotFoundError`/`ConnectionRefusedError` from the
unix adapter), a proxy that drops mid-response a `ChunkedEncodingError` or `ProtocolError`.
None of them is an `APIError`, so each call site used to let them escape.
"""

from __future__ import annotations

import http.client
import socket

import docker.errors
import requests.exceptions
import urllib3.exceptions

from composewatch.errors import ComposewatchError, EngineError

__all__ = ["api_failed", "describe", "engine_lost"]

_TRANSPORT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    ConnectionError,  # refused, reset, aborted, broken pipe
    FileNotFoundError,  # the unix socket file is gone
    socket.timeout,
)


def engine_lost(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the engine did not answer at all."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _TRANSPORT):
            if isinstance(current, FileNotFoundError) and current.filename:
                return str(current.filename).endswith(".sock")
            return True
        if isinstance(current, docker.errors.DockerException) and not isinstance(
            current, docker.errors.APIError
        ):
            # e.g. "Error while fetching server API version": the client could not connect.
            text = str(current)
            if "Connection" in text or "connect" in text:
                return True
        current = current.__cause__ or current.__context__
    return False


def describe(exc: BaseException) -> str:
    """One line for the user: our own messages as they are, others with their type."""
    if isinstance(exc, ComposewatchError):
        return str(exc)
    if engine_lost(exc):
        return f"the Docker engine does not answer ({type(exc).__name__})"
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def api_failed(action: str, err: Exception) -> EngineError:
    """An engine API call's failure, as the error composewatch shows: what it was doing, and
    the engine's explanation."""
    explanation = getattr(err, "explanation", None) or str(err)
    return EngineError(f"{action} failed: {explanation}")
