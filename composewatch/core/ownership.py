"""Who owns a synced file in the container: the container's user, as `docker compose watch`
makes it (it copies with `CopyUIDGID`, the engine's `docker cp -a`).

The user is the container's `User` (the service's `user:`, else the image's `USER`), written
`user[:group]` with names or numbers, and resolved against the container's own
`/etc/passwd` and `/etc/group` as the runtime resolves it when it starts the process (runc's
`GetExecUser`): a name must be in the file; a number need not be; without a group, the
user's own group from passwd, else 0. The engine's own `copyUIDGID` is not used: engines
before 25 look the name up in the host's passwd and fail for any user the host lacks.

Pure: the files' texts come in, an `Owner` or `UnknownOwner` comes out.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ROOT", "Owner", "UnknownOwner", "needs_account_files", "resolve_owner"]


class UnknownOwner(ValueError):
    """The user or group names no entry of the container's files."""


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


ROOT = Owner(0, 0)


def _split(spec: str) -> tuple[str, str | None]:
    user, sep, group = spec.strip().partition(":")
    return user, (group if sep else None)


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def needs_account_files(spec: str) -> bool:
    """Whether `spec` is resolved with the container's passwd/group files (no for root and
    for `uid:gid` in numbers)."""
    user, group = _split(spec)
    if not user and group is None:
        return False
    return _number(user) is None or group is None or _number(group) is None


def _entries(text: str | None, fields: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        parts = line.split(":")
        if len(parts) >= fields and not line.startswith("#"):
            rows.append(parts)
    return rows


def resolve_owner(spec: str, passwd: str | None, group_file: str | None) -> Owner:
    """Pure: the uid and gid `spec` (a container's `User`) runs as; UnknownOwner when a name
    is not in the files (the runtime would not have started the container)."""
    user, group = _split(spec)
    uid, gid = 0, 0
    wanted = _number(user) if user else 0
    for name, _, uid_text, gid_text, *_ in _entries(passwd, 4):
        matches = (user and name == user) or (wanted is not None and uid_text == str(wanted))
        if matches and uid_text.isdigit() and gid_text.isdigit():
            uid, gid = int(uid_text), int(gid_text)
            break
    else:
        if wanted is None:
            raise UnknownOwner(f"no user {user!r} in the container's /etc/passwd")
        uid = wanted
    if group:
        by_number = _number(group)
        for name, _, gid_text, *_ in _entries(group_file, 3):
            if (name == group or gid_text == group) and gid_text.isdigit():
                return Owner(uid, int(gid_text))
        if by_number is None:
            raise UnknownOwner(f"no group {group!r} in the container's /etc/group")
        gid = by_number
    return Owner(uid, gid)
