"""An in-place update's files written straight into a running container's root, as the host
sees it through `/proc/<pid>/root`, when the engine is local and we may.

The archive API (`put_archive`) makes the engine re-execute itself to extract the tar in a
chroot: about 40 ms on the critical path of every save, against well under 1 ms for the same
writes made here. What lands is the same: the content, the mode and owner the COPY gives, the
host file's modification time, an existing file replaced, a deleted file removed.

It is taken only where it is sure to mean the same as the archive API, else `NotHere` is raised
and the caller goes through the engine:

- the container's PID 1 is in the container's own cgroup (not a process that took its number
  since the engine named it), and its user namespace maps ids one to one (no `userns-remap`,
  whose ids the engine would translate);
- every folder on the way exists and is a real folder: a symbolic link on the way is never
  followed, so nothing is written outside the container (the engine resolves such links inside
  the container; here they are left to it);
- we may write there (root beside the engine: CI, a Linux desktop with `sudo`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from composewatch.core.inplace import Copy

__all__ = ["NotHere", "delete_paths", "open_root", "read_text", "write_copies"]

_O_PATH = getattr(os, "O_PATH", 0)  # Linux only; elsewhere nothing here is taken
_FOLDER = _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_IDENTITY_MAP = ["0", "0", "4294967295"]


class NotHere(Exception):
    """The direct way does not apply here: the engine's archive API does the work."""


@contextlib.contextmanager
def open_root(pid: int, cid: str) -> Iterator[int]:
    """A descriptor of container `cid`'s root folder, through its PID 1 `pid`."""
    if not _O_PATH or pid <= 0:
        raise NotHere("no /proc/<pid>/root here")
    try:
        root = os.open(f"/proc/{pid}/root", _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:  # gone, or not ours to open
        raise NotHere(str(exc)) from exc
    try:
        # Checked after opening: the descriptor is then surely the root of the process read.
        if not _is_container(pid, cid) or not _ids_unmapped(pid):
            raise NotHere(f"process {pid} is not container {cid[:12]}'s, or maps ids")
        yield root
    finally:
        os.close(root)


def _is_container(pid: int, cid: str) -> bool:
    try:
        return cid in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


def _ids_unmapped(pid: int) -> bool:
    try:
        maps = [line.split() for line in Path(f"/proc/{pid}/uid_map").read_text().splitlines()]
        groups = [line.split() for line in Path(f"/proc/{pid}/gid_map").read_text().splitlines()]
    except OSError:
        return False
    return maps == [_IDENTITY_MAP] and groups == [_IDENTITY_MAP]


def _parts(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise NotHere(f"{path} is not a plain absolute path")
    return parts


@contextlib.contextmanager
def _folder(root: int, parts: Iterable[str]) -> Iterator[int]:
    """The folder at `parts` under `root`, reached without following any link."""
    current = os.dup(root)
    try:
        for part in parts:
            try:
                following = os.open(part, _FOLDER, dir_fd=current)
            except OSError as exc:  # missing, a link, not a folder: the engine decides
                raise NotHere(f"/{part}: {exc.strerror}") from exc
            os.close(current)
            current = following
        yield current
    finally:
        os.close(current)


def read_text(root: int, path: str) -> str:
    """A small text file of the container ("" when it has none, as the archive API reads it)."""
    *folders, name = _parts(path)
    try:
        with _folder(root, folders) as folder:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except NotHere:
        return ""
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise NotHere(f"{path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as file:
        return file.read(1 << 20).decode(errors="replace")


def write_copies(
    root: int, copies: Iterable[Copy], owner: Callable[[str | None], tuple[int, int]]
) -> None:
    """Each copy whose host file exists, at its destination: written beside it under a
    temporary name, then renamed over it (a reader sees the old file or the new one)."""
    for copy in copies:
        try:
            info = os.lstat(copy.source)
        except FileNotFoundError:
            continue  # deleted: see `delete_paths`
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
            raise NotHere(f"{copy.source} is not a file")  # the archive path says why
        *folders, name = _parts(copy.dest)
        uid, gid = owner(copy.owner)
        mode = copy.mode if copy.mode is not None else stat.S_IMODE(info.st_mode)
        with _folder(root, folders) as folder:
            _replace(folder, name, copy.source, info, uid, gid, mode)


def _replace(
    folder: int, name: str, source: Path, info: os.stat_result, uid: int, gid: int, mode: int
) -> None:
    temp = f".{name}.composewatch-{secrets.token_hex(4)}"
    mtime_ns = int(info.st_mtime) * 1_000_000_000  # as the tar carries it: whole seconds
    try:
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), temp, dir_fd=folder)
            os.chown(temp, uid, gid, dir_fd=folder, follow_symlinks=False)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(temp, flags, 0o600, dir_fd=folder)
            with os.fdopen(fd, "wb") as file:
                file.write(Path(source).read_bytes())
                file.flush()
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)  # after the owner: chown clears set-id bits
                os.utime(fd, ns=(mtime_ns, mtime_ns))
        os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=folder)
        raise NotHere(f"{name}: {exc.strerror}") from exc


def delete_paths(root: int, paths: Iterable[str]) -> None:
    """Remove each file; one already gone is fine. A folder, or a path through a link or a
    missing folder, is left to the engine (`NotHere`)."""
    for path in paths:
        *folders, name = _parts(path)
        with _folder(root, folders) as folder:
            try:
                os.unlink(name, dir_fd=folder)
            except FileNotFoundError:
                continue
            except OSError as exc:  # a folder (EISDIR), or not ours to remove
                raise NotHere(f"{path}: {exc.strerror}") from exc
