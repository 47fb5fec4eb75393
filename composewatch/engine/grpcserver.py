"""gRPC served over HTTP/2 on a socket whose peer is the client: the half of a BuildKit
session that answers the engine's calls (`engine.session` opens the connection).

`h2` does the HTTP/2 framing; gRPC's own framing is small enough to do here: each message is
a 5-byte prefix (a compression flag, always 0 here, and a big-endian length) and the body; a
call ends with trailers carrying `grpc-status` (0 = OK, 5 = NotFound, 12 = Unimplemented...).

Each call runs in its own thread (a `Call` to read and write messages), so a long stream (the
ssh agent, a file transfer) never holds up the health checks the engine sends every second.
Writes respect HTTP/2 flow control: a sender waits for the peer's window updates.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions

__all__ = [
    "Call",
    "GrpcError",
    "GrpcServer",
    "Handler",
    "Service",
    "StatusCode",
    "frame_message",
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


_MAX_MESSAGE = 16 << 20  # a message larger than this is refused, not buffered


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
        self, server: GrpcServer, stream_id: int, path: str, headers: list[tuple[str, str]]
    ) -> None:
        self.path = path
        self.headers = headers  # every header, in order: gRPC sends each value of a key apart
        self.metadata = dict(headers)
        self._server = server
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
        self._server._send_message(self, frame_message(message))

    def send_all(self, messages: Iterable[bytes]) -> None:
        """Send several messages in as few frames as flow control allows."""
        self._server._send_message(self, b"".join(frame_message(m) for m in messages))

    # Called by the server's reader thread.
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


class _Connection:
    """The HTTP/2 connection's state, and the writing side: responses, messages within the
    peer's flow-control window, trailers. Every write holds the lock."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self._lock = threading.Condition()
        self._calls: dict[int, Call] = {}
        self._closed = False

    def _flush(self) -> None:
        """Send what h2 has queued; the caller holds the lock."""
        data = self._conn.data_to_send()
        if data:
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


class GrpcServer(_Connection):
    """gRPC calls served over one HTTP/2 connection on which the peer is the client."""

    def __init__(self, sock: socket.socket, handlers: Mapping[str, Handler], name: str) -> None:
        super().__init__(sock)
        self._handlers = dict(handlers)
        self._name = name
        self._reader: threading.Thread | None = None
        self.failure: str | None = None  # why the connection ended, if not by close()

    def start(self, first: bytes) -> None:
        """Serve, `first` being what was already read from the socket."""
        with self._lock:
            self._conn.initiate_connection()
            self._flush()
        self._reader = threading.Thread(
            target=self._serve, args=(first,), name=self._name, daemon=True
        )
        self._reader.start()

    def close(self) -> None:
        """Say goodbye (GOAWAY), end every call, close the socket."""
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
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._sock.close()

    # --- the reader thread -------------------------------------------------------------------

    def _serve(self, first: bytes) -> None:
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
            raise OSError("the peer closed the connection")

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
