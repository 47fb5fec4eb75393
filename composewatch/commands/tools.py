"""The commands about composewatch itself: doctor, schema, completion."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from composewatch.commands.common import PROG_NAME, app, example, settings_of
from composewatch.errors import InputError


@app.command(epilog=example("composewatch doctor"))
def doctor(ctx: typer.Context) -> None:
    """Check the machine for composewatch: engine, BuildKit, inotify limits, ports, images.
    One line per check (ok / warn / fail) with what to do; exit 1 when a check fails."""
    from rich.console import Console
    from rich.text import Text

    from composewatch.doctor import run_checks

    loaded = ctx.obj.load()
    settings = settings_of(loaded)
    results = run_checks(loaded, settings)
    for result in results:
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}[result.level]
        line = Text(f"{result.level:<4}", style=style) + Text(f"  {result.name}: {result.detail}")
        Console(highlight=False, soft_wrap=True).print(line)
    if any(r.level == "fail" for r in results):
        raise typer.Exit(1)


@app.command(epilog=example("composewatch schema > x-composewatch.schema.json"))
def schema() -> None:
    """Print the JSON Schema of the `x-composewatch` settings (for editors and CI checks)."""
    from composewatch.config import settings_schema

    typer.echo(json.dumps(settings_schema(), indent=2))


class Shell(StrEnum):
    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"


@app.command(
    epilog=example(
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
