"""The build context: which files a build sends, their digest, and the tar that carries them.

The file selection is the docker CLI's: the context directory walked without following
symlinks, each path tested against the ignore rules with its parent's results (moby's
`MatchesUsingParentResults`), an excluded directory skipped whole unless an exception could
re-include something inside it, the Dockerfile and the ignore file always sent. The ignore
file is `<Dockerfile>.dockerignore` when it exists (BuildKit's rule), else `.dockerignore`.

A Dockerfile outside the context, or `dockerfile_inline`, travels inside the tar under a name
of its own (`.dockerfile.<digest>`), as the docker CLI sends it, and is listed in the ignore
file sent with it so that `COPY . .` never copies it.

The tar is written by hand in GNU format, one member at a time, and streamed: the context is
never held whole in memory (docker-py's own `tar()` holds it and writes PAX headers, which
BuildKit's context detection misreads as a Dockerfile). Owners are root, as the CLI sends them.

The digest that lets an unchanged context skip its build comes from the same walk: the path,
type, mode, size and mtime of every member, the content of the Dockerfile and ignore file
wherever they live, and every build parameter (`BuildRequest.key`).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from composewatch.compose.model import BuildConfig
from composewatch.compose.textfile import read_input_bytes
from composewatch.core.buildinputs import BuildRequest
from composewatch.core.dockerfile import apply_named_images
from composewatch.core.ignore import (
    SYNTAX_ERROR,
    IgnoreRules,
    IgnoreSyntaxError,
    MatchInfo,
    parse_ignore,
)
from composewatch.errors import BuildContextError, ComposeFileError

__all__ = [
    "ContextSelection",
    "Member",
    "ignore_error_text",
    "load_ignore_rules",
    "select_context",
    "stream_tar",
    "walk_context",
]

_BLOCK = tarfile.BLOCKSIZE
_CHUNK = 1 << 16
_IGNORE = ".dockerignore"


@dataclass(frozen=True)
class Member:
    """One path in the context: `name` in the tar, and what it is on disk (or in memory)."""

    name: str
    path: Path | None  # None for a member made in memory
    mode: int
    size: int
    mtime_ns: int
    link: str = ""  # a symlink's target
    data: bytes | None = None  # a member made in memory


@dataclass(frozen=True)
class ContextSelection:
    members: tuple[Member, ...]
    dockerfile: str  # the Dockerfile's name inside the tar
    ignore: IgnoreRules
    digest: str

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def size(self) -> int:
        return sum(m.size for m in self.members)


def dockerfile_of(build: BuildConfig) -> Path | None:
    """The Dockerfile a service's build reads (None: it has `dockerfile_inline`)."""
    if build.dockerfile_inline is not None:
        return None
    return Path(build.context) / (build.dockerfile or "Dockerfile")


def load_dockerfile_text(build: BuildConfig) -> str | None:
    """The build's Dockerfile text, inline or read (None when it cannot be read: `up` says
    so itself)."""
    path = dockerfile_of(build)
    if path is None:
        return build.dockerfile_inline
    try:
        return read_input_bytes(path).decode("utf-8", "replace")
    except ComposeFileError:
        return None


def ignore_error_text(exc: IgnoreSyntaxError) -> str:
    """One paragraph for a refused ignore file: where, moby's words, and why."""
    text = f"{exc.source}, line {exc.line}: {exc.describe()}"
    if exc.reason == SYNTAX_ERROR:
        text += (
            " (Go's filepath.Match or regexp refuses it: an incomplete `[` class or `\\` "
            "escape, a reversed range like [b-a], an unknown class or escape like [[:foo:]], "
            "\\pX or \\y)"
        )
    return text + ("; docker build refuses it too" if exc.moby_refuses else "")


def load_ignore_rules(context: Path, dockerfile: Path | None) -> tuple[IgnoreRules, bytes]:
    """The rules in force for a build, and the ignore file's bytes (b"" without one)."""
    candidates = [Path(f"{dockerfile}{_IGNORE}")] if dockerfile is not None else []
    candidates.append(context / _IGNORE)
    for candidate in candidates:
        if not candidate.exists():  # a dangling link too: moby reads no file then either
            continue
        try:
            data = read_input_bytes(candidate)
        except ComposeFileError as exc:
            raise BuildContextError(
                f"{candidate}: cannot read the ignore file: {exc.reason}"
            ) from None
        try:
            return parse_ignore(data, str(candidate)), data
        except IgnoreSyntaxError as exc:
            raise BuildContextError(ignore_error_text(exc)) from None
    return IgnoreRules(), b""


