"""`up`, `watch`, `status`, `unwatch`: the watcher, in a terminal or in the background."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from composewatch.commands.common import (
    GlobalOptions,
    app,
    check_services,
    complete_services,
    example,
    settings_of,
    stderr,
    stop_on_ctrl_c,
)
from composewatch.commands.wiring import check_engine_features, run_watcher
from composewatch.errors import InputError

if TYPE_CHECKING:
    from composewatch.compose.model import LoadedProject


@app.command(
    epilog=example(
        "composewatch up                 # build, start, wait until healthy, watch",
        "composewatch up -d              # the same, watcher in the background",
        "composewatch up --logs web      # web and its dependencies, with their output",
        "composewatch up --json > events.jsonl",
    )
)
def up(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None, typer.Argument(help="Services to run.", autocompletion=complete_services)
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
    settings = settings_of(loaded)
    chosen = check_services(loaded, services)
    from composewatch.core.startup import selected_services
    from composewatch.spec_project import check_replicas

    started = selected_services(loaded, chosen)
    check_replicas(loaded.project, started, ", ".join(loaded.config_files) or None)
    if detach:
        if no_watch:
            raise InputError("--detach and --no-watch: nothing would run in the background")
        _up_detached(ctx.obj, loaded, chosen, logs=logs)
        return
    run_watcher(
        loaded,
        settings,
        chosen,
        watch=not no_watch,
        json_output=json_output,
        logs=logs,
        verbose=verbose,
        reload=ctx.obj.load,
    )


def _up_detached(
    options: GlobalOptions, loaded: LoadedProject, services: list[str], *, logs: bool
) -> None:
    from composewatch.background import (
        WatcherFiles,
        follow_log,
        parse_event,
        refuse_second_watcher,
        spawn_detached,
    )
    from composewatch.core.startup import selected_services
    from composewatch.engine.containers import Engine
    from composewatch.ui import ConsoleUI

    project = loaded.project.name
    files = WatcherFiles.of(project)
    refuse_second_watcher(files, project)
    # Fail here, in the foreground, when no engine answers or it cannot run the project.
    check_engine_features(loaded, selected_services(loaded, services), Engine.connect())
    argv = [*options.argv(project), "up", "--json", *(["--logs"] if logs else []), *services]
    proc = spawn_detached(argv, files)
    stop_on_ctrl_c()
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
            from rich.text import Text

            stderr.print(Text(record["text"]))
        return False

    watching = follow_log(files, on_record, lambda: proc.poll() is None)
    if watching and not failed:
        stderr.print(
            f"watching in the background (pid {proc.pid}); `composewatch -p {project} watch` "
            f"shows it, `composewatch -p {project} unwatch` stops it; log: {files.log}"
        )
        return
    if watching:  # up but not every service is healthy: the watcher keeps going
        stderr.print(f"unhealthy: {', '.join(failed)}; the watcher keeps running (pid {proc.pid})")
        raise typer.Exit(1)
    code = proc.wait()
    raise typer.Exit(code or 1)


@app.command(epilog=example("composewatch watch", "composewatch -p shop watch --json"))
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
    settings = settings_of(loaded)
    files = WatcherFiles.of(loaded.project.name)
    if not read_status(files).running:
        run_watcher(
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
    stop_on_ctrl_c()

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
    stderr.print("the watcher stopped")


@app.command(epilog=example("composewatch status", "composewatch -p shop status --json"))
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
    from composewatch.plainout import plain_text
    from composewatch.ui import printable, render

    event = parse_event(record)
    markup = render(event) if event is not None else None
    text = plain_text(markup) if markup else str(record.get("type"))
    return f"{record.get('ts', '')} {printable(text)}"


@app.command(epilog=example("composewatch unwatch"))
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
