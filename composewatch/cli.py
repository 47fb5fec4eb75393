"""Typer commands, shaped like `docker compose`'s: global options come before the command.

Exit codes: 0 success; 1 something failed at run time (a build, an unhealthy service, the
engine); 2 bad input (compose file, setting, unknown service, no engine, unknown docker
context); 130 interrupted. This module parses, wires the pieces and maps errors; the work is
done elsewhere.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.text import Text

from composewatch import hiding
from composewatch.compose import ProjectOptions, load_project, render_config
from composewatch.compose.model import LoadedProject
from composewatch.config import SETTINGS_KEY, Settings, parse_settings, settings_schema
from composewatch.errors import ComposewatchError, InputError

if TYPE_CHECKING:
    from composewatch.app import Session
    from composewatch.core.commands import CommandRule
    from composewatch.engine.containers import Engine
    from composewatch.engine.project import ContainerRow
    from composewatch.gaze import CommandRunner
    from composewatch.ui import UI

__all__ = ["app", "main"]

PROG_NAME = "composewatch"
app = typer.Typer(
    name=PROG_NAME,
    help="Save a file, get the new code served: fast, health-checked rebuilds for Compose.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_stderr = Console(stderr=True, highlight=False, soft_wrap=True)
INTERRUPTED = 130  # the exit code of a command stopped by Ctrl-C (128 + SIGINT), as a shell's


@dataclass(frozen=True)
class GlobalOptions:
    options: ProjectOptions

    def load(self) -> LoadedProject:
        return load_project(self.options)

    def argv(self, project_name: str) -> list[str]:
        """The global options again, for a detached watcher started from here."""
        args: list[str] = []
        for file in self.options.files:
            args += ["-f", str(Path(file).absolute())]
        args += ["-p", project_name]
        for profile in self.options.profiles:
            args += ["--profile", profile]
        for env_file in self.options.env_files:
            args += ["--env-file", str(Path(env_file).absolute())]
        args += ["--project-directory", str(Path(self.options.working_dir or ".").absolute())]
        return args


def _settings(loaded: LoadedProject) -> Settings:
    return parse_settings(
        loaded.extensions.get(SETTINGS_KEY),
        file=loaded.config_files[0] if loaded.config_files else "compose file",
        service_names=set(loaded.project.services),
    )


def _check_services(loaded: LoadedProject, services: list[str] | None) -> list[str]:
    unknown = [s for s in services or () if s not in loaded.project.services]
    if unknown:
        known = ", ".join(loaded.project.services) or "none"
        raise InputError(f"no such service: {', '.join(unknown)} (services: {known})")
    return list(services or ())


def _complete_services(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of SERVICE arguments: the services of the project found from here."""
    try:
        options = ctx.obj.options if isinstance(ctx.obj, GlobalOptions) else ProjectOptions()
        names = list(load_project(options).project.services)
    except Exception:
        return []
    return [name for name in names if name.startswith(incomplete)]