def select_context(request: BuildRequest) -> ContextSelection:
    """Walk the context and choose what the build sends. BuildContextError when the context or
    the Dockerfile is missing or unreadable."""
    context = request.context
    where = f"{request.config_file}: services.{request.service}.build"
    if not context.is_dir():
        raise BuildContextError(
            f"{where}.context: build context {context} does not exist or is not a directory"
        )
    inline = request.dockerfile_inline
    dockerfile_path = None if inline is not None else _dockerfile_path(request, where)
    rules, ignore_bytes = load_ignore_rules(context, dockerfile_path)

    digest = hashlib.sha256(request.key().encode())
    digest.update(b"\0ignore\0" + ignore_bytes)
    extra: list[Member] = []
    inside = dockerfile_path is not None and _relative(dockerfile_path, context)
    if request.named_images:
        # The Dockerfile is rewritten (named contexts replaced by their images), so it
        # travels in memory like an inline one.
        text = (
            inline
            if inline is not None
            else _read(dockerfile_path, where).decode("utf-8", "surrogateescape")
        )
        inline = apply_named_images(text, dict(request.named_images))
        inside = None
    if inside:
        name = str(inside)
    else:
        content = (
            inline.encode("utf-8", "surrogateescape")
            if inline is not None
            else _read(dockerfile_path, where)
        )
        name = f".dockerfile.{hashlib.sha256(content).hexdigest()[:20]}"
        extra.append(_memory_member(name, content))
        digest.update(b"\0dockerfile\0" + content)

    # Always sent: the ignore file and the Dockerfile (the engine reads both).
    try:
        rules_in_force = rules.with_exceptions(_IGNORE, name) if inside else rules
    except IgnoreSyntaxError as exc:  # a Dockerfile named `Dock[erfile`, excluded
        raise BuildContextError(ignore_error_text(exc)) from None
    members = list(walk_context(context, rules_in_force))
    if extra:
        # The ignore file sent names the in-memory Dockerfile, so the engine leaves it out of
        # what `COPY . .` sees; the user's own rules already chose the other members.
        members = [m for m in members if m.name != _IGNORE]
        listed = (ignore_bytes.decode("utf-8", "replace") + f"\n{name}\n{_IGNORE}\n").encode()
        extra.append(_memory_member(_IGNORE, listed))
    members.extend(extra)
    for member in members:
        digest.update(
            f"{member.name}\0{member.mode}\0{member.size}\0{member.mtime_ns}\0{member.link}\0".encode(
                "utf-8", "surrogateescape"
            )
        )
    return ContextSelection(tuple(members), name, rules, digest.hexdigest())


def stream_tar(selection: ContextSelection) -> Iterator[bytes]:
    """The context as a GNU tar, in chunks of at most 64 KiB plus headers."""
    for member in selection.members:
        info = tarfile.TarInfo(member.name)
        info.mode = stat.S_IMODE(member.mode)
        info.mtime = member.mtime_ns // 1_000_000_000
        info.uid = info.gid = 0
        if stat.S_ISDIR(member.mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(member.mode):
            info.type, info.linkname = tarfile.SYMTYPE, member.link
        elif stat.S_ISFIFO(member.mode):
            info.type = tarfile.FIFOTYPE
        else:
            info.type, info.size = tarfile.REGTYPE, member.size
        yield info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        if info.type != tarfile.REGTYPE:
            continue
        if member.data is not None:
            yield member.data
        else:
            assert member.path is not None
            yield from _file_chunks(member.path, member.size)
        if member.size % _BLOCK:
            yield b"\0" * (_BLOCK - member.size % _BLOCK)
    yield b"\0" * (2 * _BLOCK)


def _file_chunks(path: Path, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of the file: a file that changes size while it is sent is cut or
    padded, so the tar stays well formed (the next save sends it again)."""
    left = size
    try:
        with open(path, "rb") as handle:
            while left > 0:
                chunk = handle.read(min(_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk
    except OSError as exc:
        raise BuildContextError(f"{path}: cannot read the file while sending it: {exc}") from None
    if left > 0:
        yield b"\0" * left


def walk_context(root: Path, rules: IgnoreRules) -> Iterator[Member]:
    """Members under `root`, sorted per directory, chosen by `rules` (moby's tar walk)."""
    stack: list[tuple[Path, str, MatchInfo | None]] = [(root, "", None)]
    while stack:
        directory, prefix, parent_info = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise BuildContextError(f"{directory}: cannot list the directory: {exc}") from None
        subdirs: list[tuple[Path, str, MatchInfo | None]] = []
        for entry in entries:
            rel = prefix + entry.name
            excluded, info = rules.match(rel, parent_info) if rules.rules else (False, ())
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # vanished since the listing: the next save sees the new state
            is_dir = stat.S_ISDIR(st.st_mode)
            if excluded:
                if is_dir and rules.may_reinclude_under(rel):
                    subdirs.append((Path(entry.path), rel + "/", info))
                continue
            kind = stat.S_IFMT(st.st_mode)
            if kind not in (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK, stat.S_IFIFO):
                continue  # sockets and devices are not sent
            if stat.S_ISREG(st.st_mode) and not os.access(entry.path, os.R_OK):
                raise BuildContextError(
                    f"{entry.path}: the file is not readable, so it cannot be sent to the build "
                    "(fix its permissions or add it to .dockerignore)"
                )
            link = os.readlink(entry.path) if stat.S_ISLNK(st.st_mode) else ""
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            yield Member(rel + ("/" if is_dir else ""), Path(entry.path), st.st_mode, size,
                         st.st_mtime_ns, link)  # fmt: skip
            if is_dir:
                subdirs.append((Path(entry.path), rel + "/", info))
        stack.extend(reversed(subdirs))


def _dockerfile_path(request: BuildRequest, where: str) -> Path:
    path = request.context / request.dockerfile
    if not path.is_file():
        raise BuildContextError(f"{where}.dockerfile: Dockerfile {path} does not exist")
    return path


def _relative(path: Path, context: Path) -> Path | None:
    try:
        return path.resolve().relative_to(context.resolve())
    except ValueError:
        return None


def _read(path: Path | None, where: str) -> bytes:
    assert path is not None
    try:
        return read_input_bytes(path)
    except ComposeFileError as exc:
        raise BuildContextError(f"{where}.dockerfile: cannot read {path}: {exc.reason}") from None


def _memory_member(name: str, data: bytes) -> Member:
    return Member(name, None, stat.S_IFREG | 0o644, len(data), 0, data=data)
