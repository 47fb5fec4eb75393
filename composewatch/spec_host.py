"""The container's HostConfig, as compose builds it (`getCreateConfigs`' host half): mounts,
ports, restart policy, capabilities, security options, resources and the optional modes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from composewatch.compose.model import LoadedProject, PortConfig, Service
from composewatch.compose.textfile import read_input_bytes
from composewatch.errors import ComposeFileError
from composewatch.spec_files import file_mounts
from composewatch.spec_resources import resources
from composewatch.spec_volumes import byte_count, volume_binds_and_mounts

__all__ = ["host_config", "port_key"]


def port_key(port: PortConfig) -> str:
    return f"{port.target}/{port.protocol or 'tcp'}"


def _restart_policy(service: Service) -> dict[str, Any]:
    names = {"none": "no", "no": "no", "any": "always", "always": "always"}
    name, retries = "", 0
    if service.restart:
        head, _, count = service.restart.partition(":")
        name, retries = names.get(head, head), int(count or 0)
    policy = (service.deploy or {}).get("restart_policy")
    if policy:
        name = names.get(policy.get("condition", ""), policy.get("condition", ""))
        retries = int(policy.get("max_attempts") or 0)
    return {"Name": name, "MaximumRetryCount": retries}


def _caps(caps: list[str] | None) -> list[str] | None:
    # Docker's Go client (which compose uses) normalizes names to CAP_X before sending.
    if caps is None:
        return None
    return [
        c.upper()
        if c.upper() in ("ALL", "") or c.upper().startswith("CAP_")
        else f"CAP_{c.upper()}"
        for c in caps
    ]


def _security_opts(loaded: LoadedProject, name: str) -> tuple[list[str] | None, bool]:
    """Compose's parseSecurityOpts: a seccomp profile file is sent inline as compact JSON,
    `systempaths=unconfined` clears the masked and read-only paths."""
    opts = getattr(loaded.project.services[name], "security_opt", None)
    if opts is None:
        return None, False
    parsed, unconfined = [], False
    for opt in opts:
        if opt == "systempaths=unconfined":
            unconfined = True
            continue
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")
            if not sep:
                raise ComposeFileError(
                    f"invalid security-opt: {opt!r}",
                    file=loaded.config_files[0],
                    key=f"services.{name}.security_opt",
                )
        if key == "seccomp" and value not in ("unconfined", "builtin"):
            path = Path(loaded.working_dir, value)
            try:
                profile = json.loads(read_input_bytes(path))
            except ComposeFileError as exc:
                raise ComposeFileError(
                    f"opening seccomp profile ({value}) failed: {exc.reason}",
                    file=loaded.config_files[0],
                    key=f"services.{name}.security_opt",
                ) from None
            except ValueError as exc:
                raise ComposeFileError(
                    f"opening seccomp profile ({value}) failed: {exc}",
                    file=loaded.config_files[0],
                    key=f"services.{name}.security_opt",
                ) from None
            parsed.append("seccomp=" + json.dumps(profile, separators=(",", ":")))
        else:
            parsed.append(opt)
    return parsed or None, unconfined  # Go sends a nil slice, not []


def host_config(
    loaded: LoadedProject, service: Service, name: str, network_mode: str, links: list[str]
) -> dict[str, Any]:
    binds, mounts = _storage(loaded, service, name)
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in service.ports or []:
        bindings.setdefault(port_key(port), []).append(
            {"HostIp": port.host_ip or "", "HostPort": port.published or ""}
        )
    extra = service.model_extra or {}
    security, unconfined = _security_opts(loaded, name)
    host: dict[str, Any] = {
        "Binds": binds or None,
        "Mounts": mounts or None,
        "PortBindings": bindings,
        "NetworkMode": network_mode,
        "RestartPolicy": _restart_policy(service),
        "CapAdd": _caps(service.cap_add),
        "CapDrop": _caps(service.cap_drop),
        "Privileged": bool(service.privileged),
        "ReadonlyRootfs": bool(extra.get("read_only")),
        "ShmSize": byte_count(service.shm_size),
        "Dns": service.dns,
        "DnsSearch": extra.get("dns_search"),
        "DnsOptions": extra.get("dns_opt"),
        # The canonical form writes extra hosts as "host=ip"; the engine wants "host:ip".
        # Always a list, `[]` when none, as compose sends it.
        "ExtraHosts": [h.replace("=", ":", 1) for h in service.extra_hosts or []],
        "SecurityOpt": security,
        "Sysctls": extra.get("sysctls"),
        "StorageOpt": extra.get("storage_opt"),
        "GroupAdd": extra.get("group_add"),
        "Links": links or None,
        "OomScoreAdj": int(extra.get("oom_score_adj") or 0),
        "VolumesFrom": extra.get("volumes_from"),
        **resources(service),
    }
    _add_optional(host, service, unconfined)
    return host


def _storage(
    loaded: LoadedProject, service: Service, name: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """Binds and mounts: the volumes, then the injected secrets and configs not shadowed."""
    binds, mounts = volume_binds_and_mounts(loaded.project, service)
    taken = {m["Target"] for m in mounts} | {b.split(":")[-2] for b in binds}
    mounts += [m for m in file_mounts(loaded, name) if m["Target"] not in taken]
    return binds, mounts


def _add_optional(host: dict[str, Any], service: Service, unconfined: bool) -> None:
    """The keys compose sends only when the service sets them."""
    extra = service.model_extra or {}
    for key, field in (
        ("ipc", "IpcMode"),
        ("pid", "PidMode"),
        ("cgroup", "CgroupnsMode"),
        ("userns_mode", "UsernsMode"),
        ("uts", "UTSMode"),
        ("isolation", "Isolation"),
        ("runtime", "Runtime"),
        ("volume_driver", "VolumeDriver"),
    ):
        if extra.get(key):
            host[field] = extra[key]
    logging = extra.get("logging")
    if logging:
        host["LogConfig"] = {"Type": logging.get("driver") or "", "Config": logging.get("options")}
    if unconfined:
        host["MaskedPaths"] = []
        host["ReadonlyPaths"] = []
    if service.init is not None:
        host["Init"] = service.init
    tmpfs = extra.get("tmpfs")
    if tmpfs:
        entries = [tmpfs] if isinstance(tmpfs, str) else tmpfs
        host["Tmpfs"] = dict((*t.split(":", 1), "")[:2] for t in entries)
