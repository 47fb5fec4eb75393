"""Compose's own commands, as `docker compose` spells them: down, ps, logs, build, restart,
stop, config, and `explain` beside them (what a save of a path would do)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from composewatch.commands.common import (
    ServicesArg,
    TimeoutOption,
    app,
    check_services,
    connect,
    example,
    settings_of,
    stderr,
    stop_on_ctrl_c,
)
from composewatch.errors import InputError

if TYPE_CHECKING:
    from composewatch.engine.containers import Engine
    from composewatch.engine.project import ContainerRow


@app.command(epilog=example("composewatch down"))
def down(ctx: typer.Context) -> None:
    """Stop the watcher, then stop and remove the project's containers and networks."""
    from composewatch.background import WatcherFiles, stop_watcher
    from composewatch.engine.containers import Engine

    loaded = ctx.obj.load()
    engine = Engine.connect()
    stop_watcher(WatcherFiles.of(loaded.project.name))
    engine.down(loaded.project.name)


@app.command(epilog=example("composewatch ps", "composewatch ps web --format json"))
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
    chosen = check_services(loaded, services)
    rows = list_containers(connect().client, loaded.project.name, chosen)
    if output_format == "json":
        for row in rows:
            record = {**row.__dict__, "ports": list(row.ports)}
            record["started_at"] = row.started_at.isoformat() if row.started_at else None
            typer.echo(json.dumps(record))
        return
    for line in render_ps(rows, datetime.now(UTC)):
        typer.echo(line)


@app.command(epilog=example("composewatch logs", "composewatch logs -f --tail 20 web worker"))
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
    chosen = check_services(loaded, services)
    client = connect().client
    rows = list_containers(client, loaded.project.name, chosen)
    printer = LogPrinter(make_console(), [r.name for r in rows], loaded.project.name)
    follower = LogFollower(client, loaded.project.name, printer, frozenset(chosen))
    if follow:
        stop_on_ctrl_c()
    follower.show(rows, follow=follow, tail=None if tail == "all" else int(tail))


@app.command(epilog=example("composewatch build", "composewatch build web"))
def build(
    ctx: typer.Context,
    services: ServicesArg = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no build output.")] = False,
) -> None:
    """Build the services' images (tagged as compose tags them), without starting anything."""
    import time

    from rich.text import Text

    from composewatch.engine.builder import build_image, check_build_inputs
    from composewatch.spec import image_name
    from composewatch.ui import printable

    loaded = ctx.obj.load()
    settings_of(loaded)
    chosen = check_services(loaded, services) or list(loaded.project.services)
    buildable = [n for n in chosen if loaded.project.services[n].build is not None]
    check_build_inputs(loaded, buildable)
    client = connect().client
    for name in buildable:
        started = time.monotonic()
        tag = image_name(loaded.project, name)

        def show(line: str, name: str = name) -> None:
            if not quiet:
                stderr.print(Text(f"{name} | {printable(line)}", style="dim"))

        build_image(client, loaded, name, tag=tag, on_log=show)
        typer.echo(f"{name}: built {tag} in {time.monotonic() - started:.2f} s")


@app.command(epilog=example("composewatch restart", "composewatch restart worker -t 2"))
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


@app.command(epilog=example("composewatch stop", "composewatch stop web -t 0"))
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
    chosen = check_services(loaded, services)
    engine = connect()
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


@app.command(epilog=example("composewatch config", "composewatch config --format json --services"))
def config(
    ctx: typer.Context,
    output_format: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="Output format: yaml or json.")
    ] = "yaml",
    services: Annotated[bool, typer.Option("--services", help="Print the service names.")] = False,
) -> None:
    """Print the project as compose would (`docker compose config`)."""
    from composewatch.compose import render_config

    if output_format not in ("yaml", "json"):
        raise InputError(f"--format: unknown format {output_format!r} (use yaml or json)")
    loaded = ctx.obj.load()
    settings_of(loaded)
    fmt: Literal["json", "yaml"] = "json" if output_format == "json" else "yaml"
    typer.echo(render_config(loaded, fmt, services_only=services), nl=False)


@app.command(
    epilog=example("composewatch explain app.py", "composewatch explain web/.dockerignore")
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
    settings = settings_of(loaded)
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
