"""A port in use, named by the compose file's key: the engine's two refusals (recorded from
Docker 20.10), ranges, and messages that are about something else."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from fakes import FakeEngine, ListSink

from composewatch.buildcache import BuildCache
from composewatch.compose import ProjectOptions, load_project
from composewatch.compose.model import Service
from composewatch.config import parse_settings
from composewatch.core.inputs import SwapUndone
from composewatch.core.ports import explain_port_in_use, port_in_use
from composewatch.engine.containers import Engine
from composewatch.engine.executor import DockerRunner
from composewatch.engine.stopsignal import StopSignals
from composewatch.errors import EngineError

ALLOCATED = (
    "starting container 0b1c failed: driver failed programming external connectivity on "
    "endpoint h18port3 (bc3127b3b7c2): Bind for 127.0.0.1:18556 failed: port is already allocated"
)
LISTENING = (
    "starting container 0b1c failed: driver failed programming external connectivity on "
    "endpoint h18port1 (d26ae110d564): Error starting userland proxy: listen tcp4 "
    "0.0.0.0:18555: bind: address already in use"
)


def web(*ports: dict[str, object]) -> Service:
    return Service.model_validate({"image": "busybox", "ports": list(ports)})


@pytest.mark.parametrize(
    ("message", "found"),
    [
        (ALLOCATED, ("127.0.0.1", 18556)),
        (LISTENING, ("0.0.0.0", 18555)),
        ("listen tcp6 [::]:8080: bind: address already in use", ("::", 8080)),
        ("starting container 0b1c failed: no such image", None),
    ],
)
def test_the_engines_refusals_are_read(message: str, found: tuple[str, int] | None) -> None:
    assert port_in_use(message) == found


def test_the_entry_that_publishes_the_port_is_named_with_its_file() -> None:
    service = web(
        {"target": 80, "published": "8000"},
        {"target": 5000, "published": "18550-18560", "host_ip": "127.0.0.1"},
    )
    text = explain_port_in_use(ALLOCATED, "web", service, "/p/compose.yaml")
    assert text is not None
    assert text.startswith(
        "/p/compose.yaml: services.web.ports[1] publishes host port 18556 (on 127.0.0.1), "
    )
    assert '("18557:5000")' in text and '("5000")' in text
    assert text.endswith(f"The engine said: {ALLOCATED}")
    listening = explain_port_in_use(
        LISTENING, "web", web({"target": 80, "published": "18555"}), "c.yaml"
    )
    assert listening is not None and "ports[0]" in listening and "all its addresses" in listening


def test_other_failures_and_ports_it_does_not_publish_are_left_alone() -> None:
    service = web({"target": 80, "published": "8000"}, {"target": 81})
    assert explain_port_in_use(ALLOCATED, "web", service, "c.yaml") is None
    assert explain_port_in_use("no such image", "web", service, "c.yaml") is None


def test_a_save_whose_new_container_cannot_bind_says_the_key(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    ports: ['127.0.0.1:18556:80']\n"
    )
    loaded = load_project(ProjectOptions(working_dir=str(tmp_path), project_name="p", environ={}))
    settings = parse_settings({}, file="compose.yaml", service_names={"web"})
    engine = FakeEngine()
    policy = StopSignals(engine.ignores_sigterm, lambda _: None)
    runner = DockerRunner(
        loaded, settings, cast(Engine, engine), ListSink(), policy, BuildCache(tmp_path / "c", {})
    )
    old = engine.add("p-web-1")
    engine.fail["start"] = EngineError(ALLOCATED)
    result = runner.swap("web", 1, "sha256:new", old)
    assert isinstance(result, SwapUndone)
    assert result.message.startswith(
        f"{tmp_path / 'compose.yaml'}: services.web.ports[0] publishes host port 18556"
    )
