"""Milestones from the engine's events (bench.timeline), the same for every tool."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `bench` is not part of the installed package: import it from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.gate import EngineEvent
from bench.timeline import median_healthy, median_milestones, milestones

SAVE = 1000.0


def _c(action: str, actor: str, at: float, service: str = "web") -> EngineEvent:
    return EngineEvent("container", action, actor, SAVE + at, service, actor)


def _tag(name: str, at: float) -> EngineEvent:
    return EngineEvent("image", "tag", "sha256:x", SAVE + at, None, name)


def test_composewatch_order() -> None:
    events = [
        _c("die", "old", -5.0),  # before the save: not this round
        _tag("p-web:latest", 0.5),
        _c("create", "new", 0.55),
        _c("kill", "old", 0.56),
        _c("die", "old", 0.6),
        _c("start", "new", 1.2),
        _c("destroy", "old", 1.9),
    ]
    got = milestones(
        events, service="web", saved_at_s=SAVE, running_at_save={"old"}, served_at_s=SAVE + 1.5
    )
    assert list(got) == ["image", "old down", "created", "started", "served"]
    assert got == pytest.approx(
        {"image": 0.5, "old down": 0.6, "created": 0.55, "started": 1.2, "served": 1.5}
    )


def test_only_the_target_services_image_and_containers_count() -> None:
    events = [
        _tag("p-s2:latest", 0.2),  # gaze rebuilds every service; s2's image is not s1's
        _tag("p-s1", 0.3),
        _c("create", "b", 0.35, service="s2"),
        _c("create", "a2", 0.4, service="s1"),
        _c("start", "b", 0.45, service="s2"),
        _c("start", "a2", 0.6, service="s1"),
    ]
    got = milestones(
        events, service="s1", saved_at_s=SAVE, running_at_save={"a1"}, served_at_s=None
    )
    assert got == pytest.approx({"image": 0.3, "created": 0.4, "started": 0.6})


def test_a_restart_of_the_old_container_is_no_new_start() -> None:
    events = [_c("die", "old", 0.2), _c("start", "old", 0.4)]  # a rollback
    got = milestones(
        events, service="web", saved_at_s=SAVE, running_at_save={"old"}, served_at_s=None
    )
    assert got == pytest.approx({"old down": 0.2})


def test_image_names_with_registry_ports_and_tags() -> None:
    events = [_tag("localhost:5000/p-web:dev", 0.1)]
    got = milestones(events, service="web", saved_at_s=SAVE, running_at_save=(), served_at_s=None)
    assert got == pytest.approx({"image": 0.1})
    events = [_tag("localhost:5000/p-webby", 0.1)]
    got = milestones(events, service="web", saved_at_s=SAVE, running_at_save=(), served_at_s=None)
    assert got == {}


def test_median_milestones_over_the_saves_that_reached_each() -> None:
    medians = median_milestones(
        [{"image": 0.2, "served": 1.0}, {"image": 0.4, "served": 2.0}, {"served": 6.0}]
    )
    assert list(medians) == ["image", "served"]
    assert medians == pytest.approx({"image": 0.3, "served": 2.0})


def test_median_healthy_runs_from_the_engine_start_to_the_first_answer() -> None:
    per_save = [
        {"started": 1.0, "served": 1.2},
        {"started": 1.0, "served": 1.5},
        {"started": 2.0, "served": 2.3},
        {"served": 9.0},  # no start seen: not counted
    ]
    assert median_healthy(per_save) == pytest.approx(0.3)
    assert median_healthy([{"served": 1.0}]) is None
