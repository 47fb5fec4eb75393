"""Helpers for the engine-backed tests of spec/containers/builder (no mocks: a real engine)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from docker.models.resource import Model

from composewatch.compose.model import LoadedProject, Project

COMPOSE = str(
    Path(__file__).resolve().parents[2]
    / ".venv/lib/python3.11/site-packages/compose/docker-compose"
)
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LABEL = "com.docker.compose.project"


def id_of(model: Model) -> str:
    """The id of a container or image the engine returned. docker's stubs type `Model.id` as
    optional because a model can be built from bare attrs; one from the engine always has it."""
    assert model.id is not None, model.attrs
    return model.id


def new_project_name(prefix: str = "cwt") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def compose(project: str, files: list[Path], *args: str, env: dict[str, str] | None = None) -> str:
    cmd = [COMPOSE, "-p", project]
    for f in files:
        cmd += ["-f", str(f)]
    result = subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def load(project: str, files: list[Path], env: dict[str, str] | None = None) -> LoadedProject:
    """What the loader produces: the compose binary's canonical `config --format json`."""
    data: dict[str, Any] = json.loads(
        compose(project, files, "config", "--format", "json", env=env)
    )
    return LoadedProject(
        project=Project.model_validate(data),
        working_dir=str(files[0].resolve().parent),
        config_files=[str(f.resolve()) for f in files],
        environment={},
    )
