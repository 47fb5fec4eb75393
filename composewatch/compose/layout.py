"""compose-go's Go types (v2.9.1, the version Docker Compose 2.40.3 is built with) as data:
for each struct, its fields in declaration order, the Go kind of each, and whether the field
is `omitempty` in JSON and in YAML. `shape_document` uses them to turn the loaded project
into exactly the tree `docker compose config` encodes: struct fields in Go's order, map
keys sorted (by each encoder's own rule), zero values dropped where Go drops them.

Kinds: `str`, `bool`, `int`, `float` (float64), `float32`, `bytes` (UnitBytes, printed as a
string of digits), `duration` (a Go duration string, zero `0s`), `any` (a decoded YAML value),
`cmd` (ShellCommand: a nil slice is `null`, an empty one is printed), a struct name, and the
prefixes `*` (pointer: only nil is empty), `[]` (slice) and `{}` (map with string keys).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any, Literal

from composewatch.compose.scalars import GoNumError, go_parse_int

__all__ = ["Format", "GoFloat", "shape_document", "shape_struct", "yaml_key_order"]

Format = Literal["json", "yaml"]


@dataclass(frozen=True)
class GoFloat:
    """A float with the width of its Go type, so encoders print it as Go does."""

    value: float
    bits: Literal[32, 64]


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str
    keep_json: bool = False  # no `omitempty` in the json tag
    keep_yaml: bool = False  # no `omitempty` in the yaml tag
    json_name: str | None = None  # a field without a json tag is named after the Go field


def _fields(spec: str) -> tuple[_Field, ...]:
    """`name:kind` pairs; `name!` keeps zero values in both formats, `name!json` in JSON only,
    `name=GoName` names a field without a json tag."""
    fields = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        json_name = None
        if "=" in name:
            name, json_name = name.split("=")
        if name.endswith("!json"):
            fields.append(_Field(name[:-5], kind, keep_json=True))
        elif name.endswith("!"):
            fields.append(_Field(name[:-1], kind, keep_json=True, keep_yaml=True))
        else:
            fields.append(_Field(name, kind, json_name=json_name))
    return tuple(fields)


_FILE_REFERENCE = "source:str target:str uid:str gid:str mode:*filemode"
_FILE_OBJECT = (
    "name:str file:str environment:str content:str external:bool labels:{}str driver:str "
    "driver_opts:{}str template_driver:str"
)
_RESOURCE = "cpus:float32 memory:bytes pids:int devices:[]DeviceRequest "
_RESOURCE += "generic_resources:[]GenericResource"
_UPDATE = (
    "parallelism:*int delay:duration failure_action:str monitor:duration "
    "max_failure_ratio:float32 order:str"
)

# fmt: off
STRUCTS: dict[str, tuple[_Field, ...]] = {
    "Project": _fields(
        "name:str services!:{}ServiceConfig networks:{}NetworkConfig volumes:{}VolumeConfig "
        "secrets:{}FileObjectConfig configs:{}FileObjectConfig models:{}ModelConfig"
    ),
    "ServiceConfig": _fields(
        "profiles:[]str annotations:{}str attach:*bool build:*BuildConfig "
        "develop:*DevelopConfig blkio_config:*BlkioConfig cap_add:[]str cap_drop:[]str "
        "cgroup_parent:str cgroup:str cpu_count:int cpu_percent:float32 cpu_period:int "
        "cpu_quota:int cpu_rt_period:int cpu_rt_runtime:int cpus:float32 cpuset:str "
        "cpu_shares:int command!json:cmd configs:[]FileReferenceConfig container_name:str "
        "credential_spec:*CredentialSpecConfig depends_on:{}ServiceDependency "
        "deploy:*DeployConfig device_cgroup_rules:[]str devices:[]DeviceMapping dns:[]str "
        "dns_opt:[]str dns_search:[]str dockerfile:str domainname:str entrypoint!json:cmd "
        "provider:*ServiceProviderConfig environment:{}*str env_file:[]any expose:[]str "
        "extends:*ExtendsConfig external_links:[]str extra_hosts:[]str group_add:[]str "
        "gpus:[]DeviceRequest hostname:str healthcheck:*HealthCheckConfig image:str "
        "init:*bool ipc:str isolation:str labels:{}str label_file:[]str links:[]str "
        "logging:*LoggingConfig log_driver:str log_opt:{}str mem_limit:bytes "
        "mem_reservation:bytes memswap_limit:bytes mem_swappiness:bytes mac_address:str "
        "models:{}*ServiceModelConfig net:str network_mode:str "
        "networks:{}*ServiceNetworkConfig oom_kill_disable:bool oom_score_adj:int pid:str "
        "pids_limit:int platform:str ports:[]ServicePortConfig privileged:bool "
        "pull_policy:str read_only:bool restart:str runtime:str scale:*int "
        "secrets:[]FileReferenceConfig security_opt:[]str shm_size:bytes stdin_open:bool "
        "stop_grace_period:*duration stop_signal:str storage_opt:{}str sysctls:{}str "
        "tmpfs:[]str tty:bool ulimits:{}*ulimit use_api_socket:bool user:str "
        "userns_mode:str uts:str volume_driver:str volumes:[]ServiceVolumeConfig "
        "volumes_from:[]str working_dir:str post_start:[]ServiceHook pre_stop:[]ServiceHook"
    ),
    "ServiceProviderConfig": _fields("type:str options:{}[]str"),
    "BuildConfig": _fields(
        "context:str dockerfile:str dockerfile_inline:str entitlements:[]str args:{}*str "
        "provenance:str sbom:str ssh:[]str labels:{}str cache_from:[]str cache_to:[]str "
        "no_cache:bool additional_contexts:{}str pull:bool extra_hosts:[]str isolation:str "
        "network:str target:str secrets:[]FileReferenceConfig shm_size:bytes tags:[]str "
        "ulimits:{}*ulimit platforms:[]str privileged:bool"
    ),
    "BlkioConfig": _fields(
        "weight:int weight_device:[]WeightDevice device_read_bps:[]ThrottleDevice "
        "device_read_iops:[]ThrottleDevice device_write_bps:[]ThrottleDevice "
        "device_write_iops:[]ThrottleDevice"
    ),
    "WeightDevice": (_Field("path", "str", True, True, "Path"),
                     _Field("weight", "int", True, True, "Weight")),
    "ThrottleDevice": (_Field("path", "str", True, True, "Path"),
                       _Field("rate", "bytes", True, True, "Rate")),
    "DeviceMapping": _fields("source:str target:str permissions:str"),
    "LoggingConfig": _fields("driver:str options:{}str"),
    "DeployConfig": _fields(
        "mode:str replicas:*int labels:{}str update_config:*UpdateConfig "
        "rollback_config:*UpdateConfig resources:Resources restart_policy:*RestartPolicy "
        "placement:Placement endpoint_mode:str"
    ),
    "UpdateConfig": _fields(_UPDATE),
    "Resources": _fields("limits:*Resource reservations:*Resource"),
    "Resource": _fields(_RESOURCE),
    "GenericResource": _fields("discrete_resource_spec:*DiscreteGenericResource"),
    "DiscreteGenericResource": _fields("kind!:str value!:int"),
    "RestartPolicy": _fields(
        "condition:str delay:*duration max_attempts:*int window:*duration"
    ),
    "Placement": _fields(
        "constraints:[]str preferences:[]PlacementPreferences max_replicas_per_node:int"
    ),
    "PlacementPreferences": _fields("spread:str"),
    "ServiceNetworkConfig": _fields(
        "aliases:[]str driver_opts:{}str gw_priority:int interface_name:str "
        "ipv4_address:str ipv6_address:str link_local_ips:[]str mac_address:str priority:int"
    ),
    "ServicePortConfig": _fields(
        "name:str mode:str host_ip:str target:int published:str protocol:str app_protocol:str"
    ),
    "ServiceVolumeConfig": _fields(
        "type:str source:str target:str read_only:bool consistency:str "
        "bind:*ServiceVolumeBind volume:*ServiceVolumeVolume tmpfs:*ServiceVolumeTmpfs "
        "image:*ServiceVolumeImage"
    ),
    "ServiceVolumeBind": _fields(
        "selinux:str propagation:str create_host_path:bool recursive:str"
    ),
    "ServiceVolumeVolume": _fields("labels:{}str nocopy:bool subpath:str"),
    "ServiceVolumeTmpfs": _fields("size:bytes mode:int"),
    "ServiceVolumeImage": _fields("subpath:str"),
    "FileReferenceConfig": _fields(_FILE_REFERENCE),
    "NetworkConfig": _fields(
        "name:str driver:str driver_opts:{}str ipam:IPAMConfig external:bool internal:bool "
        "attachable:bool labels:{}str enable_ipv4:*bool enable_ipv6:*bool"
    ),
    "IPAMConfig": _fields("driver:str config:[]*IPAMPool"),
    "IPAMPool": _fields("subnet:str gateway:str ip_range:str aux_addresses:{}str"),
    "VolumeConfig": _fields(
        "name:str driver:str driver_opts:{}str external:bool labels:{}str"
    ),
    "CredentialSpecConfig": _fields("config:str file:str registry:str"),
    "FileObjectConfig": _fields(_FILE_OBJECT),
    "ServiceDependency": _fields("condition:str restart:bool required!:bool"),
    "ExtendsConfig": _fields("file:str service:str"),
    "HealthCheckConfig": _fields(
        "test:[]str timeout:*duration interval:*duration retries:*int "
        "start_period:*duration start_interval:*duration disable:bool"
    ),
    "ServiceHook": _fields(
        "command!json:cmd user:str privileged:bool working_dir:str environment:{}*str"
    ),
    "DeviceRequest": _fields(
        "capabilities:[]str driver:str count:int device_ids:[]str options:{}str"
    ),
    "DevelopConfig": _fields("watch:[]Trigger"),
    "Trigger": _fields(
        "path!:str action!:str target:str exec:ServiceHook include:[]str ignore:[]str "
        "initial_sync:bool"
    ),
    "ModelConfig": _fields("name:str model:str context_size:int runtime_flags:[]str"),
    "ServiceModelConfig": _fields("endpoint_var:str model_var:str"),
}
# fmt: on

# Structs without the inline `Extensions` map (their `x-*` keys are not printed in YAML).
_NO_EXTENSIONS = {"ExtendsConfig", "DeviceRequest"}


def _is_zero(value: Any, kind: str) -> bool:
    """Go's zero value test for `kind`, as yaml.v3's `isZero` sees it."""
    if value is None:
        return True
    if kind.startswith("*"):
        return False
    if kind == "cmd":
        return False  # ShellCommand.IsZero: only a nil slice
    if kind in STRUCTS and isinstance(value, dict):
        fields = STRUCTS[kind]
        return all(_is_zero(value.get(f.name), f.kind) for f in fields) and not any(
            k.startswith("x-") for k in value
        )
    return _is_empty(value, kind)


def _is_empty(value: Any, kind: str) -> bool:
    """encoding/json's `omitempty` test (a struct is never empty, a pointer only when nil)."""
    if value is None:
        return True
    if kind.startswith("*") or kind in STRUCTS:
        return False
    if kind == "bytes":
        return str(value) in ("", "0")
    if kind == "duration":
        return value in ("", "0s")
    if isinstance(value, bool):
        return value is False
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str | list | dict):
        return len(value) == 0
    return False


