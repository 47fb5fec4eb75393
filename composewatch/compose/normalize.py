"""The final, printed shape of a service: what compose-go's Go types do when binding the
merged tree (string maps, split commands, byte counts, Go durations, octal modes...)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from composewatch.compose.paths import KeyPath, PathTable, format_path
from composewatch.compose.render import go_format_float
from composewatch.compose.scalars import GoNumError, go_atoi, go_parse_float, go_parse_int
from composewatch.compose.schema import unreadable
from composewatch.compose.shellwords import CommandLineError, parse_command_line
from composewatch.compose.units import UnitError, format_duration, parse_duration, parse_size
from composewatch.errors import ComposeFileError

__all__ = [
    "go_string",
    "normalize_resource",
    "normalize_service",
    "resolve_environment",
    "string_map",
]


def _go_float(value: float) -> str:
    """Go's `strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, exponent form from 1e+06."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp = len(digits) + int(exponent) - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{prefix}0.{'0' * (-exp - 1)}{text}"
    whole, frac = text[: exp + 1].ljust(exp + 1, "0"), text[exp + 1 :]
    return f"{prefix}{whole}" + (f".{frac}" if frac else "")


def go_string(value: Any) -> str:
    """A scalar the way compose turns it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return "" if value is None else str(value)


def _string_map(value: Any, keep_null: bool = False) -> dict[str, Any]:
    """A `list_or_dict` as a map of strings; `KEY` alone gives None (or "" with keep_null off)."""
    if isinstance(value, dict):
        items = list(value.items())
    else:
        items = []
        for entry in value or []:
            key, sep, val = str(entry).partition("=")
            items.append((key, val if sep else None))
    return {k: (go_string(v) if v is not None else (None if keep_null else "")) for k, v in items}


def string_map(value: Any) -> dict[str, str]:
    """A `list_or_dict` of labels as a map of strings."""
    return {k: v if v is not None else "" for k, v in _string_map(value).items()}


def resolve_environment(value: Any, env: Mapping[str, str]) -> dict[str, str | None]:
    """`environment` as a map; `NAME` without a value takes the variable's value if set."""
    mapping = _string_map(value, keep_null=True)
    return {k: v if v is not None else env.get(k) for k, v in mapping.items()}


def _command(value: Any, path: KeyPath) -> Any:
    if isinstance(value, str):
        try:
            return parse_command_line(value)
        except CommandLineError as exc:
            raise ComposeFileError(f"{exc}: {value}", key=format_path(path)) from None
    return [go_string(v) for v in value] if isinstance(value, list) else value


def _duration(value: Any, path: KeyPath) -> Any:
    try:
        return format_duration(parse_duration(value))
    except UnitError as exc:
        raise ComposeFileError(str(exc), key=format_path(path)) from None


def _size(value: Any, path: KeyPath) -> Any:
    try:
        return str(parse_size(value))
    except UnitError as exc:
        raise ComposeFileError(str(exc), key=format_path(path)) from None


_FLOAT32_MAX = 3.4028234663852886e38


def _float(value: Any, path: KeyPath) -> Any:
    """A `cpus` value, as compose holds it: a float32 (`0.333333333` is 0.33333334)."""
    try:
        number = go_parse_float(value) if isinstance(value, str) else float(value)
    except GoNumError as exc:
        raise ComposeFileError(str(exc), key=format_path(path)) from None
    except (TypeError, ValueError):
        raise ComposeFileError(f"invalid number {value!r}", key=format_path(path)) from None
    if not math.isfinite(number) or abs(number) > _FLOAT32_MAX:
        return number
    return float(go_format_float(number, 32, "json"))


