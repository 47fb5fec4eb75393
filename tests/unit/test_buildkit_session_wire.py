"""The BuildKit session without Docker: the protobuf encoders on bytes recorded from a real
engine (dockerd 20.10), and the session's HTTP/2 + gRPC serving driven by an `h2` client over
a socketpair, playing the engine's part (it is the HTTP/2 client on the hijacked socket)."""

from __future__ import annotations

import socket
import stat
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest

from composewatch.engine import protowire as pw
from composewatch.engine.attachables import SecretSource, secrets_service, ssh_service
from composewatch.engine.filesync import (
    FIN,
    REQ,
    STAT,
    SyncEntry,
    SyncStats,
    filesync_service,
    go_file_mode,
    packet,
    stat_message,
)
from composewatch.engine.session import (
    Call,
    Service,
    Session,
    SessionError,
    frame_message,
    health_service,
    unary,
)

# What dockerd 20.10 sent on its session calls (gRPC-framed), recorded during a build.
RECORDED_CREDENTIALS_REQUEST = b"\x00\x00\x00\x00\x11\n\x0f127.0.0.1:45123"
RECORDED_GET_SECRET_REQUEST = b"\x00\x00\x00\x00\x05\n\x03tok"


def test_varints() -> None:
    assert pw.encode_varint(0) == b"\x00"
    assert pw.encode_varint(300) == b"\xac\x02"
    assert pw.encode_varint(-1) == b"\xff" * 9 + b"\x01"
    assert pw.decode_varint(b"\xac\x02", 0) == (300, 2)
    with pytest.raises(pw.WireError):
        pw.decode_varint(b"\x80", 0)


def test_recorded_requests_decode() -> None:
    assert RECORDED_CREDENTIALS_REQUEST[5:] == pw.str_field(1, "127.0.0.1:45123")
    assert pw.first_str(pw.parse_fields(RECORDED_CREDENTIALS_REQUEST[5:]), 1) == "127.0.0.1:45123"
    assert pw.first_str(pw.parse_fields(RECORDED_GET_SECRET_REQUEST[5:]), 1) == "tok"
    assert frame_message(b"\n\x03tok") == RECORDED_GET_SECRET_REQUEST


def test_fields_of_every_wire_type_and_unknown_ones_kept() -> None:
    message = (
        pw.varint_field(1, 7) + pw.bytes_field(2, b"ab") + b"\x1d\x01\x00\x00\x00"  # 3: fixed32
        + b"\x21" + (5).to_bytes(8, "little") + pw.varint_field(5, (1 << 64) - 2)
    )  # fmt: skip
    fields = pw.parse_fields(message)
    assert pw.first_int(fields, 1) == 7 and pw.first_bytes(fields, 2) == b"ab"
    assert fields[3] == [1] and fields[4] == [5]
    assert pw.first_int(fields, 5, signed=True) == -2
    assert pw.varint_field(9, 0) == b"" and pw.bytes_field(9, b"") == b""
    with pytest.raises(pw.WireError):
        pw.parse_fields(b"\x12\x05ab")  # length past the end