def _scalar(value: Any, kind: str) -> Any:
    if kind in ("float32", "float") and isinstance(value, int | float) and value is not True:
        return GoFloat(float(value), 32 if kind == "float32" else 64)
    if kind == "bytes" and value is not None:
        return str(value)
    if kind == "int" and isinstance(value, str):
        try:
            return go_parse_int(value)  # digits counted first: never Python's digit limit
        except GoNumError:
            return value
    return value


def _shape(value: Any, kind: str, fmt: Format) -> Any:
    if value is None:  # a Go zero value printed anyway (a field without `omitempty`)
        if kind in STRUCTS:
            value = {}
        elif fmt == "yaml" and kind[:2] in ("{}", "[]"):
            return {} if kind.startswith("{}") else []  # go-yaml writes nil as empty
        else:
            return None
    if kind.startswith("*"):
        return _shape(value, kind[1:], fmt)
    if kind.startswith("[]") and isinstance(value, list):
        return [_shape(v, kind[2:], fmt) for v in value]
    if kind.startswith("{}") and isinstance(value, dict):
        return {k: _shape(v, kind[2:], fmt) for k, v in _sorted_items(value, fmt)}
    if kind == "ulimit":
        return _ulimit(value, fmt)
    if kind in STRUCTS and isinstance(value, dict):
        return _struct(value, kind, fmt)
    if kind == "any":
        return _any(value, fmt)
    return _scalar(value, kind)


