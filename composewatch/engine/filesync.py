"""`moby.filesync.v1.FileSync`: the build context sent through the BuildKit session.

With `remote=client-session` the engine's Dockerfile frontend asks the session for two local
sources by name: `context` (the build context) and `dockerfile` (the Dockerfile's folder).
Each request is a `DiffCopy` stream speaking fsutil's protocol (tonistiigi/fsutil send.go):

    we send    STAT(entry) ... STAT(entry), STAT()        every path, in walk order, then the end
    engine     REQ(id) ...                                 only the files it lacks or that changed
    we send    DATA(id, bytes) ..., DATA(id)               each asked file, then its end
    engine     FIN  ->  we send FIN                        done

The engine keeps what it received under the session's shared key and compares the next
transfer's stats (mode, size, mtime) against it, so a save asks for the changed files only:
the bytes sent per save are the stats plus what changed, not the whole context.

Entries go in the order fsutil validates: depth first, each folder's names in byte order, a
folder before what it holds; modes as Go's `os.FileMode` bits. Owners are sent as root, as
the docker CLI sends them (and as composewatch's tar does).
"""

from __future__ import annotations

import fnmatch
import stat
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from composewatch.engine import protowire as pw
from composewatch.engine.buildcontext import ContextSelection
from composewatch.engine.session import Call, GrpcError, Service, StatusCode

__all__ = [
    "SyncEntry",
    "SyncStats",
    "context_entries",
    "file_entries",
    "filesync_service",
    "go_file_mode",
    "packet",
    "stat_message",
]

# fsutil.types.Packet.PacketType
STAT, REQ, DATA, FIN, ERR = range(5)
_CHUNK = 32 << 10  # fsutil's copy buffer

# Go's os.FileMode type bits.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20


@dataclass(frozen=True)
class SyncEntry:
    """One path of a synced folder: relative, `/`-separated, with what its stat says."""

    path: str
    mode: int  # the unix st_mode
    size: int
    mtime_ns: int
    link: str = ""
    source: Path | None = None  # where a regular file's bytes are read
    data: bytes | None = None  # or the bytes themselves

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)


@dataclass
class SyncStats:
    """What the engine asked for, over every transfer of a session."""

    files: int = 0  # regular files offered
    sent_files: int = 0  # files whose bytes the engine asked for
    sent_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, files: int = 0, sent_files: int = 0, sent_bytes: int = 0) -> None:
        with self.lock:
            self.files += files
            self.sent_files += sent_files
            self.sent_bytes += sent_bytes


def go_file_mode(mode: int) -> int:
    """A unix st_mode as Go's os.FileMode (what fsutil's Stat.mode carries)."""
    result = mode & 0o777
    if stat.S_ISDIR(mode):
        result |= _GO_DIR
    elif stat.S_ISLNK(mode):
        result |= _GO_SYMLINK
    elif stat.S_ISFIFO(mode):
        result |= _GO_PIPE
    elif stat.S_ISCHR(mode):
        result |= _GO_DEVICE | _GO_CHARDEV
    elif stat.S_ISBLK(mode):
        result |= _GO_DEVICE
    if mode & stat.S_ISUID:
        result |= _GO_SETUID
    if mode & stat.S_ISGID:
        result |= _GO_SETGID
    if mode & stat.S_ISVTX:
        result |= _GO_STICKY
    return result


def stat_message(entry: SyncEntry) -> bytes:
    """fsutil.types.Stat{path = 1, mode = 2, uid = 3, gid = 4, size = 5, modTime = 6,
    linkname = 7}; uid and gid 0."""
    return (
        pw.str_field(1, entry.path)
        + pw.varint_field(2, go_file_mode(entry.mode))
        + pw.varint_field(5, _size(entry))
        + pw.varint_field(6, entry.mtime_ns)
        + pw.str_field(7, entry.link)
    )


def _size(entry: SyncEntry) -> int:
    # As Go's FileInfo.Size(): a symlink's is its target's length; a folder's is not sent.
    if stat.S_ISLNK(entry.mode):
        return len(entry.link.encode("utf-8", "surrogateescape"))
    return entry.size if entry.is_file else 0


def packet(kind: int, *, stat_bytes: bytes = b"", file_id: int = 0, data: bytes = b"") -> bytes:
    """fsutil.types.Packet{type = 1, stat = 2, ID = 3, data = 4}."""
    return (
        pw.varint_field(1, kind)
        + pw.bytes_field(2, stat_bytes)
        + pw.varint_field(3, file_id)
        + pw.bytes_field(4, data)
    )


def _walk_key(path: str) -> list[bytes]:
    return [part.encode("utf-8", "surrogateescape") for part in path.split("/")]


def _ordered(entries: Iterable[SyncEntry], root: Path | None) -> list[SyncEntry]:
    """`entries` in fsutil's walk order, with any missing parent folder added."""
    by_path = {e.path: e for e in entries}
    for path in list(by_path):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent not in by_path:
                by_path[parent] = _folder(parent, root)
    return sorted(by_path.values(), key=lambda e: _walk_key(e.path))


