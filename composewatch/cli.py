"""Typer commands. Global options come before the command, as with `docker compose`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.text import Text

from composewatch.compose import ProjectOptions, load_project, render_config
from composewatch.compose.model import LoadedProject
from composewatch.config import SETTINGS_KEY, Settings, parse_settings
from composewatch.errors import ComposewatchError, InputError

__all__ = ["app", "main"]

app = typer.Typer(
    name="composewatch",
    help="Save a file, get the new code served: fast, health-checked rebuilds for Compose.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class GlobalOptions:
    options: ProjectOptions

    def load(self) -> LoadedProject:
        return load_project(self.options)


def _settings(loaded: LoadedProject) -> Settings:
    return parse_settings(
        loaded.extensions.get(SETTINGS_KEY),
        file=loaded.config_files[0] if loaded.config_files else "compose file",
        service_names=set(loaded.project.services),
    )


@app.callback()
def global_options(
    ctx: typer.Context,
    file: Annotated[
        list[str] | None, typer.Option("--file", "-f", help="Compose file (repeatable).")
    ] = None,
    project_name: Annotated[
        str | None, typer.Option("--project-name", "-p", help="Project name.")
    ] = None,
    profile: Annotated[
        list[str] | None, typer.Option("--profile", help="Enable a profile (repeatable).")
    ] = None,
    env_file: Annotated[
        list[str] | None, typer.Option("--env-file", help="Environment file (repeatable).")
    ] = None,
    project_directory: Annotated[
        str | None, typer.Option("--project-directory", help="Where to look for compose files.")
    ] = None,
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


@app.command()
def up(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Services to run.")] = None,
    no_watch: Annotated[
        bool, typer.Option("--no-watch", help="Stop once every service is healthy.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print events as JSON lines.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show build logs.")] = False,
) -> None:
    """Build and start the project, then rebuild and swap services as their files change."""
    from composewatch.app import Interrupted, Session, run_up, selected_services
    from composewatch.builder import check_build_inputs
    from composewatch.containers import Engine
    from composewatch.ui import ConsoleUI, JsonUI

    loaded = ctx.obj.load()
    settings = _settings(loaded)
    unknown = [s for s in services or () if s not in loaded.project.services]
    if unknown:
        raise InputError(f"no such service: {', '.join(unknown)}")
    chosen = selected_services(loaded, services or [])
    check_build_inputs(loaded, chosen)
    engine = Engine.connect()
    ui = JsonUI() if json_output else ConsoleUI(verbose=verbose)
    session = Session(loaded, settings, engine, ui, chosen, reload=ctx.obj.load)
    try:
        healthy = run_up(session, watch=not no_watch)
    except (KeyboardInterrupt, Interrupted):
        _stderr.print(
            "stopped watching; the containers keep running (composewatch down stops them)"
        )
        return
    if not healthy:
        raise typer.Exit(1)


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop and remove the project's containers and networks."""
    from composewatch.containers import Engine

    loaded = ctx.obj.load()
    Engine.connect().down(loaded.project.name)


@app.command()
def config(
    ctx: typer.Context,
    output_format: Annotated[
        str, typer.Option("--format", help="Output format: yaml or json.")
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


def main() -> None:
    """Console entry point: map composewatch errors to one paragraph and an exit code.

    Typer (standalone) already turns usage errors into exit code 2 with a message.
    """
    try:
        app()
    except ComposewatchError as exc:
        _stderr.print(Text("error: ", style="bold red") + Text(str(exc)))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
