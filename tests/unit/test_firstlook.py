"""`up`'s first look at the engine (firstlook.py): asked for early on a thread, taken once by
`UpObserver` as its first observation, with what it raised raised there; later observations
ask the engine again. With a fake engine that records what it is asked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from composewatch.buildcache import BuildCache
from composewatch.compose import ProjectOptions, load_project
from composewatch.compose.model import LoadedProject
from composewatch.core.startup import selected_services
from composewatch.engine.parse import ContainerInfo
from composewatch.errors import EngineError
from composewatch.firstlook import FirstLook, observe_project
from composewatch.observe import UpObserver


class Engine:
    """Records each call; `observe` answers the next of `answers`."""

    def __init__(self, answers: list[list[ContainerInfo]], fail: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.answers = answers
        self.fail = fail

    def observe(self, project_name: str) -> list[ContainerInfo]:
        self.calls.append(f"observe {project_name}")
        return self.answers.pop(0)

    def ensure_networks(self, loaded: LoadedProject) -> None:
        self.calls.append("networks")
        if self.fail is not None:
            raise self.fail

    def ensure_volumes(self, loaded: LoadedProject) -> None:
        self.calls.append("volumes")


def container(cid: str, service: str, status: str = "running") -> ContainerInfo:
    return ContainerInfo(cid, f"p-{service}-1", service, 1, "hash", "sha256:img", status, None)


def project(tmp_path: Path) -> LoadedProject:
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  web: {image: busybox, depends_on: [db]}\n"
        "  db: {image: busybox}\n"
        "  off: {image: busybox, deploy: {replicas: 0}}\n"
    )
    return load_project(ProjectOptions(working_dir=str(tmp_path), project_name="p", environ={}))


def observer(loaded: LoadedProject, engine: Engine, first: FirstLook | None) -> UpObserver:
    runner: Any = SimpleNamespace(cache=BuildCache(Path("/nonexistent/cache.json"), {}))
    return UpObserver(loaded, engine, runner, ["db", "web"], first)  # type: ignore[arg-type]


def test_observe_project_asks_for_the_containers_then_makes_networks_and_volumes(
    tmp_path: Path,
) -> None:
    loaded = project(tmp_path)
    engine = Engine([[container("c1", "web")]])
    assert observe_project(engine, loaded) == [container("c1", "web")]  # type: ignore[arg-type]
    assert engine.calls == ["observe p", "networks", "volumes"]


def test_the_first_look_is_taken_once_and_its_error_is_raised_where_taken(
    tmp_path: Path,
) -> None:
    loaded = project(tmp_path)
    failing = Engine([[]], fail=EngineError("external network 'x' (networks.x) does not exist"))
    look = FirstLook(failing, loaded)  # type: ignore[arg-type]
    outcome = look.take()
    assert outcome is not None
    with pytest.raises(EngineError, match="external network"):
        outcome.result(timeout=10)
    assert look.take() is None
    assert failing.calls == ["observe p", "networks"]  # the volumes only after the networks


def test_up_observes_first_from_the_first_look_then_from_the_engine(tmp_path: Path) -> None:
    loaded = project(tmp_path)
    engine = Engine([[container("c1", "web", "exited")], [container("c2", "web")]])
    look = FirstLook(engine, loaded)  # type: ignore[arg-type]
    up = observer(loaded, engine, look)

    async def twice() -> tuple[Any, Any]:
        return await up(("db", "web")), await up(("web",))

    first, second = asyncio.run(twice())
    assert engine.calls == ["observe p", "networks", "volumes"] * 2  # one first look, no more
    assert [r.service for r in first.requests] == ["db", "web"]
    assert [o.container_id for o in first.requests[1].observed] == ["c1"]
    assert [o.container_id for o in second.requests[0].observed] == ["c2"]


def test_up_without_a_first_look_observes_at_once(tmp_path: Path) -> None:
    loaded = project(tmp_path)
    engine = Engine([[]])
    request = asyncio.run(observer(loaded, engine, None)(("db",)))
    assert engine.calls == ["observe p", "networks", "volumes"]
    assert [r.service for r in request.requests] == ["db"]


def test_selected_services_adds_dependencies_and_leaves_out_zero_replicas(
    tmp_path: Path,
) -> None:
    loaded = project(tmp_path)
    assert selected_services(loaded, []) == ["web", "db"]
    assert selected_services(loaded, ["web"]) == ["web", "db"]
    assert selected_services(loaded, ["db"]) == ["db"]
