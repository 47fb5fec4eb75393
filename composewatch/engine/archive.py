"""The tar an in-place update puts into a running container, made as `COPY` would make the
files: the host file's content, mode and modification time, owned by root unless the
instruction's `--chown` says otherwise, with `--chmod`'s mode when it gives one.

`parse_owner` is pure: BuildKit resolves a `--chown` name in the image's own `/etc/passwd`
and `/etc/group` (a user name gives that user's uid and primary gid, a bare number is used for
both, a name it does not find gives 0), and so does it, from the same files read out of the
container.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

from composewatch.core.inplace import Copy
from composewatch.errors import EngineError

__all__ = ["copy_tar", "deleted", "parse_owner"]


def _table(text: str) -> dict[str, tuple[int, int]]:
    """name -> (id, primary gid) from passwd-style lines (group lines give (gid, gid))."""
    found: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or not fields[2].isdigit():
            continue
        primary = int(fields[3]) if fields[3].isdigit() else int(fields[2])
        found.setdefault(fields[0], (int(fields[2]), primary))
    return found


def parse_owner(spec: str | None, passwd: str, group: str) -> tuple[int, int]:
    """Pure: the (uid, gid) a `--chown` spec gives (None: root)."""
    if spec is None:
        return 0, 0
    user, _, grp = spec.partition(":")
    if user.isdigit():
        uid = gid = int(user)
    else:  # as BuildKit's readUser: a name not found leaves 0
        uid, gid = _table(passwd).get(user, (0, 0))
    if grp.isdigit():
        gid = int(grp)
    elif grp and grp in (groups := _table(group)):
        gid = groups[grp][0]
    return uid, gid


def deleted(copies: Iterable[Copy]) -> list[str]:
    """The container paths whose host file is gone: they are deleted in the container."""
    return [c.dest for c in copies if not os.path.lexists(c.source)]


def copy_tar(copies: Iterable[Copy], owner: Callable[[str | None], tuple[int, int]]) -> bytes:
    """The tar (to extract at /) of every copy whose host file exists. A folder is refused:
    what it holds would have to be filtered by the ignore file, which a rebuild does."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for copy in copies:
            try:
                info = os.lstat(copy.source)
            except FileNotFoundError:
                continue  # deleted: see `deleted`
            if stat.S_ISDIR(info.st_mode):
                raise EngineError(f"{copy.source} is a folder")
            entry = tarfile.TarInfo(copy.dest.lstrip("/"))
            entry.uid, entry.gid = owner(copy.owner)
            entry.mtime = int(info.st_mtime)
            entry.mode = copy.mode if copy.mode is not None else stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                entry.type, entry.linkname = tarfile.SYMTYPE, os.readlink(copy.source)
                tar.addfile(entry)
                continue
            if not stat.S_ISREG(info.st_mode):
                raise EngineError(f"{copy.source} is not a regular file")
            data = Path(copy.source).read_bytes()
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return archive.getvalue()
