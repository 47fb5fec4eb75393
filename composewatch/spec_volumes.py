"""Service volumes as compose passes them to the engine: Binds for simple binds and project
volumes, Mounts for the rest (anonymous volumes, tmpfs, binds with options)."""

from __future__ import annotations

from typing import Any

from composewatch.compose.model import Project, Service, ServiceVolume

__all__ = ["byte_count", "volume_binds_and_mounts", "volume_name"]


def volume_name(project: Project, key: str) -> str:
    config = (project.volumes or {}).get(key) or {}
    return str(config.get("name") or f"{project.name}_{key}")


def byte_count(value: int | str | None) -> int:
    # The canonical form already converted "64m" to "67108864".
    return int(value) if value not in (None, "") else 0


def _bind_string(source: str, volume: ServiceVolume) -> str:
    options = ["ro" if volume.read_only else "rw"]
    if volume.bind and volume.bind.selinux:
        options.append(volume.bind.selinux)
    if volume.bind and volume.bind.propagation:
        options.append(volume.bind.propagation)
    return f"{source}:{volume.target}:{','.join(options)}"


def _mount(project: Project, volume: ServiceVolume) -> dict[str, Any]:
    source = volume.source or ""
    if volume.type == "volume" and source in (project.volumes or {}):
        source = volume_name(project, source)
    mount: dict[str, Any] = {"Type": volume.type, "Target": volume.target}
    if source:
        mount["Source"] = source
    if volume.read_only:
        mount["ReadOnly"] = True
    if volume.consistency:
        mount["Consistency"] = volume.consistency
    if volume.type == "bind" and volume.bind:
        bind: dict[str, Any] = {}
        if volume.bind.propagation:
            bind["Propagation"] = volume.bind.propagation
        if volume.bind.create_host_path:
            bind["CreateMountpoint"] = True
        mount["BindOptions"] = bind
    elif volume.type == "volume" and volume.volume:
        opts: dict[str, Any] = {}
        if volume.volume.nocopy:
            opts["NoCopy"] = True
        if volume.volume.subpath:
            opts["Subpath"] = volume.volume.subpath
        mount["VolumeOptions"] = opts
    elif volume.type == "tmpfs" and volume.tmpfs:
        tmpfs: dict[str, Any] = {}
        if size := byte_count(volume.tmpfs.size):
            tmpfs["SizeBytes"] = size
        if volume.tmpfs.mode not in (None, ""):
            tmpfs["Mode"] = int(str(volume.tmpfs.mode), 0)
        mount["TmpfsOptions"] = tmpfs
    return mount


def _uses_bind_api(project: Project, volume: ServiceVolume) -> bool:
    if volume.type == "bind":
        # Mounts cannot create a missing host path, so compose keeps Binds unless told not to.
        bind = volume.bind
        return bind is None or bool(
            bind.create_host_path and not bind.propagation and not getattr(bind, "recursive", None)
        )
    if volume.type == "volume" and volume.source in (project.volumes or {}):
        opts = volume.volume
        return not (opts and (opts.nocopy or opts.subpath))
    return False


def volume_binds_and_mounts(
    project: Project, service: Service
) -> tuple[list[str], list[dict[str, Any]]]:
    """Compose's split: simple binds and project volumes go to Binds, the rest to Mounts."""
    binds: list[str] = []
    mounts: list[dict[str, Any]] = []
    for volume in service.volumes or []:
        mount = _mount(project, volume)
        if _uses_bind_api(project, volume):
            binds.append(_bind_string(mount["Source"], volume))
        else:
            mounts.append(mount)
    return binds, mounts
