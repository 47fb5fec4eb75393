"""The watcher's wiring: the UI, hints, status file, log follower, commands on save and
signals around one `Session`, for `up` and for `watch` when no watcher runs."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from composewatch.commands.common import (
    INTERRUPTED,
    interrupted,
    settings_of,
    stderr,
    stop_on_ctrl_c,
)

if TYPE_CHECKING:
    from composewatch.app import Session
    from composewatch.background import WatcherFiles
    from composewatch.compose.model import LoadedProject
    from composewatch.config import Settings
    from composewatch.core.commands import CommandRule
    from composewatch.engine.containers import Engine
    from composewatch.gaze import CommandRunner
    from composewatch.ui import UI


def run_watcher(
    loaded: LoadedProject,
    settings: Settings,
    requested: list[str],
    *,
    watch: bool,
    json_output: bool,
    logs: bool,
    verbose: bool,
    reload: Callable[[], LoadedProject],
    attach: bool = False,
) -> None:
    import contextlib

    from composewatch.background import WatcherFiles, hold_lock
    from composewatch.core.startup import selected_services
    from composewatch.engine.builder import check_build_inputs
    from composewatch.engine.containers import Engine
    from composewatch.firstlook import FirstLook

    chosen = selected_services(loaded, requested)
    check_build_inputs(loaded, chosen)
    engine = Engine.connect()
    if not attach:  # attaching creates nothing
        check_engine_features(loaded, chosen, engine)
    project = loaded.project.name
    detached = os.environ.get("COMPOSEWATCH_DETACHED") == "1"
    files = WatcherFiles.of(project)
    with contextlib.ExitStack() as stack:
        if watch:
            stack.enter_context(hold_lock(files, project, detached=detached))
        # What `up` first asks the engine is on its way while the rest loads (firstlook.py).
        early = None if attach else FirstLook(engine, loaded)
        from composewatch.app import Interrupted, Session, run_up
        from composewatch.hints import HintingUI

        ui: Any = HintingUI(make_ui(loaded, settings, chosen, engine, json_output, logs, verbose))
        if isinstance(ui.inner, contextlib.AbstractContextManager):  # the live view draws
            stack.enter_context(ui.inner)  # while it is entered; the others print as they go
        hints = partial(start_hints, loaded, settings, chosen, engine)
        ui = around_session(ui, files if watch else None, hints)
        if logs:
            follow_logs(engine, project, ui, chosen)
        session = Session(
            loaded, settings, engine, ui, chosen, reload=reload, attach=attach, first_look=early
        )
        session.on_save = command_runner(loaded, engine, session, ui).submit
        # SIGTERM (`unwatch`, a process manager) stops the watcher as Ctrl-C does.
        signal.signal(signal.SIGTERM, interrupted)
        stop_on_ctrl_c()
        try:
            healthy = run_up(session, watch=watch)
        except (KeyboardInterrupt, Interrupted):
            stderr.print(
                "stopped watching; the containers keep running (composewatch down stops them)"
            )
            raise typer.Exit(INTERRUPTED) from None
    if not healthy:
        raise typer.Exit(1)


def around_session(ui: Any, files: WatcherFiles | None, hints: Callable[[Any], None]) -> Any:
    """The UI the session talks to: the status file (when watching, `files`), the heap
    trimmed when work settles, and the startup hints once `up` is done (reading the build
    contexts must not take CPU from the startup; without a watch, at once)."""
    from composewatch.background import StatusRecorder
    from composewatch.memory import TrimWhenSettled

    if files is not None:
        ui = StatusRecorder(ui, files)
    ui = TrimWhenSettled(ui)
    if files is None:
        hints(ui)
        return ui
    return AfterStartup(ui, partial(hints, ui))


def follow_logs(engine: Engine, project: str, ui: Any, services: list[str]) -> None:
    """`up --logs`: the output of each container started from now on, through the UI."""
    from composewatch.logs import LogFollower

    follower = LogFollower(engine.client, project, ui.log, frozenset(services))
    follower.follow_new_containers(since=datetime.now(UTC))


def check_engine_features(loaded: LoadedProject, services: list[str], engine: Engine) -> None:
    from composewatch.spec_project import check_engine_features

    file = ", ".join(loaded.config_files) or None
    check_engine_features(loaded.project, services, engine.client.api.api_version, file)


def make_ui(
    loaded: LoadedProject,
    settings: Settings,
    services: list[str],
    engine: Engine,
    json_output: bool,
    logs: bool,
    verbose: bool,
) -> UI:
    """JSON lines when asked; the live view on a terminal; plain lines otherwise (and with
    build or container logs, which do not fit in a table)."""
    from composewatch.plainout import PlainConsole, is_plain_pipe
    from composewatch.ui import ConsoleUI, make_console

    if json_output:
        from composewatch.jsonui import JsonUI

        return JsonUI()
    if is_plain_pipe():  # rich, never loaded, would only strip the markup (issue 15)
        return ConsoleUI(PlainConsole(), verbose=verbose, project=loaded.project.name)
    console = make_console()
    if console.is_terminal and not verbose and not logs:
        from composewatch.liveview import LiveUI

        health = {name: health_shown(loaded, settings, name, engine) for name in services}
        return LiveUI(services, health, console, waits_for(loaded, services))
    return ConsoleUI(console, verbose=verbose, project=loaded.project.name)


def waits_for(loaded: LoadedProject, services: list[str]) -> dict[str, str]:
    """What each service waits for at startup, as its depends_on says."""
    words = {
        "service_healthy": "healthy",
        "service_completed_successfully": "completed",
        "service_started": "started",
    }
    waits = {}
    for name in services:
        depends = loaded.project.services[name].depends_on or {}
        shown = [f"{dep} ({words.get(c.condition, c.condition)})" for dep, c in depends.items()]
        if shown:
            waits[name] = ", ".join(shown)
    return waits


def health_shown(loaded: LoadedProject, settings: Settings, name: str, engine: Engine) -> str:
    """How the live view says a service's health is judged: the URL it probes when known,
    and where from (inside the container, through the engine, when that is the route)."""
    from composewatch.health import ProbeKind, ProbeRoute, choose_probe

    service = loaded.project.services[name]
    remote = not engine.endpoint.local
    plan = choose_probe(service, settings.for_service(name).health, remote=remote)
    if plan.kind is ProbeKind.HTTP and plan.url:
        return plan.url
    if plan.kind is ProbeKind.HTTP and plan.route is ProbeRoute.ENGINE:
        return f"{plan.in_container_url} in the container (via engine)"
    if plan.kind is ProbeKind.HTTP:
        for port in service.ports or ():
            if port.target == plan.container_port and port.published:
                host = engine.endpoint.probe_host
                url = f"http://{host}:{port.published.split('-')[0]}{plan.path}"
                return url + (" (else via engine)" if plan.fallback else "")
    if plan.kind is ProbeKind.DOCKER:
        return "HEALTHCHECK (else: running)"
    return plan.describe()


class AfterStartup:
    """Passes every event on; runs `then` once, when `up` says it is watching."""

    def __init__(self, inner: Any, then: Callable[[], None]) -> None:
        self.inner = inner
        self._then: Callable[[], None] | None = then

    def __call__(self, event: Any) -> None:
        self.inner(event)
        if self._then is not None and type(event).__name__ == "Watching":
            then, self._then = self._then, None
            then()

    def __getattr__(self, name: str) -> Any:  # log(), __enter__ of the inner UI
        return getattr(self.inner, name)


def start_hints(
    loaded: LoadedProject, settings: Settings, services: list[str], engine: Engine, ui: Any
) -> None:
    """Once, on a thread of its own: a big build context, a service judged only by running."""
    import threading

    from composewatch import events as ev
    from composewatch.engine.project import image_config
    from composewatch.hints import startup_hints

    def say() -> None:
        try:
            configs = partial(image_config, engine.client)
            for hint in startup_hints(loaded, settings, services, configs):
                ui(ev.Note(hint))
        except OSError:
            return

    threading.Thread(target=say, daemon=True).start()


def command_runner(
    loaded: LoadedProject, engine: Engine, session: Session, ui: UI
) -> CommandRunner:
    """Commands on save: x-composewatch.commands, then a .gaze.yml beside the compose file."""
    from composewatch.engine.project import exec_output
    from composewatch.gaze import CommandRunner, load_gaze_rules

    project_dir = (
        Path(loaded.config_files[0]).parent if loaded.config_files else Path(".")
    ).resolve()

    def load_rules() -> list[CommandRule]:
        # The session's project: a compose file reload replaces it.
        return settings_of(session.loaded).command_rules() + load_gaze_rules(project_dir)

    def exec_in(service: str, argv: list[str], timeout_s: float) -> tuple[int, str]:
        container = session.serving_container(service)
        if container is None:
            return 125, f"{service} has no running container"
        return exec_output(engine.client, container, argv)

    config_files = [Path(f) for f in loaded.config_files]
    return CommandRunner(load_rules, project_dir, ui, exec_in, config_files)
