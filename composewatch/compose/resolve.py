"""Relative paths made absolute against a base directory, for the keys compose treats as
local paths (build contexts, bind sources, env_file, watch paths, secret/config files...)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["resolve_paths"]

_REMOTE_CONTEXT = ("https://", "http://", "git://", "ssh://", "github.com/", "git@")
_WINDOWS_ABS = re.compile(r"^(?:[a-zA-Z]:[\\/]|\\\\)")


def _expand_user(path: str, env: Mapping[str, str]) -> str:
    if path == "~" or path.startswith("~/"):
        home = env.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return path


def _abs(path: Any, base: str, env: Mapping[str, str]) -> Any:
    if not isinstance(path, str) or not path:
        return path
    path = _expand_user(path, env)
    if os.path.isabs(path) or _WINDOWS_ABS.match(path):
        return path
    return os.path.normpath(os.path.join(base, path))


def _unix_path(path: Any, base: str, env: Mapping[str, str]) -> Any:
    """compose-go's `maybeUnixPath` (bind sources, secret/config files, bind devices): like
    `_abs`, but an empty path is the base directory itself."""
    if path == "":
        return base
    return _abs(path, base, env)


def _context(path: Any, base: str, env: Mapping[str, str]) -> Any:
    if (
        not isinstance(path, str)
        or "://" in path
        or path.startswith(("service:", *_REMOTE_CONTEXT))
    ):
        return path
    return _abs(path, base, env)


def _service_paths(service: dict[str, Any], base: str, env: Mapping[str, str]) -> None:
    build = service.get("build")
    if isinstance(build, dict):
        if "context" in build:
            build["context"] = _context(build["context"], base, env)
        if isinstance(build.get("ssh"), dict):
            build["ssh"] = {k: _unix_path(v, base, env) for k, v in build["ssh"].items()}
        contexts = build.get("additional_contexts")
        if isinstance(contexts, dict):
            for key, value in contexts.items():
                contexts[key] = _context(value, base, env)
    for env_file in service.get("env_file") or []:
        if isinstance(env_file, dict):
            env_file["path"] = _abs(env_file.get("path"), base, env)
    if service.get("label_file"):
        service["label_file"] = [_abs(p, base, env) for p in service["label_file"]]
    extends = service.get("extends")
    if isinstance(extends, dict) and "file" in extends:
        extends["file"] = _abs(extends["file"], base, env)
    for rule in (service.get("develop") or {}).get("watch") or []:
        if isinstance(rule, dict) and "path" in rule:
            rule["path"] = _abs(rule["path"], base, env)
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict) and volume.get("type") == "bind" and "source" in volume:
            volume["source"] = _unix_path(volume["source"], base, env)


def resolve_paths(doc: dict[str, Any], base: str, env: Mapping[str, str]) -> dict[str, Any]:
    """`doc` (in place) with its relative local paths joined to `base`."""
    for service in (doc.get("services") or {}).values():
        if isinstance(service, dict):
            _service_paths(service, base, env)
    for kind in ("secrets", "configs"):
        for resource in (doc.get(kind) or {}).values():
            if isinstance(resource, dict) and "file" in resource:
                resource["file"] = _unix_path(resource["file"], base, env)
    for volume in (doc.get("volumes") or {}).values():
        if not isinstance(volume, dict) or volume.get("driver") != "local":
            continue
        opts = volume.get("driver_opts")
        if isinstance(opts, dict) and opts.get("o") == "bind" and "device" in opts:
            opts["device"] = _unix_path(opts["device"], base, env)
    return doc
