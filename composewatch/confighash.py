"""Docker Compose's `com.docker.compose.config-hash`, reproduced bit for bit.

Compose v2.40 hashes `json.Marshal(service)` (Go) after clearing build, pull_policy, scale,
deploy.replicas, depends_on and profiles. `marshal_service` writes a service exactly as Go
does (compose-go's field order and `omitempty` rules, sorted map keys, escaped <, > and &,
Go's float widths, no `x-*` keys). Matching the hash lets composewatch adopt containers
`docker compose up` made and lets `docker compose up` adopt ours.

Networks and volumes carry the label too (compose's NetworkHash / VolumeHash): Go's
`json.Marshal` of the compose-go `NetworkConfig` / `VolumeConfig` as loaded (`name` filled in,
`ipam` always written since Go's `omitempty` never drops a struct, labels compose adds itself
left out as they are `json:"-"`). A volume without a driver is hashed as driver `local`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from composewatch.compose.model import Service
from composewatch.compose.render import marshal_service, marshal_struct

__all__ = ["network_hash", "service_hash", "volume_hash"]

_CLEARED = ("build", "pull_policy", "scale", "depends_on", "profiles")


def service_hash(service: Service) -> str:
    """The value compose writes in `com.docker.compose.config-hash` for this service."""
    data = service.model_dump(mode="python", by_alias=True, exclude_unset=True)
    for key in _CLEARED:
        data.pop(key, None)
    if service.label_file:  # not printed by `config` (excluded from dumps), hashed by `up`
        data["label_file"] = list(service.label_file)
    if isinstance(data.get("deploy"), dict):
        data["deploy"] = {k: v for k, v in data["deploy"].items() if k != "replicas"}
    return hashlib.sha256(marshal_service(data).encode()).hexdigest()


def network_hash(config: dict[str, Any]) -> str:
    """The `com.docker.compose.config-hash` compose writes on the network it creates."""
    return _sha256(marshal_struct(config, "NetworkConfig"))


def volume_hash(config: dict[str, Any]) -> str:
    """The `com.docker.compose.config-hash` compose writes on the volume it creates."""
    driven = {**config, "driver": config.get("driver") or "local"}
    return _sha256(marshal_struct(driven, "VolumeConfig"))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