# The arguments several commands share, as compose spells them.
ServicesArg = Annotated[
    list[str] | None,
    typer.Argument(help="Only these services.", autocompletion=_complete_services),
]
TimeoutOption = Annotated[
    int | None,
    typer.Option("--timeout", "-t", metavar="SECONDS", help="Seconds to wait before killing."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"composewatch version {package_version('composewatch')}")
        raise typer.Exit()


def _example(*lines: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


@app.callback(epilog=_example("composewatch up", "composewatch -f compose.yaml -p shop ps"))
def global_options(
    ctx: typer.Context,
    file: Annotated[
        list[str] | None,
        typer.Option("--file", "-f", metavar="FILE", help="Compose file (repeatable)."),
    ] = None,
    project_name: Annotated[
        str | None, typer.Option("--project-name", "-p", metavar="NAME", help="Project name.")
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option("--profile", metavar="PROFILE", help="Enable a profile (repeatable)."),
    ] = None,
    env_file: Annotated[
        list[str] | None,
        typer.Option("--env-file", metavar="FILE", help="Environment file (repeatable)."),
    ] = None,
    project_directory: Annotated[
        str | None,
        typer.Option("--project-directory", metavar="DIR", help="Where to look for compose files."),
    ] = None,
    _show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(
        ProjectOptions(
            files=tuple(file or ()),
            project_name=project_name,
            profiles=tuple(profile or ()),
            env_files=tuple(env_file or ()),
            working_dir=project_directory,
        )
    )


# --- up, watch, status, unwatch -------------------------------------------------------------


@app.command(
    epilog=_example(
        "composewatch up                 # build, start, wait until healthy, watch",
        "composewatch up -d              # the same, watcher in the background",
        "composewatch up --logs web      # web and its dependencies, with their output",
        "composewatch up --json > events.jsonl",
    )
)
def up(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None, typer.Argument(help="Services to run.", autocompletion=_complete_services)
    ] = None,
    no_watch: Annotated[
        bool, typer.Option("--no-watch", help="Stop once every service is healthy.")
    ] = False,
    detach: Annotated[
        bool,
        typer.Option("--detach", "-d", help="Watch in the background; return once healthy."),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print events as JSON lines.")
    ] = False,
    logs: Annotated[
        bool, typer.Option("--logs", help="Interleave the containers' output.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show build logs.")] = False,
) -> None:
    """Build and start the project, then rebuild and swap services as their files change."""
    loaded = ctx.obj.load()
    settings = _settings(loaded)
    chosen = _check_services(loaded, services)
    from composewatch.app import selected_services
    from composewatch.spec_project import check_replicas

    started = selected_services(loaded, chosen)
    check_replicas(loaded.project, started, ", ".join(loaded.config_files) or None)
    if detach:
        if no_watch:
            raise InputError("--detach and --no-watch: nothing would run in the background")
        _up_detached(ctx.obj, loaded, chosen, logs=logs)
        return
    _run_watcher(
        loaded,
        settings,
        chosen,
        watch=not no_watch,
        json_output=json_output,
        logs=logs,
        verbose=verbose,
        reload=ctx.obj.load,
    )


def _run_watcher(
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

    from composewatch.app import Interrupted, Session, run_up, selected_services
    from composewatch.background import StatusRecorder, WatcherFiles, hold_lock
    from composewatch.engine.builder import check_build_inputs
    from composewatch.engine.containers import Engine
    from composewatch.hints import HintingUI
    from composewatch.liveview import LiveUI

    chosen = selected_services(loaded, requested)
    check_build_inputs(loaded, chosen)
    engine = Engine.connect()
    if not attach:  # attaching creates nothing
        _check_engine_features(loaded, chosen, engine)
    project = loaded.project.name
    detached = os.environ.get("COMPOSEWATCH_DETACHED") == "1"
    files = WatcherFiles.of(project)
    ui: Any = HintingUI(_make_ui(loaded, settings, chosen, engine, json_output, logs, verbose))
    with contextlib.ExitStack() as stack:
        if watch:
            stack.enter_context(hold_lock(files, project, detached=detached))
        if isinstance(ui.inner, LiveUI):
            stack.enter_context(ui.inner)
        if watch:
            ui = StatusRecorder(ui, files)
        if logs:
            from composewatch.logs import LogFollower

            follower = LogFollower(engine.client, project, ui.log, frozenset(chosen))
            follower.follow_new_containers(since=datetime.now(UTC))
        session = Session(loaded, settings, engine, ui, chosen, reload=reload, attach=attach)
        _start_hints(loaded, settings, chosen, engine, ui)
        session.on_save = _command_runner(loaded, settings, engine, session, ui).submit
        # SIGTERM (`unwatch`, a process manager) stops the watcher as Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupted)
        _stop_on_ctrl_c()
        try:
            healthy = run_up(session, watch=watch)
        except (KeyboardInterrupt, Interrupted):
            _stderr.print(
                "stopped watching; the containers keep running (composewatch down stops them)"
            )
            raise typer.Exit(INTERRUPTED) from None
    if not healthy:
        raise typer.Exit(1)


def _check_engine_features(loaded: LoadedProject, services: list[str], engine: Engine) -> None:
    from composewatch.spec_project import check_engine_features

    file = ", ".join(loaded.config_files) or None
    check_engine_features(loaded.project, services, engine.client.api.api_version, file)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_on_ctrl_c() -> None:
    """One rule for the commands that run until stopped (`up`, `watch`, `logs -f`): Ctrl-C
    stops them, and they exit with 130, even when started with SIGINT ignored (a shell
    starts a script's background jobs so): what runs on a terminal must stop from it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _make_ui(
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
    from composewatch.jsonui import JsonUI
    from composewatch.liveview import LiveUI
    from composewatch.ui import ConsoleUI, make_console

    console = make_console()
    if json_output:
        return JsonUI()
    if console.is_terminal and not verbose and not logs:
        health = {name: _health_shown(loaded, settings, name, engine) for name in services}
        return LiveUI(services, health, console, _waits_for(loaded, services))
    return ConsoleUI(console, verbose=verbose, project=loaded.project.name)


def _waits_for(loaded: LoadedProject, services: list[str]) -> dict[str, str]:
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


def _health_shown(loaded: LoadedProject, settings: Settings, name: str, engine: Engine) -> str:
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


def _start_hints(
    loaded: LoadedProject, settings: Settings, services: list[str], engine: Engine, ui: Any
) -> None:
    """Once, off the startup path: a big build context, a service judged only by running."""
    import threading
    from functools import partial

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


def _command_runner(
    loaded: LoadedProject, settings: Settings, engine: Engine, session: Session, ui: UI
) -> CommandRunner:
    """Commands on save: x-composewatch.commands, then a .gaze.yml beside the compose file."""
    from composewatch.engine.project import exec_output
    from composewatch.gaze import CommandRunner, load_gaze_rules

    project_dir = (
        Path(loaded.config_files[0]).parent if loaded.config_files else Path(".")
    ).resolve()

    def load_rules() -> list[CommandRule]:
        # The session's project: a compose file reload replaces it.
        return _settings(session.loaded).command_rules() + load_gaze_rules(project_dir)

    def exec_in(service: str, argv: list[str], timeout_s: float) -> tuple[int, str]:
        container = session.serving_container(service)
        if container is None:
            return 125, f"{service} has no running container"
        return exec_output(engine.client, container, argv)

    config_files = [Path(f) for f in loaded.config_files]
    return CommandRunner(load_rules, project_dir, ui, exec_in, config_files)


def _up_detached(
    options: GlobalOptions, loaded: LoadedProject, services: list[str], *, logs: bool
) -> None:
    from composewatch.app import selected_services
    from composewatch.background import (
        WatcherFiles,
        follow_log,
        parse_event,
        refuse_second_watcher,
        spawn_detached,
    )
    from composewatch.engine.containers import Engine
    from composewatch.ui import ConsoleUI

    project = loaded.project.name
    files = WatcherFiles.of(project)
    refuse_second_watcher(files, project)
    # Fail here, in the foreground, when no engine answers or it cannot run the project.
    _check_engine_features(loaded, selected_services(loaded, services), Engine.connect())
    argv = [*options.argv(project), "up", "--json", *(["--logs"] if logs else []), *services]
    proc = spawn_detached(argv, files)
    _stop_on_ctrl_c()
    ui = ConsoleUI()
    failed: list[str] = []

    def on_record(record: dict[str, Any]) -> bool:
        event = parse_event(record)
        if event is not None:
            ui(event)
            if type(event).__name__ in ("Unhealthy", "BuildFailed"):
                failed.append(str(record.get("service")))
            return type(event).__name__ == "Watching"
        if "text" in record:
            _stderr.print(Text(record["text"]))
        return False

    watching = follow_log(files, on_record, lambda: proc.poll() is None)
    if watching and not failed:
        _stderr.print(
            f"watching in the background (pid {proc.pid}); `composewatch -p {project} watch` "
            f"shows it, `composewatch -p {project} unwatch` stops it; log: {files.log}"
        )
        return
    if watching:  # up but not every service is healthy: the watcher keeps going
        _stderr.print(f"unhealthy: {', '.join(failed)}; the watcher keeps running (pid {proc.pid})")
        raise typer.Exit(1)
    code = proc.wait()
    raise typer.Exit(code or 1)


@app.command(epilog=_example("composewatch watch", "composewatch -p shop watch --json"))
def watch(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print events as JSON lines.")
    ] = False,
) -> None:
    """Follow the project's background watcher; with none, watch the running project
    without recreating what runs."""
    from composewatch.background import WatcherFiles, follow_log, parse_event, read_status
    from composewatch.ui import ConsoleUI, LogLine

    loaded = ctx.obj.load()
    settings = _settings(loaded)
    files = WatcherFiles.of(loaded.project.name)
    if not read_status(files).running:
        _run_watcher(
            loaded,
            settings,
            [],
            watch=True,
            json_output=json_output,
            logs=False,
            verbose=False,
            reload=ctx.obj.load,
            attach=True,
        )
        return
    ui = ConsoleUI(project=loaded.project.name)
    _stop_on_ctrl_c()

    def on_record(record: dict[str, Any]) -> bool:
        if json_output:
            typer.echo(json.dumps(record))
            return False
        event = parse_event(record)
        if event is not None:
            ui(event)
        elif record.get("type") == "ContainerLog":
            ui.log(LogLine(str(record["service"]), str(record["container"]), str(record["line"])))
        return False

    follow_log(files, on_record, lambda: read_status(files).running)
    _stderr.print("the watcher stopped")


@app.command(epilog=_example("composewatch status", "composewatch -p shop status --json"))
def status(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Whether a watcher runs for this project, since when, and what it last did.
    Exit code 0 when one runs, 1 when none does."""
    from composewatch.background import WatcherFiles, read_status

    project = ctx.obj.load().project.name
    found = read_status(WatcherFiles.of(project))
    if json_output:
        typer.echo(json.dumps({"project": project, **found.__dict__}))
    elif not found.running:
        typer.echo(f"no watcher runs for project {project}")
    else:
        how = "in the background" if found.detached else "in a terminal"
        typer.echo(f"watcher for {project}: pid {found.pid}, {how}, since {found.started}")
        for label, record in (("last event", found.last), ("last live", found.last_live)):
            if record:
                typer.echo(f"  {label}: {_describe_record(record)}")
    if not found.running:
        raise typer.Exit(1)


def _describe_record(record: dict[str, Any]) -> str:
    from composewatch.background import parse_event
    from composewatch.ui import printable, render

    event = parse_event(record)
    markup = render(event) if event is not None else None
    text = Text.from_markup(markup).plain if markup else str(record.get("type"))
    return f"{record.get('ts', '')} {printable(text)}"


@app.command(epilog=_example("composewatch unwatch"))
def unwatch(ctx: typer.Context) -> None:
    """Stop the project's watcher (the containers keep running)."""
    from composewatch.background import WatcherFiles, stop_watcher

    project = ctx.obj.load().project.name
    pid = stop_watcher(WatcherFiles.of(project))
    typer.echo(
        f"no watcher runs for project {project}"
        if pid is None
        else f"stopped the watcher of {project} (pid {pid})"
    )


# --- compose's commands ----------------------------------------------------------------------


@app.command(epilog=_example("composewatch down"))
def down(ctx: typer.Context) -> None:
    """Stop the watcher, then stop and remove the project's containers and networks."""
    from composewatch.background import WatcherFiles, stop_watcher
    from composewatch.engine.containers import Engine

    loaded = ctx.obj.load()
    engine = Engine.connect()
    stop_watcher(WatcherFiles.of(loaded.project.name))
    engine.down(loaded.project.name)


@app.command(epilog=_example("composewatch ps", "composewatch ps web --format json"))
def ps(
    ctx: typer.Context,
    services: ServicesArg = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format", metavar="FORMAT", help="table or json (one object per container)."
        ),
    ] = "table",
) -> None:
    """List the project's containers: state, health, image, ports and since when the
    container serving now runs (its last swap or restart)."""
    from composewatch.engine.project import list_containers
    from composewatch.ui import render_ps

    if output_format not in ("table", "json"):
        raise InputError(f"--format: unknown format {output_format!r} (use table or json)")
    loaded = ctx.obj.load()
    chosen = _check_services(loaded, services)
    rows = list_containers(_engine().client, loaded.project.name, chosen)
    if output_format == "json":
        for row in rows:
            record = {**row.__dict__, "ports": list(row.ports)}
            record["started_at"] = row.started_at.isoformat() if row.started_at else None
            typer.echo(json.dumps(record))
        return
    for line in render_ps(rows, datetime.now(UTC)):
        typer.echo(line)


@app.command(epilog=_example("composewatch logs", "composewatch logs -f --tail 20 web worker"))
def logs(
    ctx: typer.Context,
    services: ServicesArg = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow the output.")] = False,
    tail: Annotated[
        str,
        typer.Option("--tail", "-n", metavar="N", help="Lines from the end of each log, or all."),
    ] = "all",
) -> None:
    """Show the containers' output as `docker compose logs` does: `web-1  | line`."""
    from composewatch.engine.project import list_containers
    from composewatch.logs import LogFollower
    from composewatch.ui import LogPrinter, make_console

    if tail != "all" and not tail.isdigit():
        raise InputError(f"--tail: {tail!r} is not a number of lines (or all)")
    loaded = ctx.obj.load()
    chosen = _check_services(loaded, services)
    client = _engine().client
    rows = list_containers(client, loaded.project.name, chosen)
    printer = LogPrinter(make_console(), [r.name for r in rows], loaded.project.name)
    follower = LogFollower(client, loaded.project.name, printer, frozenset(chosen))
    if follow:
        _stop_on_ctrl_c()
    follower.show(rows, follow=follow, tail=None if tail == "all" else int(tail))


@app.command(epilog=_example("composewatch build", "composewatch build web"))
def build(
    ctx: typer.Context,
    services: ServicesArg = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no build output.")] = False,
) -> None:
    """Build the services' images (tagged as compose tags them), without starting anything."""
    import time

    from composewatch.engine.builder import build_image, check_build_inputs
    from composewatch.spec import image_name
    from composewatch.ui import printable

    loaded = ctx.obj.load()
    _settings(loaded)
    chosen = _check_services(loaded, services) or list(loaded.project.services)
    buildable = [n for n in chosen if loaded.project.services[n].build is not None]
    check_build_inputs(loaded, buildable)
    client = _engine().client
    for name in buildable:
        started = time.monotonic()
        tag = image_name(loaded.project, name)

        def show(line: str, name: str = name) -> None:
            if not quiet:
                _stderr.print(Text(f"{name} | {printable(line)}", style="dim"))

        build_image(client, loaded, name, tag=tag, on_log=show)
        typer.echo(f"{name}: built {tag} in {time.monotonic() - started:.2f} s")


@app.command(epilog=_example("composewatch restart", "composewatch restart worker -t 2"))
def restart(
    ctx: typer.Context,
    services: ServicesArg = None,
    timeout_s: TimeoutOption = None,
) -> None:
    """Restart the services' containers (without rebuilding or recreating them)."""
    from composewatch.engine.project import restart_containers

    engine, rows = _service_containers(ctx, services)
    for row in rows:
        restart_containers(engine.client, [row], _stop_timeout(engine, row, timeout_s))
        typer.echo(f"restarted {row.name}")


@app.command(epilog=_example("composewatch stop", "composewatch stop web -t 0"))
def stop(
    ctx: typer.Context,
    services: ServicesArg = None,
    timeout_s: TimeoutOption = None,
) -> None:
    """Stop the services' containers without removing them (`docker compose stop`)."""
    from composewatch.engine.project import stop_containers

    engine, rows = _service_containers(ctx, services)
    stop_containers(engine.client, rows, lambda row: _stop_timeout(engine, row, timeout_s))
    for row in rows:
        if row.state == "running":
            typer.echo(f"stopped {row.name}")


def _service_containers(
    ctx: typer.Context, services: list[str] | None
) -> tuple[Engine, list[ContainerRow]]:
    """The engine and the containers of the named services (all when none are named)."""
    from composewatch.engine.project import list_containers

    loaded = ctx.obj.load()
    chosen = _check_services(loaded, services)
    engine = _engine()
    return engine, list_containers(engine.client, loaded.project.name, chosen)


def _stop_timeout(engine: Engine, row: ContainerRow, given_s: int | None) -> float:
    """-t, else the container's stop_grace_period, else 0 for a PID 1 that ignores SIGTERM
    (it would only be killed after the wait), else compose's 10 s."""
    from composewatch.core.stop import choose_stop_timeout

    if given_s is not None:
        return float(given_s)
    if row.stop_timeout_s is not None:
        return row.stop_timeout_s
    ignores = row.state == "running" and engine.ignores_sigterm(row.id)
    return choose_stop_timeout(None, None, ignores)


@app.command(epilog=_example("composewatch config", "composewatch config --format json --services"))
def config(
    ctx: typer.Context,
    output_format: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="Output format: yaml or json.")
    ] = "yaml",
    services: Annotated[bool, typer.Option("--services", help="Print the service names.")] = False,
) -> None:
    """Print the project as compose would (`docker compose config`)."""
    if output_format not in ("yaml", "json"):
        raise InputError(f"--format: unknown format {output_format!r} (use yaml or json)")
    loaded = ctx.obj.load()
    _settings(loaded)
    fmt: Literal["json", "yaml"] = "json" if output_format == "json" else "yaml"
    typer.echo(render_config(loaded, fmt, services_only=services), nl=False)


