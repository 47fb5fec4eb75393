"""Files in and out of a running container, and commands run in it: a save's sync and its
in-place update, a small file read back, an exec. Part of `Engine` (engine/containers.py)."""

from __future__ import annotations

import contextlib
import io
import tarfile

import docker
import docker.errors

from composewatch.core.inplace import Copy
from composewatch.core.ownership import Owner
from composewatch.engine import procroot
from composewatch.engine.archive import copy_tar, deleted, parse_owner
from composewatch.engine.faults import api_failed
from composewatch.engine.project import exec_output
from composewatch.engine.synccopy import container_owner, sync_archive
from composewatch.errors import EngineError

__all__ = ["ContainerFiles"]


class ContainerFiles:
    client: docker.DockerClient
    _api: docker.APIClient
    _owners: dict[str, Owner]  # who owns what is synced into each container
    _local: bool  # the engine shares this host's /proc (the container's root is reachable)

    def sync_files(self, cid: str, files: dict[str, str]) -> None:
        """Copy host files into the container: {host path: container path}, owned by the
        container's user (found once per container), as compose's sync makes them."""
        owner = self._owners.get(cid)
        if owner is None:
            owner = self._owners[cid] = container_owner(self.client, cid)
        try:
            self._api.put_archive(cid, "/", sync_archive(files, owner))
        except docker.errors.APIError as err:
            raise api_failed(f"copying files into {cid[:12]}", err) from err

    def update_files(self, cid: str, copies: tuple[Copy, ...]) -> None:
        """Mirror each copy's host file at its path in the container, as the Dockerfile's
        COPY would have put it there (owner, mode); a host file that is gone is deleted.
        Written directly where a local engine's container root is ours to write
        (`engine.procroot`), else through the engine's archive API."""
        if self._local:
            with contextlib.suppress(procroot.NotHere):
                self._write_directly(cid, copies)
                return
        tables: list[str] = []
        if any(c.owner is not None and not c.owner.replace(":", "").isdigit() for c in copies):
            tables = [self.read_file(cid, "/etc/passwd"), self.read_file(cid, "/etc/group")]
        passwd, group = tables or ["", ""]
        archive = copy_tar(copies, lambda spec: parse_owner(spec, passwd, group))
        gone = deleted(copies)
        try:
            if len(gone) < len(copies):
                self._api.put_archive(cid, "/", archive)
        except docker.errors.APIError as err:
            raise api_failed(f"copying files into {cid[:12]}", err) from err
        if gone:
            self.exec(cid, ["rm", "-rf", "--", *gone])

    def _write_directly(self, cid: str, copies: tuple[Copy, ...]) -> None:
        try:
            state = self._api.inspect_container(cid)["State"]
        except docker.errors.APIError as err:
            raise procroot.NotHere(str(err)) from err
        pid = int(state.get("Pid") or 0) if state.get("Running") else 0
        with procroot.open_root(pid, cid) as root:
            tables = ["", ""]
            if any(c.owner is not None and not c.owner.replace(":", "").isdigit() for c in copies):
                tables = [
                    procroot.read_text(root, "/etc/passwd"),
                    procroot.read_text(root, "/etc/group"),
                ]
            passwd, group = tables
            procroot.write_copies(root, copies, lambda spec: parse_owner(spec, passwd, group))
            procroot.delete_paths(root, deleted(copies))

    def read_file(self, cid: str, path: str) -> str:
        """A small text file of the container ("" when it has none)."""
        try:
            stream, _ = self._api.get_archive(cid, path)
        except docker.errors.NotFound:
            return ""
        except docker.errors.APIError as err:
            raise api_failed(f"reading {path} in {cid[:12]}", err) from err
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member is not None else None
            return extracted.read().decode(errors="replace") if extracted is not None else ""

    def exec_output(self, cid: str, command: list[str]) -> tuple[int, str]:
        """Run `command` in the container: (exit code, stdout and stderr). A command the
        container does not have exits 126 or 127 with the runtime's message as output."""
        return exec_output(self.client, cid, command)

    def exec(self, cid: str, command: list[str]) -> None:
        """Run `command` in the container; a non-zero exit is an EngineError with its output."""
        code, output = self.exec_output(cid, command)
        if code:
            raise EngineError(f"{' '.join(command)!r} exited with {code}: {output.strip()[-300:]}")