def _file_mode(value: Any, path: KeyPath) -> Any:
    """A tmpfs `mode`: compose decodes it into a uint32, so a string (`"1777"`) is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(value)
    return value


def _octal_mode(value: Any, path: KeyPath) -> Any:
    if isinstance(value, str):
        value = int(value, 8)
    return f"0{value:o}" if isinstance(value, int) else value


def _extra_hosts(value: Any, path: KeyPath) -> list[str]:
    entries: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for host, ips in value.items():
            for ip in ips if isinstance(ips, list) else [ips]:
                entries.append((host, go_string(ip)))
    else:
        for i, entry in enumerate(value or []):
            text = str(entry)
            host, sep, ip = text.partition("=")
            if not sep:
                host, sep, ip = text.partition(":")
            if not sep or not ip:
                raise ComposeFileError(
                    f"invalid additional host, missing IP: {text}",
                    key=f"{format_path(path)}[{i}]",
                )
            entries.append((host, ip))
    return sorted(f"{h}={ip}" for h, ip in entries)


def _healthcheck_test(value: Any, path: KeyPath) -> Any:
    return ["CMD-SHELL", value] if isinstance(value, str) else value


def _ports(value: Any, path: KeyPath) -> Any:
    out = []
    for port in value:
        port = dict(port)
        if "published" in port and port["published"] is not None:
            port["published"] = go_string(port["published"])
        if isinstance(port.get("target"), str):
            port["target"] = int(port["target"])
        out.append(port)
    return out


def _deploy(value: Any, path: KeyPath) -> Any:
    value = dict(value or {})
    value.setdefault("resources", {})
    value.setdefault("placement", {})
    return value


def _watch(value: Any, path: KeyPath) -> Any:
    return [{**rule, "exec": rule.get("exec") or {"command": None}} for rule in value]


def _build(value: Any, path: KeyPath) -> Any:
    if "dockerfile" not in value and "dockerfile_inline" not in value:
        value = {**value, "dockerfile": "Dockerfile"}
    return value


def _strings(value: Any, path: KeyPath) -> Any:
    return [go_string(v) for v in value] if isinstance(value, list) else [go_string(value)]


def _ssh(value: Any, path: KeyPath) -> Any:
    """`build.ssh` keys as compose prints them: `id` or `id: path`, by id (compose's order
    is Go's random map order)."""
    if not isinstance(value, dict):
        return value
    return [k if v is None else f"{k}: {go_string(v)}" for k, v in sorted(value.items())]


def _multi_options(value: Any, path: KeyPath) -> Any:
    """`provider.options`: each value a list of strings (compose-go's `MultiOptions`)."""
    if not isinstance(value, dict):
        return value
    return {k: _strings(v, (*path, k)) for k, v in value.items()}


def _string_map_field(value: Any, path: KeyPath) -> Any:
    return _string_map(value)


def _depends_on(value: Any, path: KeyPath) -> Any:
    # `restart: false` is Go's zero value, which compose omits
    return {
        k: {f: v for f, v in d.items() if not (f == "restart" and v is False)}
        for k, d in value.items()
    }


def _volume(value: Any, path: KeyPath) -> Any:
    # false is Go's zero value, which compose omits
    value = {k: v for k, v in value.items() if not (k == "read_only" and v is False)}
    for section, flag in (("bind", "create_host_path"), ("volume", "nocopy")):
        if isinstance(value.get(section), dict) and value[section].get(flag) is False:
            value[section] = {k: v for k, v in value[section].items() if k != flag}
    return value


Normalizer = Callable[[Any, KeyPath], Any]
_FIELDS: dict[str, Normalizer] = {
    "command": _command,
    "entrypoint": _command,
    "healthcheck.test": _healthcheck_test,
    "pre_stop.*.command": _command,
    "post_start.*.command": _command,
    "develop.watch.*.exec.command": _command,
    "stop_grace_period": _duration,
    "healthcheck.interval": _duration,
    "healthcheck.timeout": _duration,
    "healthcheck.start_period": _duration,
    "healthcheck.start_interval": _duration,
    "deploy.restart_policy.delay": _duration,
    "deploy.restart_policy.window": _duration,
    "deploy.update_config.delay": _duration,
    "deploy.update_config.monitor": _duration,
    "deploy.rollback_config.delay": _duration,
    "deploy.rollback_config.monitor": _duration,
    "mem_limit": _size,
    "mem_reservation": _size,
    "memswap_limit": _size,
    "mem_swappiness": _size,
    "shm_size": _size,
    "build.shm_size": _size,
    "volumes.*.tmpfs.size": _size,
    "volumes.*.tmpfs.mode": _file_mode,
    "deploy.resources.limits.memory": _size,
    "deploy.resources.reservations.memory": _size,
    "cpus": _float,
    "deploy.resources.limits.cpus": _float,
    "deploy.resources.reservations.cpus": _float,
    "secrets.*.mode": _octal_mode,
    "configs.*.mode": _octal_mode,
    "extra_hosts": _extra_hosts,
    "build.extra_hosts": _extra_hosts,
    "ports": _ports,
    "deploy": _deploy,
    "volumes.*": _volume,
    "depends_on": _depends_on,
    "develop.watch": _watch,
    "build": _build,
    "expose": _strings,
    "tmpfs": _strings,
    "ulimits.*": lambda v, p: v["single"] if isinstance(v, dict) and "single" in v else v,
    "pull_policy": lambda v, p: "missing" if v == "if_not_present" else v,
    "deploy.resources.reservations.devices.*.count": lambda v, p: _count(v),
    "blkio_config.weight": lambda v, p: _no_string(v, p, "uint16"),
    "blkio_config.weight_device.*.weight": lambda v, p: _no_string(v, p, "uint16"),
    "deploy.resources.limits.pids": lambda v, p: _int64(v, p),
    "deploy.resources.reservations.pids": lambda v, p: _int64(v, p),
    "deploy.resources.reservations.generic_resources.*.discrete_resource_spec.value": (
        lambda v, p: _int64(v, p)
    ),
    "gpus.*.count": lambda v, p: _count(v),
    "dns": _strings,
    "dns_search": _strings,
    "build.cache_from": _strings,
    "build.cache_to": _strings,
    "build.tags": _strings,
    "build.platforms": _strings,
    "blkio_config.device_read_bps.*.rate": _size,
    "blkio_config.device_read_iops.*.rate": _size,
    "blkio_config.device_write_bps.*.rate": _size,
    "blkio_config.device_write_iops.*.rate": _size,
    "post_start.*.environment": lambda v, p: _string_map(v, keep_null=True),
    "pre_stop.*.environment": lambda v, p: _string_map(v, keep_null=True),
    "build.ssh": _ssh,
    "provider.options": _multi_options,
    "labels": _string_map_field,
    "annotations": _string_map_field,
    "sysctls": _string_map_field,
    "logging.options": _string_map_field,
    "build.labels": _string_map_field,
    "build.sbom": lambda v, p: go_string(v),
    "build.provenance": lambda v, p: go_string(v),
    "volumes.*.volume.labels": _string_map_field,
    "networks.*.driver_opts": lambda v, p: {k: go_string(o) for k, o in v.items()},
    "deploy.labels": _string_map_field,
}


_FIELD_TABLE = PathTable(_FIELDS)


def _no_string(value: Any, path: KeyPath, go_type: str) -> Any:
    """A field compose decodes into a plain Go integer: a string (`${VAR}`, of any length)
    is refused as compose's decoder refuses it, before anything converts it."""
    if isinstance(value, str):
        raise ComposeFileError(
            f"expected type '{go_type}', got unconvertible type 'string'", key=format_path(path)
        )
    return value


def _int64(value: Any, path: KeyPath) -> Any:
    """A field compose reads with strconv.ParseInt when it is a string."""
    if not isinstance(value, str):
        return value
    try:
        return go_parse_int(value)
    except GoNumError as exc:
        raise ComposeFileError(str(exc), key=format_path(path)) from None


def _count(value: Any) -> int:
    """A device request's count: "all" is -1; a string is read as Go's Atoi reads it."""
    if value == "all":
        return -1
    return go_atoi(value) if isinstance(value, str) else int(value)


def _walk(value: Any, path: KeyPath) -> Any:
    normalizer = _FIELD_TABLE.lookup(path[2:])
    if normalizer is not None:
        try:
            value = normalizer(value, path)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):
            raise unreadable(value, path) from None
    if isinstance(value, dict):
        # `x-*` keys stay: compose prints them in YAML (its JSON leaves them out)
        return {k: _walk(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, i)) for i, v in enumerate(value)]
    return value


def normalize_service(name: str, service: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The printed form of one merged, path-resolved service."""
    out: dict[str, Any] = {"command": None, "entrypoint": None, **service}
    out.pop("env_file", None)
    if "environment" in out:
        out["environment"] = resolve_environment(out["environment"], env)
    build = out.get("build")
    if isinstance(build, dict) and "args" in build:
        args = _string_map(build["args"], keep_null=True)
        build["args"] = {
            k: v if v is not None else env[k] for k, v in args.items() if v is not None or k in env
        }
    result: dict[str, Any] = _walk(out, ("services", name))
    return result


def normalize_resource(resource: dict[str, Any]) -> dict[str, Any]:
    """The printed form of a top-level network, volume, secret or config."""
    out = dict(resource)
    if "labels" in out:
        out["labels"] = _string_map(out["labels"])
    if isinstance(out.get("driver_opts"), dict):
        out["driver_opts"] = {k: go_string(v) for k, v in out["driver_opts"].items()}
    return out