@app.command(
    epilog=_example("composewatch explain app.py", "composewatch explain web/.dockerignore")
)
def explain(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file, as if it were saved.")],
) -> None:
    """Which services a save of PATH would affect, with which action (rebuild, sync,
    restart, command), or why not (the .dockerignore file and line that excludes it)."""
    from composewatch.explain import explain_path
    from composewatch.gaze import load_gaze_rules
    from composewatch.ui import printable

    loaded = ctx.obj.load()
    settings = _settings(loaded)
    project_dir = Path(loaded.config_files[0]).parent if loaded.config_files else Path(".")
    rules = settings.command_rules() + load_gaze_rules(project_dir)
    verdicts = explain_path(loaded, settings, path, rules)
    typer.echo(printable(str(path.absolute())))
    width = max((len(v.subject) for v in verdicts), default=0)
    for verdict in verdicts:
        action = verdict.action or "nothing"
        typer.echo(
            f"  {printable(verdict.subject).ljust(width)}  {action:<12}  "
            f"{printable(verdict.reason)}"
        )


@app.command(epilog=_example("composewatch doctor"))
def doctor(ctx: typer.Context) -> None:
    """Check the machine for composewatch: engine, BuildKit, inotify limits, ports, images.
    One line per check (ok / warn / fail) with what to do; exit 1 when a check fails."""
    from composewatch.doctor import run_checks

    loaded = ctx.obj.load()
    settings = _settings(loaded)
    results = run_checks(loaded, settings)
    for result in results:
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}[result.level]
        line = Text(f"{result.level:<4}", style=style) + Text(f"  {result.name}: {result.detail}")
        Console(highlight=False, soft_wrap=True).print(line)
    if any(r.level == "fail" for r in results):
        raise typer.Exit(1)


