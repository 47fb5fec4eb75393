"""A storm of saves against the real engine: each build superseded 30 ms after it started
is stopped on the engine, and the build after the storm starts at once instead of queueing
behind the cancelled ones (which made the next `up` sit at "building" for 25 s).

Run under the shared lock: `flock /tmp/cw-docker.lock .venv/bin/pytest
tests/integration/test_build_storm.py -s` prints the figures.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import docker
from fakes import ListSink

from composewatch.buildcache import BuildCache
from composewatch.compose import ProjectOptions, load_project
from composewatch.config import SETTINGS_KEY, parse_settings
from composewatch.core.effects import CancelBuild, StartBuild
from composewatch.core.inputs import BuildErrored, BuildSucceeded
from composewatch.engine.containers import Engine
from composewatch.engine.executor import DockerRunner
from composewatch.engine.stopsignal import StopSignals

STORM = 60  # saves, 30 ms apart: each one supersedes the build of the one before


def make_runner(root: Path, project: str, engine: Engine) -> DockerRunner:
    (root / "compose.yaml").write_text("services:\n  web:\n    build: .\n")
    (root / "Dockerfile").write_text(
        "FROM busybox:latest\nCOPY big /big\nCOPY app.txt /app.txt\nRUN sleep 0.5\n"
    )
    (root / "big").write_bytes(b"x" * 2_000_000)  # some context to send and copy each time
    (root / "app.txt").write_text("0\n")
    loaded = load_project(ProjectOptions(working_dir=str(root), project_name=project, environ={}))
    settings = parse_settings(
        loaded.extensions.get(SETTINGS_KEY), file="compose.yaml", service_names={"web"}
    )
    policy = StopSignals(engine.ignores_sigterm, lambda _: None)
    cache = BuildCache(root / "cache.json", {})
    return DockerRunner(loaded, settings, engine, ListSink(), policy, cache)


async def timed_build(runner: DockerRunner, generation: int) -> float:
    (Path(runner.loaded.working_dir) / "app.txt").write_text(f"{generation}\n")
    began = time.monotonic()
    result = await runner.run(StartBuild("web", generation, "-"))
    assert isinstance(result, BuildSucceeded), result
    return time.monotonic() - began


async def storm_then_build(runner: DockerRunner) -> tuple[float, float, float]:
    """(a build alone, the build right after the storm, how long the storm's builds took to
    end once the last one was superseded)."""
    alone = await timed_build(runner, 1)
    root = Path(runner.loaded.working_dir)
    builds = []
    for generation in range(2, STORM + 2):
        (root / "app.txt").write_text(f"{generation}\n")
        builds.append(asyncio.create_task(runner.run(StartBuild("web", generation, "-"))))
        await asyncio.sleep(0.03)
        runner.cancel_build(CancelBuild("web", generation))
    after = await timed_build(runner, STORM + 2)
    ended = time.monotonic()
    results = await asyncio.gather(*builds)
    assert all(isinstance(r, BuildErrored) for r in results), results  # each superseded
    return alone, after, time.monotonic() - ended


def test_the_build_after_a_storm_of_cancelled_builds_starts_at_once(
    tmp_path: Path, project_name: str, docker_client: docker.DockerClient
) -> None:
    runner = make_runner(tmp_path, project_name, Engine(docker_client))
    alone, after, lingering = asyncio.run(storm_then_build(runner))
    print(f"\nbuild alone {alone:.2f} s; right after a storm of {STORM} saves {after:.2f} s")
    # The storm's builds have ended before the build after it even starts: it waits for
    # the last one to stop, not behind a queue of them on the engine (8 to 10 s here when
    # each superseded build ran on until the engine first answered it).
    assert after < alone + 3.0, (alone, after)
    assert lingering < 1.0