class FakeEngine:
    """The engine's side of the session: answers the upgrade, then calls gRPC methods."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.request = b""
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.data: dict[int, bytes] = {}
        self.trailers: dict[int, dict[str, str]] = {}
        self.ended: set[int] = set()

    def accept_upgrade(self) -> None:
        while b"\r\n\r\n" not in self.request:
            self.request += self.sock.recv(4096)
        self.conn.initiate_connection()
        # The preface right behind the 101, in one write: the session must not lose it.
        self.sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
            + self.conn.data_to_send()
        )

    def call(
        self, path: str, messages: list[bytes], metadata: Mapping[str, str] | None = None
    ) -> tuple[list[bytes], dict[str, str]]:
        """Call `path` sending `messages`; the response messages and the trailers."""
        stream = self.open(path, list((metadata or {}).items()))
        self.write(stream, messages)
        self.conn.end_stream(stream)
        self.sock.sendall(self.conn.data_to_send())
        replies = []
        while (reply := self.read(stream)) is not None:
            replies.append(reply)
        return replies, self.trailers.pop(stream)

    def open(self, path: str, metadata: list[tuple[str, str]]) -> int:
        stream = self.conn.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path),
                   (":authority", "localhost"), ("content-type", "application/grpc"),
                   ("te", "trailers"), *metadata]  # fmt: skip
        self.conn.send_headers(stream, headers)
        self.sock.sendall(self.conn.data_to_send())
        self.data[stream], self.trailers[stream] = b"", {}
        return stream

    def write(self, stream: int, messages: list[bytes]) -> None:
        body = b"".join(frame_message(m) for m in messages)
        while body:  # within the flow-control window the session grants
            size = min(len(body), self.conn.local_flow_control_window(stream), 16384)
            if size:
                self.conn.send_data(stream, body[:size])
                body = body[size:]
            self.sock.sendall(self.conn.data_to_send())
            if body and not size:
                self._receive()
        self.sock.sendall(self.conn.data_to_send())

    def read(self, stream: int) -> bytes | None:
        """The session's next message on `stream`; None once the stream has ended."""
        while True:
            data = self.data[stream]
            if len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[1:5], "big"):
                size = int.from_bytes(data[1:5], "big")
                self.data[stream] = data[5 + size :]
                return data[5 : 5 + size]
            if stream in self.ended:
                return None
            self._receive()

    def _receive(self) -> None:
        """Read what the session sent and take in its events (acknowledging data)."""
        chunk = self.sock.recv(65536)
        assert chunk, "the session closed the connection"
        for event in self.conn.receive_data(chunk):
            stream = getattr(event, "stream_id", 0)
            if isinstance(event, h2.events.DataReceived):
                self.data[stream] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                self.trailers[stream].update({str(k): str(v) for k, v in event.headers or []})
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(stream)
        self.sock.sendall(self.conn.data_to_send())


def _echo(call: Call) -> None:
    for message in call.messages():
        call.send(message)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[FakeEngine]:
    ours, theirs = socket.socketpair()
    theirs.settimeout(10)  # a hang fails the test rather than the suite
    fake = FakeEngine(theirs)
    (tmp_path / "token").write_bytes(b"s3cret")
    services = [
        health_service(),
        secrets_service(
            {
                "token": SecretSource(file=tmp_path / "token"),
                "gone": SecretSource(file=tmp_path / "missing"),
            }
        ),
        ssh_service({"default": str(tmp_path / "no-agent.sock")}),
        Service("test.Echo", {"Echo": _echo, "Fail": unary(_fail)}),
    ]
    accepted = threading.Thread(target=fake.accept_upgrade)
    accepted.start()
    with Session(lambda: ours, services, api_version="1.41", host="localhost") as session:
        accepted.join()
        fake.session_id = session.id  # type: ignore[attr-defined]
        yield fake
    theirs.close()


def _fail(_request: bytes, _metadata: Mapping[str, str]) -> bytes:
    raise ValueError("a bug")


def test_upgrade_request_names_the_session_and_every_method(engine: FakeEngine) -> None:
    head = engine.request.decode()
    lines = head.split("\r\n")
    assert lines[0] == "POST /v1.41/session HTTP/1.1"
    assert "Upgrade: h2c" in lines and "Connection: Upgrade" in lines
    assert f"X-Docker-Expose-Session-Uuid: {engine.session_id}" in lines  # type: ignore[attr-defined]
    methods = {line.split(": ", 1)[1] for line in lines if line.startswith("X-Docker-Expose-Session-Grpc-Method")}  # fmt: skip  # noqa: E501
    assert {"/grpc.health.v1.Health/Check", "/moby.buildkit.secrets.v1.Secrets/GetSecret",
            "/moby.sshforward.v1.SSH/ForwardAgent", "/test.Echo/Echo"} <= methods  # fmt: skip


def test_health_check_answers_serving(engine: FakeEngine) -> None:
    replies, trailers = engine.call("/grpc.health.v1.Health/Check", [b""])
    assert replies == [b"\x08\x01"] and trailers["grpc-status"] == "0"


