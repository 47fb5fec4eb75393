"""Reading an input file (compose file, `.env`, `--env-file`, `env_file`, `.dockerignore`,
`<Dockerfile>.dockerignore`, a Dockerfile read whole, a seccomp profile): regular files only,
checked before opening so a FIFO or a device never blocks or streams; bounded in size; UTF-8,
with the position of an invalid byte (never the bytes themselves) in the error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from composewatch.errors import ComposeFileError

__all__ = ["MAX_INPUT_BYTES", "read_input", "read_input_bytes"]

MAX_INPUT_BYTES = 4 << 20  # the largest compose or env file read; real ones are a few KiB

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def _decode(data: bytes, path: Path, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        # the offending bytes are not shown: they may belong to a secret
        raise ComposeFileError(
            "is not UTF-8 text (an invalid byte sequence)", file=path, line=line, column=column
        ) from None


def read_input_bytes(path: Path) -> bytes:
    """The bytes of an input file. The file type is checked before opening, so a FIFO or a
    device never blocks or streams; files over MAX_INPUT_BYTES are refused (ComposeFileError,
    whose `reason` callers may reword under their own error type)."""
    try:
        mode = os.stat(path).st_mode
        kind = _not_regular(mode)
        if kind is not None:
            raise ComposeFileError(f"is {kind}, not a regular file", file=path)
        # O_NONBLOCK: should the path be swapped for a FIFO after the check, open won't block
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with os.fdopen(fd, "rb") as stream:
            info = os.fstat(stream.fileno())
            kind = _not_regular(info.st_mode)
            if kind is not None:
                raise ComposeFileError(f"is {kind}, not a regular file", file=path)
            data = stream.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise ComposeFileError(f"open {path}: no such file or directory", file=path) from None
    except OSError as exc:
        raise ComposeFileError(f"cannot read file: {exc.strerror}", file=path) from None
    if len(data) > MAX_INPUT_BYTES:
        raise ComposeFileError(
            f"is larger than {MAX_INPUT_BYTES >> 20} MiB; composewatch does not read input "
            "files that big",
            file=path,
        )
    return data


def read_input(path: Path, *, encoding: str = "utf-8") -> str:
    """The text of an input file (`read_input_bytes`, decoded)."""
    return _decode(read_input_bytes(path), path, encoding)
