"""What `composewatch doctor` asks the engine, over one client: its versions, which images it
lacks, the host ports the project's own containers publish. The judging is doctor.py's."""

from __future__ import annotations

from collections.abc import Iterable

from composewatch.engine.context import Endpoint, open_client
from composewatch.engine.project import (
    EngineFacts,
    engine_facts,
    missing_images,
    published_host_ports,
)

__all__ = ["EngineSurvey"]


class EngineSurvey:
    def __init__(self, endpoint: Endpoint) -> None:
        """Connect and read the engine's versions (what fails here: no engine answers)."""
        self.client = open_client(endpoint, timeout_s=5)
        self.facts: EngineFacts = engine_facts(self.client)

    def missing_images(self, refs: Iterable[str]) -> list[str]:
        return missing_images(self.client, refs)

    def project_ports(self, project: str) -> set[int]:
        """The host ports the project's running containers publish."""
        return published_host_ports(self.client, project)
