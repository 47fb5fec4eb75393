"""Pure pieces of the watch loop's edges: the reload plan, backoff, what a lost engine looks
like, and which files reload the project."""

from __future__ import annotations

import http.client
from pathlib import Path

import docker.errors
import requests.exceptions

from composewatch.compose import ProjectOptions, load_project
from composewatch.core.backoff import backoff_delays
from composewatch.core.reload import plan_reload, render_reload
from composewatch.engine.faults import describe, engine_lost
from composewatch.errors import EngineError
from composewatch.spec import config_hash


def project(tmp_path: Path, compose: str, env: str = "", env_file: str = "") -> Path:
    (tmp_path / "compose.yaml").write_text(compose)
    (tmp_path / ".env").write_text(env)
    if env_file:
        (tmp_path / "web.env").write_text(env_file)
    return tmp_path


COMPOSE = """
services:
  web:
    image: busybox
    environment: {GREETING: "${GREETING}"}
    env_file: [web.env]
  api:
    image: busybox
    ports: ["${API_PORT:-8080}:8080"]
  worker:
    build: ./worker
"""


def load(folder: Path):  # type: ignore[no-untyped-def]
    (folder / "worker").mkdir(exist_ok=True)
    return load_project(ProjectOptions(working_dir=str(folder), environ={}))


def test_an_env_edit_recreates_only_the_services_whose_resolved_config_changed(
    tmp_path: Path,
) -> None:
    folder = project(tmp_path, COMPOSE, "GREETING=hi\nAPI_PORT=8080\n", "LEVEL=1\n")
    before = load(folder).project
    (folder / ".env").write_text("GREETING=hello\nAPI_PORT=8080\n")
    after = load(folder).project
    (folder / "web.env").write_text("LEVEL=2\n")
    (folder / ".env").write_text("GREETING=hi\nAPI_PORT=9090\n")
    later = load(folder).project
    services = ["web", "api", "worker"]
    assert render_reload(plan_reload(before, after, services, config_hash)) == (
        "web: recreate (its resolved configuration changed)"
    )
    assert render_reload(plan_reload(before, later, services, config_hash)) == "\n".join(
        [
            "web: recreate (its resolved configuration changed)",
            "api: recreate (its resolved configuration changed)",
        ]
    )


def test_added_and_removed_services_are_said_not_applied(tmp_path: Path) -> None:
    folder = project(tmp_path, COMPOSE, "GREETING=hi\n", "LEVEL=1\n")
    before = load(folder).project
    (folder / "compose.yaml").write_text(
        COMPOSE.replace("  worker:\n    build: ./worker\n", "  cron:\n    image: busybox\n")
    )
    after = load(folder).project
    assert render_reload(
        plan_reload(before, after, ["web", "api", "worker"], config_hash)
    ) == "\n".join(
        [
            "worker: unchanged (removed from the project: restart composewatch up)",
            "cron: unchanged (added to the project: restart composewatch up)",
        ]
    )


def test_a_scale_change_recreates_with_the_new_count(tmp_path: Path) -> None:
    folder = project(tmp_path, COMPOSE, "GREETING=hi\n", "LEVEL=1\n")
    before = load(folder).project
    (folder / "compose.yaml").write_text(
        COMPOSE.replace("    build: ./worker\n", "    build: ./worker\n    scale: 3\n")
    )
    after = load(folder).project
    assert render_reload(plan_reload(before, after, ["web", "api", "worker"], config_hash)) == (
        "worker: recreate (1 → 3 replicas)"
    )
    (worker,) = plan_reload(before, after, ["web", "api", "worker"], config_hash)
    assert worker.replicas == 3
    (folder / "compose.yaml").write_text(
        COMPOSE.replace("    build: ./worker\n", "    build: ./worker\n    scale: 0\n")
    )
    stopped = load(folder).project
    assert render_reload(plan_reload(before, stopped, ["worker"], config_hash)) == (
        "worker: unchanged (1 → 0 replicas: `composewatch up` stops it)"
    )


def test_backoff_grows_then_stays_at_its_ceiling() -> None:
    delays = backoff_delays()
    assert [round(next(delays), 2) for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_a_lost_engine_is_told_apart_from_a_failed_call() -> None:
    gone = requests.exceptions.ConnectionError("Connection aborted")
    assert engine_lost(gone)
    assert engine_lost(http.client.RemoteDisconnected("closed"))
    assert engine_lost(FileNotFoundError(2, "No such file or directory"))  # the socket
    wrapped = EngineError("swap failed")
    wrapped.__cause__ = ConnectionResetError()
    assert engine_lost(wrapped)
    assert not engine_lost(FileNotFoundError(2, "gone", "/src/app.py"))  # a file in a context
    assert not engine_lost(docker.errors.NotFound("No such container"))
    assert not engine_lost(ValueError("x"))
    assert describe(gone) == "the Docker engine does not answer (ConnectionError)"
    assert describe(EngineError("renaming failed")) == "renaming failed"
    assert describe(KeyError("Ports")) == "KeyError: 'Ports'"