def _struct(value: dict[str, Any], kind: str, fmt: Format) -> dict[str, Any]:
    out: dict[str, Any] = {}  # keys compose-go's types do not know are not printed
    for field in STRUCTS[kind]:
        item = value.get(field.name)
        keep = field.keep_json if fmt == "json" else field.keep_yaml
        empty = _is_empty(item, field.kind) if fmt == "json" else _is_zero(item, field.kind)
        if empty and not keep:
            continue
        name = field.json_name if fmt == "json" and field.json_name else field.name
        out[name] = _shape(item, field.kind, fmt)
    extensions = {k: v for k, v in value.items() if k.startswith("x-")}
    if fmt == "yaml" and kind not in _NO_EXTENSIONS:
        for key, item in _sorted_items(extensions, fmt):
            out[key] = _any(item, fmt)
    return out


def _ulimit(value: Any, fmt: Format) -> Any:
    if isinstance(value, int):
        return value
    if isinstance(value, dict) and value.get("single"):
        return value["single"]
    value = value or {}
    if fmt == "yaml":  # an untagged Go struct: both fields, lower-cased
        return {"soft": value.get("soft", 0), "hard": value.get("hard", 0)}
    return {k: value[k] for k in ("soft", "hard") if value.get(k)}


def _any(value: Any, fmt: Format) -> Any:
    if isinstance(value, dict):
        return {str(k): _any(v, fmt) for k, v in _sorted_items(value, fmt)}
    if isinstance(value, list):
        return [_any(v, fmt) for v in value]
    if isinstance(value, float):
        return GoFloat(value, 64)
    return value


