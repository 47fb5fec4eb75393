"""How many containers compose runs for a service (pure): read by `up`'s plan, a reload's
plan and the container spec alike, so it lives with the decisions."""

from __future__ import annotations

from composewatch.compose.model import Service

__all__ = ["replica_count"]


def replica_count(service: Service) -> int:
    """How many containers compose runs for `service` (compose-go's GetScale): `scale`, else
    `deploy.replicas`, else 1. Replica n is named `<project>-<service>-<n>`."""
    if service.scale is not None:
        return service.scale
    replicas = (service.deploy or {}).get("replicas")
    return int(replicas) if replicas is not None else 1
