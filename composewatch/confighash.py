"""Docker Compose's `com.docker.compose.config-hash`, reproduced bit for bit.

Compose v2.40 hashes `json.Marshal(service)` (Go) after clearing build, pull_policy, scale,
deploy.replicas, depends_on and profiles. `marshal_service` writes a service exactly as Go
does (compose-go's field order and `omitempty` rules, sorted map keys, escaped <, > and &,
Go's float widths, no `x-*` keys). Matching the hash lets composewatch adopt containers
`docker compose up` made and lets `docker compose up` adopt ours.
"""

from __future__ import annotations

import hashlib

from composewatch.compose.model import Service
from composewatch.compose.render import marshal_service

__all__ = ["service_hash"]

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