@app.command(epilog=_example("composewatch schema > x-composewatch.schema.json"))
def schema() -> None:
    """Print the JSON Schema of the `x-composewatch` settings (for editors and CI checks)."""
    typer.echo(json.dumps(settings_schema(), indent=2))


class Shell(StrEnum):
    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"


@app.command(
    epilog=_example(
        "composewatch completion bash > ~/.local/share/bash-completion/completions/composewatch",
        "composewatch completion zsh > ~/.zfunc/_composewatch",
        "composewatch completion fish > ~/.config/fish/completions/composewatch.fish",
    )
)
def completion(
    shell: Annotated[
        Shell | None,
        typer.Argument(help="The shell; by default the one $SHELL names.", show_default=False),
    ] = None,
) -> None:
    """Print the shell completion script (commands, options, service names)."""
    # The script Typer's own --show-completion prints (its module is not re-exported).
    from typer._completion_shared import get_completion_script

    if shell is None:
        named = Path(os.environ.get("SHELL", "")).name
        if named not in Shell.__members__.values():
            raise InputError(
                f"completion: $SHELL is {named or 'not set'}; name the shell: "
                "composewatch completion bash, zsh or fish"
            )
        shell = Shell(named)
    script = get_completion_script(
        prog_name=PROG_NAME, complete_var=f"_{PROG_NAME.upper()}_COMPLETE", shell=shell.value
    )
    typer.echo(script)


def _engine() -> Engine:
    from composewatch.engine.containers import Engine

    return Engine.connect()


def main() -> None:
    """Console entry point: map composewatch errors to one paragraph and an exit code.

    Typer (standalone) already turns usage errors into exit code 2 with a message.
    """
    with hiding.session():  # every value a load notes stays out of every error printed
        try:
            app()
        except ComposewatchError as exc:
            from composewatch.ui import printable

            _stderr.print(Text("error: ", style="bold red") + Text(printable(str(exc))))
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            sys.exit(INTERRUPTED)