def _sorted_items(value: dict[str, Any], fmt: Format) -> list[tuple[str, Any]]:
    if fmt == "json":
        return sorted(value.items(), key=lambda kv: kv[0].encode("utf-8", "surrogateescape"))

    def compare(a: tuple[str, Any], b: tuple[str, Any]) -> int:
        return yaml_key_order(a[0], b[0])

    return sorted(value.items(), key=cmp_to_key(compare))


def _is_letter(char: str) -> bool:
    return unicodedata.category(char).startswith("L")


def _is_digit(char: str) -> bool:
    return unicodedata.category(char) == "Nd"


def _number_at(text: str, start: int, seed: int) -> tuple[int, int]:
    end, number = start, seed
    while end < len(text) and _is_digit(text[end]):
        number = number * 10 + ord(text[end]) - ord("0")
        end += 1
    return number, end


def yaml_key_order(a: str, b: str) -> int:
    """yaml.v3's `keyList.Less` for string keys, as a cmp: letters before other characters,
    runs of digits compared as numbers (`B9` before `B10`)."""
    digits = False
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            digits = _is_digit(a[i])
            continue
        a_letter, b_letter = _is_letter(a[i]), _is_letter(b[i])
        if a_letter and b_letter:
            return -1 if a[i] < b[i] else 1
        if a_letter or b_letter:
            first = a_letter if digits else b_letter
            return -1 if first else 1
        seed = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and _is_digit(a[j]):
                if a[j] != "0":
                    seed = 1
                    break
                j -= 1
        a_number, a_end = _number_at(a, i, seed)
        b_number, b_end = _number_at(b, i, seed)
        if a_number != b_number:
            return -1 if a_number < b_number else 1
        if a_end != b_end:
            return -1 if a_end < b_end else 1
        return -1 if a[i] < b[i] else 1
    return -1 if len(a) < len(b) else (1 if len(a) > len(b) else 0)


def shape_document(
    project: dict[str, Any], extensions: dict[str, Any], fmt: Format
) -> dict[str, Any]:
    """The tree compose encodes for `config --format fmt`: for JSON a map of the top-level
    keys (sorted, `models` left out, `x-*` included), for YAML the `Project` struct."""
    if fmt == "json":
        top: dict[str, Any] = {"name": project.get("name", ""), "services": None}
        for key in ("networks", "volumes", "secrets", "configs"):
            if project.get(key):
                top[key] = None
        top.update(extensions)
        out: dict[str, Any] = {}
        kinds = {f.name: f.kind for f in STRUCTS["Project"]}
        for key, _ in _sorted_items(top, fmt):
            if key in kinds:
                item = project.get(key)
                out[key] = _shape({} if item is None else item, kinds[key], fmt)
            else:
                out[key] = _any(extensions[key], fmt)
        return out
    return _struct({**project, **extensions}, "Project", fmt)


def shape_struct(value: dict[str, Any], struct: str, fmt: Format) -> dict[str, Any]:
    """One compose-go struct (`ServiceConfig`...) as its encoder writes it."""
    return _struct(value, struct, fmt)
