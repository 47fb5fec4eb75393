"""The archive a sync sends into a container, its files owned by the container's user.

`docker compose watch` copies with `CopyUIDGID`, so a synced file belongs to the container's
user, as a file the app writes itself would; without it the engine keeps the archive's
owners, and a file synced into an image with a non-root `USER` landed as root's (0644), which
the app cannot rewrite. The user is resolved here (`core.ownership`, against the container's
own /etc/passwd and /etc/group, read through the engine) and written into each member.
"""

from __future__ import annotations

import io
import tarfile

import docker
import docker.errors

from composewatch.core.ownership import (
    ROOT,
    Owner,
    UnknownOwner,
    needs_account_files,
    resolve_owner,
)
from composewatch.errors import EngineError

__all__ = ["container_owner", "sync_archive"]

_ACCOUNT_FILE_LIMIT = 4 << 20  # bytes read of /etc/passwd or /etc/group at most


def container_owner(client: docker.DockerClient, cid: str) -> Owner:
    """The uid and gid the container's processes run as."""
    try:
        spec = str((client.api.inspect_container(cid).get("Config") or {}).get("User") or "")
    except docker.errors.APIError as err:
        raise EngineError(f"inspecting container {cid[:12]} failed: {err}") from err
    if not needs_account_files(spec):
        return resolve_owner(spec, None, None) if spec else ROOT
    passwd = _read_file(client, cid, "/etc/passwd")
    groups = _read_file(client, cid, "/etc/group")
    try:
        return resolve_owner(spec, passwd, groups)
    except UnknownOwner as err:
        raise EngineError(f"cannot tell who owns files synced into {cid[:12]}: {err}") from None


def _read_file(client: docker.DockerClient, cid: str, path: str) -> str | None:
    """A small file of the container (through the engine, so any engine); None without it."""
    try:
        stream, _ = client.api.get_archive(cid, path)
        data = b"".join(stream)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as err:
        raise EngineError(f"reading {path} in {cid[:12]} failed: {err}") from err
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        extracted = tar.extractfile(member) if member is not None else None
        if extracted is None:
            return None
        return extracted.read(_ACCOUNT_FILE_LIMIT).decode(errors="replace")


def sync_archive(files: dict[str, str], owner: Owner) -> bytes:
    """A tar of host files at their container paths ({host path: container path}; a folder
    with what it holds), every member owned by `owner`, modes as on the host."""

    def owned(member: tarfile.TarInfo) -> tarfile.TarInfo:
        member.uid, member.gid = owner.uid, owner.gid
        member.uname = member.gname = ""  # the engine goes by the numbers
        return member

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for host, target in files.items():
            tar.add(host, arcname=target.lstrip("/"), recursive=True, filter=owned)
    return archive.getvalue()
