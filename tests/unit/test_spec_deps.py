"""core.deps: which services restart or are recreated when others are recreated."""

from __future__ import annotations

from typing import Any

from composewatch.compose.model import Project
from composewatch.core.deps import dependents_to_recreate, dependents_to_restart


def _dep(restart: bool | None = None) -> dict[str, Any]:
    return {"condition": "service_started", "required": True, "restart": restart}


def _project(**services: dict[str, Any]) -> Project:
    return Project.model_validate(
        {"name": "p", "services": {n: {"image": "busybox", **s} for n, s in services.items()}}
    )


PROJECT = _project(
    db={},
    cache={},
    api={"depends_on": {"db": _dep(True), "cache": _dep()}},
    worker={"depends_on": {"db": _dep(False)}},
    web={"depends_on": {"api": _dep(True)}},
    admin={"depends_on": {"db": _dep(True), "api": _dep(True)}},
    side={"network_mode": "service:db", "depends_on": {"db": _dep(True)}},
    sidecar={"network_mode": "service:side"},
    shared={"volumes_from": ["cache:ro", "container:outside"], "ipc": "service:api"},
)


def test_direct_dependents_with_restart_true_in_start_order() -> None:
    # Not transitive (compose's GetDependentsForService); side is recreated, not restarted.
    assert dependents_to_restart(PROJECT, ["db"]) == ["api", "admin"]
    assert dependents_to_restart(PROJECT, ["api"]) == ["admin", "web"]
    assert dependents_to_restart(PROJECT, ["cache"]) == []
    # A dependent recreated in the same batch needs no restart.
    assert dependents_to_restart(PROJECT, ["db", "api"]) == ["admin", "web"]
    assert dependents_to_restart(PROJECT, ["web"]) == []


def test_services_holding_a_recreated_container_id_are_recreated() -> None:
    assert dependents_to_recreate(PROJECT, ["db"]) == ["side", "sidecar"]
    assert dependents_to_recreate(PROJECT, ["cache"]) == ["shared"]
    assert dependents_to_recreate(PROJECT, ["api"]) == ["shared"]
    assert dependents_to_recreate(PROJECT, ["side", "db"]) == ["sidecar"]
    assert dependents_to_recreate(PROJECT, ["web"]) == []


def test_the_watch_loop_gets_each_service_s_dependents() -> None:
    from composewatch.app import dependents_of
    from composewatch.compose.model import Project
    from composewatch.core.action import Action

    project = Project.model_validate(
        {
            "name": "p",
            "services": {
                "db": {"image": "busybox"},
                "web": {
                    "image": "busybox",
                    "depends_on": {
                        "db": {"condition": "service_started", "restart": True, "required": True}
                    },
                },
                "sidecar": {"image": "busybox", "network_mode": "service:db"},
                "other": {
                    "image": "busybox",
                    "depends_on": {"db": {"condition": "service_started", "required": True}},
                },
            },
        }
    )
    assert dependents_of(project) == {"db": (("sidecar", Action.RECREATE), ("web", Action.RESTART))}
