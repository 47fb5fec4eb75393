"""What the commands share: the Typer app, the global options, the arguments compose spells
alike, and the rule for commands that run until stopped."""

from __future__ import annotations

import functools
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from composewatch.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from composewatch.compose import ProjectOptions
    from composewatch.compose.model import LoadedProject
    from composewatch.config import Settings
    from composewatch.engine.containers import Engine

PROG_NAME = "composewatch"
app = typer.Typer(
    name=PROG_NAME,
    help="Save a file, get the new code served: fast, health-checked rebuilds for Compose.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class _Stderr:
    """rich's console on stderr, made when first used: a watcher that prints nothing there
    never loads rich (issue 15, idle memory)."""

    @functools.cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False, soft_wrap=True)

    def print(self, *objects: Any, **options: Any) -> None:
        self.console.print(*objects, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


stderr = _Stderr()
INTERRUPTED = 130  # the exit code of a command stopped by Ctrl-C (128 + SIGINT), as a shell's


@dataclass(frozen=True)
class GlobalOptions:
    options: ProjectOptions

    def load(self) -> LoadedProject:
        from composewatch.compose import load_project

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


def settings_of(loaded: LoadedProject) -> Settings:
    from composewatch.config import SETTINGS_KEY, parse_settings

    return parse_settings(
        loaded.extensions.get(SETTINGS_KEY),
        file=loaded.config_files[0] if loaded.config_files else "compose file",
        service_names=set(loaded.project.services),
    )


def check_services(loaded: LoadedProject, services: list[str] | None) -> list[str]:
    unknown = [s for s in services or () if s not in loaded.project.services]
    if unknown:
        known = ", ".join(loaded.project.services) or "none"
        raise InputError(f"no such service: {', '.join(unknown)} (services: {known})")
    return list(services or ())


def complete_services(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of SERVICE arguments: the services of the project found from here."""
    from composewatch.compose import ProjectOptions, load_project

    try:
        options = ctx.obj.options if isinstance(ctx.obj, GlobalOptions) else ProjectOptions()
        names = list(load_project(options).project.services)
    except Exception:
        return []
    return [name for name in names if name.startswith(incomplete)]


# The arguments several commands share, as compose spells them.
ServicesArg = Annotated[
    list[str] | None,
    typer.Argument(help="Only these services.", autocompletion=complete_services),
]
TimeoutOption = Annotated[
    int | None,
    typer.Option("--timeout", "-t", metavar="SECONDS", help="Seconds to wait before killing."),
]


def example(*lines: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_ctrl_c() -> None:
    """One rule for the commands that run until stopped (`up`, `watch`, `logs -f`): Ctrl-C
    stops them, and they exit with 130, even when started with SIGINT ignored (a shell
    starts a script's background jobs so): what runs on a terminal must stop from it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def connect() -> Engine:
    from composewatch.engine.containers import Engine

    return Engine.connect()