def _folder(path: str, root: Path | None) -> SyncEntry:
    if root is not None:
        try:
            st = (root / path).lstat()
            if stat.S_ISDIR(st.st_mode):
                return SyncEntry(path, st.st_mode, 0, st.st_mtime_ns)
        except OSError:
            pass
    return SyncEntry(path, stat.S_IFDIR | 0o755, 0, 0)


def context_entries(selection: ContextSelection, root: Path) -> list[SyncEntry]:
    """The context's files as chosen for the tar, minus what only the tar needs (a Dockerfile
    made in memory and the ignore file listing it: the session sends the Dockerfile apart)."""
    entries = [
        SyncEntry(m.name.rstrip("/"), m.mode, m.size, m.mtime_ns, m.link, source=m.path)
        for m in selection.members
        if m.path is not None
    ]
    return _ordered(entries, root)


def file_entries(files: Mapping[str, bytes]) -> list[SyncEntry]:
    """A folder made in memory (the `dockerfile` source: the Dockerfile alone)."""
    return _ordered(
        (SyncEntry(n, stat.S_IFREG | 0o644, len(d), 0, data=d) for n, d in files.items()), None
    )


def _included(entries: Sequence[SyncEntry], patterns: Sequence[str]) -> list[SyncEntry]:
    """fsutil's include patterns: a path matching one (Go's filepath.Match: `*` stays in one
    path segment), what is inside a matching folder, and the folders leading to them."""
    keep: set[str] = set()
    for entry in entries:
        parts = entry.path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(_match(pattern, prefix) for pattern in patterns for prefix in prefixes):
            keep.update(prefixes)
    return [e for e in entries if e.path in keep]


def _match(pattern: str, path: str) -> bool:
    pattern = pattern.strip("/")
    return pattern.count("/") == path.count("/") and fnmatch.fnmatchcase(path, pattern)


def filesync_service(dirs: Mapping[str, Sequence[SyncEntry]], stats: SyncStats) -> Service:
    """`moby.filesync.v1.FileSync` offering the folders `dirs` by the names the engine asks."""

    def diff_copy(call: Call) -> None:
        name = next(iter(call.values("dir-name")), "")
        entries = dirs.get(name)
        if entries is None:
            raise GrpcError(StatusCode.NOT_FOUND, f"no access allowed to dir {name!r}")
        # fsutil walks only the follow paths too when there are some (the frontend reads
        # `.dockerignore` that way); a symlink among them is sent as the link.
        includes = call.values("include-patterns") + call.values("followpaths")
        chosen = _included(entries, includes) if includes else list(entries)
        files = {i: e for i, e in enumerate(chosen) if e.is_file}
        call.send_all(packet(STAT, stat_bytes=stat_message(e)) for e in chosen)
        call.send(packet(STAT))  # no stat: the end of the walk
        # The stats count the context's own transfer (not the Dockerfile's, not the
        # frontend's first look at `.dockerignore`).
        counted = stats if name == "context" and not includes else SyncStats()
        counted.add(files=len(files))
        for message in call.messages():
            fields = pw.parse_fields(message)
            kind = pw.first_int(fields, 1)
            if kind == REQ:
                entry = files.pop(pw.first_int(fields, 3), None)
                if entry is None:
                    raise GrpcError(StatusCode.INVALID_ARGUMENT, "invalid file request")
                _send_file(call, pw.first_int(fields, 3), entry, counted)
            elif kind == FIN:
                call.send(packet(FIN))
                return
            elif kind == ERR:
                detail = pw.first_bytes(fields, 4).decode("utf-8", "replace")
                raise GrpcError(StatusCode.UNKNOWN, f"the engine stopped the transfer: {detail}")

    def tar_stream(call: Call) -> None:
        raise GrpcError(StatusCode.UNIMPLEMENTED, "TarStream is not offered; use DiffCopy")

    return Service("moby.filesync.v1.FileSync", {"DiffCopy": diff_copy, "TarStream": tar_stream})


def _send_file(call: Call, file_id: int, entry: SyncEntry, stats: SyncStats) -> None:
    """The file's bytes, exactly its stat's size (cut or padded if it changed meanwhile, as
    the tar does: the next save sends it again), then its end."""
    sent = 0
    if entry.data is not None:
        for start in range(0, len(entry.data), _CHUNK):
            chunk = entry.data[start : start + _CHUNK]
            call.send(packet(DATA, file_id=file_id, data=chunk))
            sent += len(chunk)
    elif entry.source is not None:
        try:
            with open(entry.source, "rb") as handle:
                while sent < entry.size and (chunk := handle.read(min(_CHUNK, entry.size - sent))):
                    call.send(packet(DATA, file_id=file_id, data=chunk))
                    sent += len(chunk)
        except OSError as exc:
            raise GrpcError(
                StatusCode.UNAVAILABLE, f"cannot read {entry.path}: {exc.strerror}"
            ) from None
    if sent < entry.size:
        call.send(packet(DATA, file_id=file_id, data=b"\0" * (entry.size - sent)))
        sent = entry.size
    call.send(packet(DATA, file_id=file_id))
    stats.add(sent_files=1, sent_bytes=sent)
