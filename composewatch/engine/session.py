"""A BuildKit session: the gRPC services a build calls back on the client, in Python.

A BuildKit build asks its client for what only the client has: registry credentials for a
`FROM`, the value of a build secret, the ssh agent, local files. The docker CLI, buildx and
compose offer these through a *session*: `POST /session` with `Upgrade: h2c` and headers
naming the session and each gRPC method offered; the engine answers `101 Switching
Protocols`, keeps the connection, and from then on is the HTTP/2 *client* on it, calling
those methods on us. A build joins the session with `POST /build?version=2&session=ID`.

So here we are the HTTP/2 server on a socket we dialled ourselves. `h2` does the HTTP/2
framing; gRPC's own framing is small enough to do here: each message is a 5-byte prefix (a
compression flag, always 0 here, and a big-endian length) and the body; a call ends with
trailers carrying `grpc-status` (0 = OK, 5 = NotFound, 12 = Unimplemented...).

    with Session(dial, [auth_service(), health_service()], api_version="1.41") as session:
        post("/build", params={"version": "2", "session": session.id, ...})

Each call runs in its own thread (a `Call` to read and write messages), so a long stream (the
ssh agent, a file transfer) never holds up the health checks the engine sends every second;
the engine drops the session when one goes unanswered for 10 s.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

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


# gRPC status codes (google.golang.org/grpc/codes) this module sends.
class StatusCode:
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    PERMISSION_DENIED = 7
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14


_HEADER_ID = "X-Docker-Expose-Session-Uuid"
_HEADER_NAME = "X-Docker-Expose-Session-Name"
_HEADER_KEY = "X-Docker-Expose-Session-Sharedkey"
_HEADER_METHOD = "X-Docker-Expose-Session-Grpc-Method"
_MAX_MESSAGE = 16 << 20  # a message larger than this is refused, not buffered


class SessionError(EngineError):
    """The engine refused the session, or the connection broke while opening it."""


class GrpcError(Exception):
    """Raised by a handler to end its call with a gRPC status other than OK. The message is
    sent to the engine (and may reach the build's log): it must never hold a secret."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def frame_message(message: bytes) -> bytes:
    """One gRPC message on the wire: uncompressed flag, big-endian length, body."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


class Call:
    """One gRPC call the engine made: its metadata, the messages it sends, a way to answer."""

    def __init__(
        self, session: Session, stream_id: int, path: str, headers: list[tuple[str, str]]
    ) -> None:
        self.path = path
        self.headers = headers  # every header, in order: gRPC sends each value of a key apart
        self.metadata = dict(headers)
        self._session = session
        self._stream_id = stream_id
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._pending = b""
        self.headers_sent = False
        self.closed = threading.Event()

    def receive(self) -> bytes | None:
        """The engine's next message, or None when it has sent its last (or the call ended)."""
        return self._inbox.get()

    def values(self, name: str) -> list[str]:
        """Every value of metadata key `name` (lower case), in the order sent."""
        return [value for key, value in self.headers if key == name]

    def messages(self) -> Iterable[bytes]:
        while (message := self.receive()) is not None:
            yield message

    def send(self, message: bytes) -> None:
        """Send one message to the engine (blocks while HTTP/2 flow control says wait)."""
        self._session._send_message(self, frame_message(message))

    def send_all(self, messages: Iterable[bytes]) -> None:
        """Send several messages in as few frames as flow control allows."""
        self._session._send_message(self, b"".join(frame_message(m) for m in messages))

    # Called by the session's reader thread.
    def _feed(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= 5:
            size = int.from_bytes(self._pending[1:5], "big")
            if self._pending[0] != 0:
                raise GrpcError(StatusCode.UNIMPLEMENTED, "compressed messages are not accepted")
            if size > _MAX_MESSAGE:
                raise GrpcError(StatusCode.INVALID_ARGUMENT, f"message of {size} bytes")
            if len(self._pending) < 5 + size:
                return
            self._inbox.put(self._pending[5 : 5 + size])
            self._pending = self._pending[5 + size :]

    def _end(self) -> None:
        self._inbox.put(None)


Handler = Callable[[Call], None]


@dataclass(frozen=True)
class Service:
    """A gRPC service offered to the engine: its full name and a handler per method."""

    name: str  # e.g. "moby.filesync.v1.Auth"
    methods: Mapping[str, Handler] = field(default_factory=dict)

    def paths(self) -> dict[str, Handler]:
        return {f"/{self.name}/{method}": handler for method, handler in self.methods.items()}


def unary(function: Callable[[bytes, Mapping[str, str]], bytes]) -> Handler:
    """A handler for a one-request, one-response method from `function(request, metadata)`."""

    def handle(call: Call) -> None:
        request = call.receive()
        if request is None:
            raise GrpcError(StatusCode.INVALID_ARGUMENT, "no request message")
        call.send(function(request, call.metadata))

    return handle


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
        self._sock: socket.socket | None = None
        self._conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self._lock = threading.Condition()
        self._calls: dict[int, Call] = {}
        self._reader: threading.Thread | None = None
        self._closed = False
        self.failure: str | None = None  # why the connection ended, if not by close()

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
        self._sock = sock
        try:
            sock.sendall(self._upgrade_request())
            rest = _read_upgrade_response(sock)
        except (OSError, SessionError) as exc:
            sock.close()
            if isinstance(exc, SessionError):
                raise
            raise SessionError(f"the engine broke the build session off: {exc}") from None
        with self._lock:
            self._conn.initiate_connection()
            self._flush()
        self._reader = threading.Thread(
            target=self._serve, args=(rest,), name=f"buildkit-session-{self.id[:8]}", daemon=True
        )
        self._reader.start()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.close_connection()
                self._flush()
            except (OSError, h2.exceptions.ProtocolError):
                pass
            self._lock.notify_all()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

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

    # --- the reader thread -------------------------------------------------------------------

    def _serve(self, first: bytes) -> None:
        assert self._sock is not None
        data = first
        try:
            while True:
                if data:
                    with self._lock:
                        events = self._conn.receive_data(data)
                        self._flush()
                    for event in events:
                        self._on_event(event)
                data = self._sock.recv(65536)
                if not data:
                    break
        except (OSError, h2.exceptions.ProtocolError) as exc:
            if not self._closed:
                self.failure = str(exc) or type(exc).__name__
        finally:
            with self._lock:
                self._closed = True
                calls = list(self._calls.values())
                self._calls.clear()
                self._lock.notify_all()
            for call in calls:
                call.closed.set()
                call._end()

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._start_call(event.stream_id, event.headers or [])
        elif isinstance(event, h2.events.DataReceived):
            with self._lock:
                if event.flow_controlled_length:
                    self._conn.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                    self._flush()
                call = self._calls.get(event.stream_id)
            if call is not None and event.data:
                try:
                    call._feed(event.data)
                except GrpcError as exc:
                    self._finish(call, exc.code, exc.message)
        elif isinstance(event, h2.events.StreamEnded):
            call = self._calls.get(event.stream_id)
            if call is not None:
                call._end()
        elif isinstance(event, h2.events.StreamReset):
            with self._lock:
                call = self._calls.pop(event.stream_id, None)
                self._lock.notify_all()
            if call is not None:
                call.closed.set()
                call._end()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            with self._lock:
                self._lock.notify_all()
        elif isinstance(event, h2.events.ConnectionTerminated):
            raise OSError("the engine closed the session")

    def _start_call(self, stream_id: int, headers: Iterable[tuple[Any, Any]]) -> None:
        pairs = [(str(k).lower(), str(v)) for k, v in headers]
        path = dict(pairs).get(":path", "")
        call = Call(self, stream_id, path, pairs)
        with self._lock:
            self._calls[stream_id] = call
        handler = self._handlers.get(path)
        if handler is None:
            self._finish(call, StatusCode.UNIMPLEMENTED, f"unknown method {path}")
            return
        threading.Thread(
            target=self._run, args=(call, handler), name=f"grpc{path}", daemon=True
        ).start()

    def _run(self, call: Call, handler: Handler) -> None:
        try:
            handler(call)
        except GrpcError as exc:
            self._finish(call, exc.code, exc.message)
        except Exception as exc:  # a handler bug must end its call, not hang the build
            self._finish(call, StatusCode.INTERNAL, f"{type(exc).__name__} in {call.path}")
        else:
            self._finish(call, StatusCode.OK, "")

    # --- writing -------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Send what h2 has queued; the caller holds the lock."""
        data = self._conn.data_to_send()
        if data and self._sock is not None:
            self._sock.sendall(data)

    def _response_headers(self, call: Call) -> None:
        if not call.headers_sent:
            call.headers_sent = True
            self._conn.send_headers(
                call._stream_id, [(":status", "200"), ("content-type", "application/grpc")]
            )

    def _send_message(self, call: Call, data: bytes) -> None:
        with self._lock:
            self._ensure_open(call)
            self._response_headers(call)
            self._flush()
        while data:
            with self._lock:
                while True:
                    self._ensure_open(call)
                    window = min(
                        self._conn.local_flow_control_window(call._stream_id),
                        self._conn.max_outbound_frame_size,
                    )
                    if window > 0:
                        break
                    self._lock.wait()
                self._conn.send_data(call._stream_id, data[:window])
                self._flush()
            data = data[window:]

    def _ensure_open(self, call: Call) -> None:
        if self._closed or call.closed.is_set():
            raise GrpcError(StatusCode.CANCELLED, "the call ended")

    def _finish(self, call: Call, code: int, message: str) -> None:
        """End the call with trailers (or trailers-only headers when nothing was sent)."""
        trailers = [("grpc-status", str(code))]
        if message:
            trailers.append(("grpc-message", urllib.parse.quote(message, safe=" ")))
        with self._lock:
            self._calls.pop(call._stream_id, None)
            if call.closed.is_set() or self._closed:
                return
            call.closed.set()
            try:
                if not call.headers_sent:
                    call.headers_sent = True
                    trailers = [(":status", "200"), ("content-type", "application/grpc"), *trailers]
                self._conn.send_headers(call._stream_id, trailers, end_stream=True)
                self._flush()
            except (OSError, h2.exceptions.ProtocolError):
                pass  # the engine went away or reset the stream: nothing left to tell it
        call._end()


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
        if (
            hasattr(adapter, "get_connection_with_tls_context")
            and not hasattr(adapter, "socket_path")
            and type(adapter).__module__.startswith("requests")
        ):
            import requests

            request = requests.Request("POST", url).prepare()
            pool = adapter.get_connection_with_tls_context(request, api.verify, cert=api.cert)
        else:
            pool = adapter.get_connection(url)
        conn = pool._new_conn()
        conn.connect()
        sock: socket.socket = conn.sock
        sock.settimeout(None)
        return sock

    return dial, netloc