def test_secret_is_sent_and_a_missing_one_is_not_found_without_values(engine: FakeEngine) -> None:
    replies, trailers = engine.call(
        "/moby.buildkit.secrets.v1.Secrets/GetSecret", [RECORDED_GET_SECRET_REQUEST[5:]]
    )
    assert replies == [] and trailers["grpc-status"] == "5"  # id "tok" is not offered
    replies, trailers = engine.call(
        "/moby.buildkit.secrets.v1.Secrets/GetSecret", [pw.str_field(1, "token")]
    )
    assert replies == [pw.bytes_field(1, b"s3cret")] and trailers["grpc-status"] == "0"
    replies, trailers = engine.call(
        "/moby.buildkit.secrets.v1.Secrets/GetSecret", [pw.str_field(1, "gone")]
    )
    assert trailers["grpc-status"] == "5"
    message = urllib.parse.unquote(trailers["grpc-message"])
    assert "gone" in message and "missing" in message and "s3cret" not in message


def test_unknown_methods_are_unimplemented_and_handler_bugs_internal(engine: FakeEngine) -> None:
    _, trailers = engine.call("/moby.filesync.v1.FileSync/DiffCopy", [])
    assert trailers["grpc-status"] == "12"
    _, trailers = engine.call("/test.Echo/Fail", [b"x"])
    assert trailers["grpc-status"] == "13" and "ValueError" in trailers["grpc-message"]


def test_ssh_check_agent_refuses_a_socket_that_is_not_there(engine: FakeEngine) -> None:
    _, trailers = engine.call("/moby.sshforward.v1.SSH/CheckAgent", [pw.str_field(1, "default")])
    assert trailers["grpc-status"] == "5"
    _, trailers = engine.call("/moby.sshforward.v1.SSH/CheckAgent", [pw.str_field(1, "other")])
    assert trailers["grpc-status"] == "5" and "other" in trailers["grpc-message"]


def test_streams_larger_than_the_flow_control_window_go_through(engine: FakeEngine) -> None:
    # 300 KB each way: past HTTP/2's default 64 KB windows, so both sides' window updates
    # (ours acknowledging, the engine's opening) are needed for this to finish.
    messages = [bytes([i]) * 100_000 for i in range(3)]
    replies, trailers = engine.call("/test.Echo/Echo", messages)
    assert replies == messages and trailers["grpc-status"] == "0"


def test_a_refused_upgrade_is_a_session_error() -> None:
    ours, theirs = socket.socketpair()

    def refuse() -> None:
        theirs.recv(65536)
        theirs.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
        theirs.close()

    thread = threading.Thread(target=refuse)
    thread.start()
    with pytest.raises(SessionError, match=r"404 Not Found.*not found"):
        Session(lambda: ours, [health_service()], api_version="1.41").open()
    thread.join()


def test_go_file_modes_and_stat_bytes() -> None:
    assert go_file_mode(stat.S_IFREG | 0o644) == 0o644
    assert go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755
    entry = SyncEntry("a/b.txt", stat.S_IFREG | 0o644, 3, 1_700_000_000_123_456_789)
    # Stat{path: "a/b.txt", mode: 0644, size: 3, modTime: ...}, uid/gid 0 left out.
    assert stat_message(entry) == (
        b"\n\x07a/b.txt"
        + b"\x10\xa4\x03"
        + b"\x28\x03"
        + b"\x30"
        + pw.encode_varint(entry.mtime_ns)
    )
    assert packet(REQ, file_id=7) == b"\x08\x01\x18\x07"
    assert packet(STAT) == b""  # the end of a walk: a STAT with no stat


def test_entries_go_in_fsutil_walk_order_with_their_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    names = ["b", "a.txt", "a/z", "a/y/x", "a-b"]
    entries = [SyncEntry(n, stat.S_IFREG | 0o644, 0, 0) for n in names]
    ordered = [e.path for e in _ordered_for_test(entries, tmp_path)]
    # A folder right before what it holds; names in byte order ("-" < "." < "/"-less "a").
    assert ordered == ["a", "a/y", "a/y/x", "a/z", "a-b", "a.txt", "b"]
    assert stat.S_ISDIR(_ordered_for_test(entries, tmp_path)[0].mode)


