"""Secrets and configs as compose gives them to a container on a local engine.

A `file` source becomes a read-only bind mount (secrets at /run/secrets/<name> unless a target
is given, configs at /<name>); an `environment` source (and a config's inline `content`) is
written into the container before it starts, as compose's injectSecrets/injectConfigs do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from composewatch.compose.model import LoadedProject, Service
from composewatch.errors import ComposeFileError

__all__ = ["InjectedFile", "file_mounts", "injected_files"]

Kind = Literal["secrets", "configs"]
_SECRETS_DIR = "/run/secrets/"
_KINDS: tuple[Kind, ...] = ("secrets", "configs")


@dataclass(frozen=True)
class InjectedFile:
    """A file written into a created container before it starts (never printed)."""

    target: str  # absolute, or relative to / (a config's relative target, as compose)
    content: bytes = field(repr=False)
    mode: int = 0o444
    uid: int = 0
    gid: int = 0


def _references(service: Service, kind: Kind) -> list[dict[str, Any]]:
    refs = getattr(service, kind, None) or []
    return [r if isinstance(r, dict) else {"source": r} for r in refs]


def _target(ref: dict[str, Any], kind: Kind, *, injected: bool) -> str:
    target = str(ref.get("target") or "")
    base = _SECRETS_DIR if kind == "secrets" else "/"
    if not target:
        return base + str(ref["source"])
    # A relative config target stays relative when injected (compose's setDefaultTarget).
    if not target.startswith("/") and (kind == "secrets" or not injected):
        return base + target
    return target


def _definition(loaded: LoadedProject, name: str, ref: dict[str, Any], kind: Kind) -> Any:
    defined = (getattr(loaded.project, kind) or {}).get(ref["source"])
    where = f"services.{name}.{kind}"
    if defined is None:
        raise ComposeFileError(
            f"{kind[:-1]} {ref['source']!r} is not defined at the top level",
            file=loaded.config_files[0],
            key=where,
        )
    label = defined.get("name") or ref["source"]
    if defined.get("external"):
        raise ComposeFileError(
            f"unsupported external {kind[:-1]} {label}", file=loaded.config_files[0], key=where
        )
    for option in ("driver", "template_driver"):
        if defined.get(option):
            raise ComposeFileError(
                f"Docker Compose does not support {kind}.*.{option}",
                file=loaded.config_files[0],
                key=f"{kind}.{ref['source']}.{option}",
            )
    return defined


def file_mounts(loaded: LoadedProject, name: str) -> list[dict[str, Any]]:
    """The Mounts for the service's file-based secrets and configs (targets unique)."""
    service = loaded.project.services[name]
    mounts: dict[str, dict[str, Any]] = {}
    for kind in _KINDS:
        for ref in _references(service, kind):
            defined = _definition(loaded, name, ref, kind)
            if defined.get("environment") or defined.get("content") or not defined.get("file"):
                continue
            target = _target(ref, kind, injected=False)
            mount: dict[str, Any] = {
                "Type": "bind",
                "Source": defined["file"],
                "Target": target,
                "ReadOnly": True,
            }
            if kind == "secrets":  # compose passes `bind: {create_host_path: false}`
                mount["BindOptions"] = {}
            mounts.setdefault(target, mount)
    return list(mounts.values())


def _mode(value: Any) -> int:
    if value in (None, ""):
        return 0o444
    return int(value, 8) if isinstance(value, str) else int(value)


def injected_files(loaded: LoadedProject, name: str) -> list[InjectedFile]:
    """Files compose copies into the container before starting it: environment-based secrets
    and configs, and inline config `content`."""
    service = loaded.project.services[name]
    out: list[InjectedFile] = []
    for kind in _KINDS:
        for ref in _references(service, kind):
            defined = _definition(loaded, name, ref, kind)
            content = defined.get("content")
            variable = defined.get("environment")
            if not content and variable:
                content = loaded.environment.get(variable)
                if content is None:
                    raise ComposeFileError(
                        f"environment variable {variable!r} required by {kind[:-1]} "
                        f"{defined.get('name') or ref['source']!r} is not set",
                        file=loaded.config_files[0],
                        key=f"{kind}.{ref['source']}.environment",
                    )
            if not content:
                continue
            if getattr(service, "read_only", None):
                raise ComposeFileError(
                    f"cannot create {kind[:-1]} {defined.get('name') or ref['source']!r} in "
                    f"read-only service {name}: `file` is the sole supported option",
                    file=loaded.config_files[0],
                    key=f"services.{name}.{kind}",
                )
            out.append(
                InjectedFile(
                    target=_target(ref, kind, injected=True),
                    content=str(content).encode(),
                    mode=_mode(ref.get("mode")),
                    uid=int(ref.get("uid") or 0),
                    gid=int(ref.get("gid") or 0),
                )
            )
    return out
