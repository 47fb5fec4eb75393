"""A BuildKit session: the gRPC services a build calls back on the client, in Python.

A BuildKit build asks its client for what only the client has: registry credentials for a
`FROM`, the value of a build secret, the ssh agent, local files. The docker CLI, buildx and
compose offer these through a *session*: `POST /session` with `Upgrade: h2c` and headers
naming the session and each gRPC method offered; the engine answers `101 Switching
Protocols`, keeps the connection, and from then on is the HTTP/2 *client* on it, calling
those methods on us. A build joins the session with `POST /build?version=2&session=ID`.

So here we are the HTTP/2 server on a socket we dialled ourselves (`engine.grpcserver`
serves the calls):

    with Session(dial, [auth_service(), health_service()], api_version="1.41") as session:
        post("/build", params={"version": "2", "session": session.id, ...})

The engine checks the session's health every second and drops it when a check goes
unanswered for 10 s; each call runs in its own thread, so a long stream never delays one.
"""

from __future__ import annotations

import socket
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import requests

from composewatch.engine.grpcserver import (
    Call,
    GrpcError,
    GrpcServer,
    Handler,
    Service,
    StatusCode,
    frame_message,
    unary,
)
from composewatch.errors import EngineError

__all__ = [
    "Call",
    "GrpcError",
    "Handler",
    "Service",
    "Session",
    "SessionError",
    "StatusCode",
    "engine_dialer",
    "frame_message",
    "health_service",
    "unary",
]

_HEADER_ID = "X-Docker-Expose-Session-Uuid"
_HEADER_NAME = "X-Docker-Expose-Session-Name"
_HEADER_KEY = "X-Docker-Expose-Session-Sharedkey"
_HEADER_METHOD = "X-Docker-Expose-Session-Grpc-Method"


class SessionError(EngineError):
    """The engine refused the session, or the connection broke while opening it."""


def health_service() -> Service:
    """`grpc.health.v1.Health`: the engine checks the session every second and drops it on
    an error or a 10 s silence. HealthCheckResponse{status: SERVING (1)}."""
    return Service("grpc.health.v1.Health", {"Check": unary(lambda _req, _md: b"\x08\x01")})


class Session:
    """An open BuildKit session (a context manager): `id` joins a build to it."""

    def __init__(
        self,
        dial: Callable[[], socket.socket],
        services: Sequence[Service],
        *,
        api_version: str,
        host: str = "docker",
        name: str = "composewatch",
        shared_key: str = "",
    ) -> None:
        self.id = uuid.uuid4().hex
        self._dial = dial
        self._handlers: dict[str, Handler] = {}
        for service in services:
            self._handlers.update(service.paths())
        self._api_version = api_version
        self._host = host
        self._name = name
        # BuildKit keeps the files a session sent under this key, and diffs the next transfer
        # against them: a key stable per build context means a save sends only what changed.
        self._shared_key = shared_key or self.id
        self._server: GrpcServer | None = None

    @property
    def failure(self) -> str | None:
        """Why the connection ended, if it ended before `close()`."""
        return self._server.failure if self._server is not None else None

    def __enter__(self) -> Session:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Dial the engine, upgrade the connection to this session, start serving."""
        try:
            sock = self._dial()
        except Exception as exc:  # the transport's own errors too (ssh, TLS)
            raise SessionError(f"cannot reach the engine to open a build session: {exc}") from None
        try:
            sock.sendall(self._upgrade_request())
            rest = _read_upgrade_response(sock)
        except (OSError, SessionError) as exc:
            sock.close()
            if isinstance(exc, SessionError):
                raise
            raise SessionError(f"the engine broke the build session off: {exc}") from None
        self._server = GrpcServer(sock, self._handlers, f"buildkit-session-{self.id[:8]}")
        self._server.start(rest)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def _upgrade_request(self) -> bytes:
        lines = [
            f"POST /v{self._api_version}/session HTTP/1.1",
            f"Host: {self._host}",
            "User-Agent: composewatch",
            "Content-Length: 0",
            "Connection: Upgrade",
            "Upgrade: h2c",
            f"{_HEADER_ID}: {self.id}",
            f"{_HEADER_NAME}: {self._name}",
            f"{_HEADER_KEY}: {self._shared_key}",
            *(f"{_HEADER_METHOD}: {path}" for path in sorted(self._handlers)),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_upgrade_response(sock: socket.socket) -> bytes:
    """Read the engine's answer to the upgrade; return the bytes after its head (the start of
    the engine's HTTP/2 preface, when it came in the same read)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            raise SessionError("the engine closed the connection instead of opening a session")
        buffer += chunk
        if len(buffer) > 65536:
            raise SessionError("the engine's answer to the session request has no end")
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        body = rest.decode("utf-8", "replace").strip()
        raise SessionError(
            f"the engine refused the build session ({status_line.strip()}): {body[:300]}"
        )
    return rest


def engine_dialer(api: Any) -> tuple[Callable[[], socket.socket], str]:
    """A function opening a new raw connection to the engine `api` (a docker.APIClient)
    talks to, whatever the transport (unix socket, TCP, TLS, ssh), and the Host header to
    send. It borrows the client's own connection pool, so the transport's settings (the
    socket path, the TLS certificates, the ssh command) are the client's."""
    url = f"{api.base_url}/v{api.api_version}/session"
    netloc = urllib.parse.urlsplit(api.base_url).netloc or "docker"

    def dial() -> socket.socket:
        adapter = api.get_adapter(url)
        if type(adapter).__module__.startswith("requests"):
            # TCP or TLS: requests' own adapter, which wants the request for its TLS context.
            request = requests.Request("POST", url).prepare()
            pool = adapter.get_connection_with_tls_context(request, api.verify, cert=api.cert)
        else:
            pool = adapter.get_connection(url)  # docker-py's unix, ssh and npipe adapters
        conn = pool._new_conn()
        conn.connect()
        sock: socket.socket = conn.sock
        sock.settimeout(None)
        return sock

    return dial, netloc