def _ordered_for_test(entries: list[SyncEntry], root: Path) -> list[SyncEntry]:
    from composewatch.engine.filesync import _ordered

    return _ordered(entries, root)


def test_diff_copy_sends_stats_then_only_the_files_asked_for(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "big.bin").write_bytes(b"x" * 100_000)
    (tmp_path / "keep.txt").write_text("kept")
    entries = [
        SyncEntry("src/big.bin", stat.S_IFREG | 0o644, 100_000, 1, source=tmp_path / "src/big.bin"),
        SyncEntry("keep.txt", stat.S_IFREG | 0o600, 4, 2, source=tmp_path / "keep.txt"),
        SyncEntry(".dockerignore", stat.S_IFREG | 0o644, 2, 3, data=b"x\n"),
    ]
    stats = SyncStats()
    ours, theirs = socket.socketpair()
    theirs.settimeout(10)
    fake = FakeEngine(theirs)
    service = filesync_service({"context": _ordered_for_test(entries, tmp_path)}, stats)
    accepted = threading.Thread(target=fake.accept_upgrade)
    accepted.start()
    with Session(lambda: ours, [service], api_version="1.41"):
        accepted.join()
        # The frontend's first request: `.dockerignore` alone, by follow path.
        stream = fake.open("/moby.filesync.v1.FileSync/DiffCopy",
                           [("followpaths", ".dockerignore"), ("dir-name", "context")])  # fmt: skip
        stats_seen = [pw.parse_fields(fake.read(stream) or b"") for _ in range(2)]
        assert [pw.first_str(pw.parse_fields(pw.first_bytes(f, 2)), 1) for f in stats_seen] == [
            ".dockerignore",
            "",
        ]
        fake.write(stream, [packet(FIN)])
        assert pw.first_int(pw.parse_fields(fake.read(stream) or b""), 1) == FIN
        # The whole folder, of which the engine asks for one file.
        stream = fake.open("/moby.filesync.v1.FileSync/DiffCopy", [("dir-name", "context")])
        paths = []
        while stat_bytes := pw.first_bytes(pw.parse_fields(fake.read(stream) or b""), 2):
            paths.append(pw.first_str(pw.parse_fields(stat_bytes), 1))
        assert paths == [".dockerignore", "keep.txt", "src", "src/big.bin"]
        fake.write(stream, [packet(REQ, file_id=3)])  # src/big.bin, the 4th entry
        received = b""
        while data := pw.first_bytes(pw.parse_fields(fake.read(stream) or b""), 4):
            received += data
        assert received == b"x" * 100_000
        fake.write(stream, [packet(FIN)])
        assert pw.first_int(pw.parse_fields(fake.read(stream) or b""), 1) == FIN
        fake.conn.end_stream(stream)
        theirs.sendall(fake.conn.data_to_send())
        assert fake.read(stream) is None and fake.trailers[stream]["grpc-status"] == "0"
    assert (stats.files, stats.sent_files, stats.sent_bytes) == (3, 1, 100_000)
    theirs.close()


def test_include_patterns_keep_matches_their_contents_and_their_folders() -> None:
    from composewatch.engine.filesync import _included

    names = ["a", "a/Dockerfile", "a/b", "a/b/c.txt", "d.txt", ".dockerignore", "x/.dockerignore"]
    entries = [SyncEntry(n, stat.S_IFREG | 0o644, 0, 0) for n in names]

    def chosen(*patterns: str) -> list[str]:
        return [e.path for e in _included(entries, patterns)]

    assert chosen(".dockerignore") == [".dockerignore"]  # `*` and names stay in one segment
    assert chosen("a/Dockerfile") == ["a", "a/Dockerfile"]
    assert chosen("a/b") == ["a", "a/b", "a/b/c.txt"]
    assert chosen("*.txt") == ["d.txt"]
