"""The executor carries `up`'s plan out with no decisions (fake engine), and the console
renders the loop's new events (rollback reasons with log lines, the engine coming and going)."""

from __future__ import annotations

from pathlib import Path

from fakes import FakeEngine, ListSink
from rich.console import Console

from composewatch import events as ev
from composewatch.app import Session
from composewatch.compose import ProjectOptions, load_project
from composewatch.config import SETTINGS_KEY, parse_settings
from composewatch.core.effects import StartReplica
from composewatch.core.inputs import ReplicaStarted
from composewatch.core.plan import Step
from composewatch.ui import render as render_event
from composewatch.upsteps import UpSteps

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "two-services"


def session(engine: FakeEngine) -> Session:
    loaded = load_project(ProjectOptions(working_dir=str(FIXTURE), project_name="p", environ={}))
    settings = parse_settings(
        loaded.extensions.get(SETTINGS_KEY), file="compose.yaml", service_names={"web", "api"}
    )
    return Session(loaded, settings, engine, ListSink(), ["api", "web"])  # type: ignore[arg-type]


def test_each_step_does_only_what_the_plan_says() -> None:
    engine = FakeEngine()
    runner = session(engine).runner
    events = runner.checks.events
    run = UpSteps(engine, runner.spec_for, runner.explain, events)  # type: ignore[arg-type]
    leftover = engine.add("p-web-1_cw-new")
    stopped = engine.add("p-web-1", running=False)
    start = StartReplica("web", 1, Step.START, "sha256:i", stopped, 1, (leftover,))
    assert run.start_replica(start) == ReplicaStarted("web", 1, 1, stopped)
    assert engine.names() == {"p-web-1": True}
    assert [c[0] for c in engine.calls] == ["remove", "start"]

    engine.calls.clear()
    made = run.start_replica(StartReplica("api", 2, Step.CREATE, "sha256:i", None))
    assert isinstance(made, ReplicaStarted) and made.container is not None
    assert engine.names()["p-api-1"] is True
    assert [c[0] for c in engine.calls] == ["create", "start"]

    engine.calls.clear()
    adopted = run.start_replica(StartReplica("api", 3, Step.ADOPT, "x", made.container))
    assert adopted == ReplicaStarted("api", 3, 1, made.container)
    assert engine.calls == []


def render(event: ev.Event) -> str:
    console = Console(width=200, record=True)
    line = render_event(event)
    assert line is not None
    console.print(line)
    return console.export_text()


def test_the_console_says_why_a_rollback_happened_and_shows_the_logs() -> None:
    text = render(ev.RolledBack("web", "container exited with code 1", ("boom", "[bold]x")))
    assert "container exited with code 1" in text
    assert "    boom\n" in text and "[bold]x" in text  # log lines escaped, not markup
    assert "Docker engine lost" in render(ev.EngineLost("the Docker engine does not answer"))
    assert "after 3.00 s" in render(ev.EngineReturned(3.0))
    assert "tried again" in render(ev.CommitFailed("web", "rename failed"))
