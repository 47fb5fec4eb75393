"""Typer commands, shaped like `docker compose`'s: global options come before the command.

Exit codes: 0 success; 1 something failed at run time (a build, an unhealthy service, the
engine); 2 bad input (compose file, setting, unknown service, no engine, unknown docker
context); 130 interrupted. This module holds the global options and the entry point, which
maps errors; the commands live in `composewatch.commands` (one module per group, the
watcher's wiring in `commands/wiring.py`), and the work is done elsewhere.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from composewatch import hiding
from composewatch.commands.common import INTERRUPTED, GlobalOptions, app, example, stderr
from composewatch.errors import ComposewatchError

__all__ = ["app", "main"]

# Each module registers its commands on `app` when imported; `--help` lists them in this order.
for _group in ("watching", "compose", "tools"):
    importlib.import_module(f"composewatch.commands.{_group}")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as package_version

        typer.echo(f"composewatch version {package_version('composewatch')}")
        raise typer.Exit()


@app.callback(epilog=example("composewatch up", "composewatch -f compose.yaml -p shop ps"))
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
    from composewatch.compose import ProjectOptions

    ctx.obj = GlobalOptions(
        ProjectOptions(
            files=tuple(file or ()),
            project_name=project_name,
            profiles=tuple(profile or ()),
            env_files=tuple(env_file or ()),
            working_dir=project_directory,
        )
    )


def main() -> None:
    """Console entry point: map composewatch errors to one paragraph and an exit code.

    Typer (standalone) already turns usage errors into exit code 2 with a message.
    """
    with hiding.session():  # every value a load notes stays out of every error printed
        try:
            app()
        except ComposewatchError as exc:
            from rich.text import Text

            from composewatch.ui import printable

            stderr.print(Text("error: ", style="bold red") + Text(printable(str(exc))))
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            sys.exit(INTERRUPTED)
