"""What the user sees: a live view on a terminal, plain lines in a pipe, JSON lines for scripts.

    ConsoleUI  one timestamped line per event; piped, lines are never wrapped (grep-able)
    LiveUI     on a terminal: one row per service, the last errors and hints below (liveview.py)
    JsonUI     one object per line, versioned and schema-checked (jsonui.py)

Anything that comes from outside (file names, service names, log lines, engine messages) goes
through `printable` and is never read as rich markup, so a file named `[red]x` or one holding
an escape sequence prints as what it is.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Protocol

from composewatch import events as ev
from composewatch.plainout import PlainConsole, escape_markup

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from composewatch.engine.project import ContainerRow

__all__ = [
    "UI",
    "ConsoleUI",
    "LogLine",
    "LogPrinter",
    "attempts_text",
    "changed_text",
    "escaped",
    "make_console",
    "phases_text",
    "printable",
    "render",
    "render_ps",
    "seconds_text",
]

_PHASE_LABELS = {"building": "build", "swapping": "swap", "syncing": "sync", "checking": "healthy"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# compose's rotation of container colours for `logs`
_LOG_COLOURS = (
    "cyan",
    "yellow",
    "green",
    "magenta",
    "blue",
    "bright_cyan",
    "bright_yellow",
    "bright_green",
    "bright_magenta",
    "bright_blue",
)


@dataclasses.dataclass(frozen=True)
class LogLine:
    """One line a container printed (`logs`, `up --logs`)."""

    service: str
    container: str
    line: str


class UI(Protocol):
    def __call__(self, event: ev.Event) -> None: ...


def printable(text: str) -> str:
    """Control characters (escape sequences, carriage returns, bells) shown as `\\xNN`; a tab
    and newlines are kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def escaped(text: str) -> str:
    """For rich markup strings: printable, and markup-escaped."""
    return escape_markup(printable(text))


def seconds_text(value: float) -> str:
    return f"{value:.2f} s"


def make_console(stream: IO[str] | None = None) -> Console:
    """A console that never hard-wraps: piped output keeps one event per line."""
    from rich.console import Console

    return Console(file=stream, highlight=False, soft_wrap=True)


class ConsoleUI:
    def __init__(
        self,
        console: Console | PlainConsole | None = None,
        *,
        verbose: bool = False,
        project: str = "",
    ) -> None:
        self.console = console or make_console()
        self.verbose = verbose
        self._lock = threading.Lock()
        self._logs = LogPrinter(self.console, [], project)

    def __call__(self, event: ev.Event) -> None:
        line = render(event, verbose=self.verbose)
        if line is not None:
            self.emit(line)

    def emit(self, line: str) -> None:
        if self.console.is_terminal:
            stamp = time.strftime("%H:%M:%S")
        else:  # a log file: the full time, to the millisecond
            stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
        with self._lock:
            self.console.print(f"[dim]{stamp}[/dim] {line}", soft_wrap=True)

    def log(self, line: LogLine) -> None:
        with self._lock:
            self._logs(line)


def render(event: ev.Event, *, verbose: bool = False) -> str | None:
    """One event as a line of rich markup (outside text escaped), or None to say nothing."""
    for part in (_round_line, _failure_line, _outcome_line):
        line = part(event, verbose)
        if line is not None:
            return line
    return None


def _round_line(event: ev.Event, verbose: bool) -> str | None:
    """A round under way: its build, update, queue and probe."""
    match event:
        case ev.BuildStarted(service, _, _, True):
            return f"[dim]{escaped(service)} image catching up in the background[/dim]"
        case ev.BuildStarted(service, (), why):
            return f"[bold]{escaped(service)}[/bold] building{_why(why)}"
        case ev.BuildStarted(service, paths, why):
            changed = escaped(changed_text(paths))
            return f"[bold]{escaped(service)}[/bold] building ({changed} changed){_why(why)}"
        case ev.UpdateStarted(service, paths, why):
            changed = escaped(changed_text(paths))
            return (
                f"[bold]{escaped(service)}[/bold] updating in place ({changed} changed){_why(why)}"
            )
        case ev.ImageCaughtUp(service, seconds):
            return f"[dim]{escaped(service)} image caught up in {seconds_text(seconds)}[/dim]"
        case ev.BuildQueued(service, waiting_for):
            return (
                f"[bold]{escaped(service)}[/bold] waits for a build slot "
                f"({escaped(', '.join(waiting_for))})"
            )
        case ev.Held(service, reason):
            return f"[dim]{escaped(service)} {escaped(reason)}[/dim]"
        case ev.BuildLog(service, text):
            return f"[dim]{escaped(service)} | {escaped(text)}[/dim]" if verbose else None
        case ev.BuildFinished(service, seconds):
            return f"[bold]{escaped(service)}[/bold] built in {seconds_text(seconds)}"
        case ev.BuildSuperseded(service):
            return f"[bold]{escaped(service)}[/bold] newer save: build restarted"
        case ev.BuildUnchanged(service):
            return f"[bold]{escaped(service)}[/bold] build context unchanged: nothing to do"
        case ev.ProbeFailed(service, attempts, seconds, reason, first):
            if not first:
                return None  # the live view and JSON readers follow the count; a log says it once
            return (
                f"[bold yellow]{escaped(service)} probe failing[/bold yellow]: "
                f"{attempts_text(attempts)} in {seconds_text(seconds)}, "
                f"the last: {escaped(reason)}; still trying"
            )
        case ev.ProbeRecovered(service, attempts, seconds):
            return (
                f"[bold]{escaped(service)} probe passed[/bold] after {attempts_text(attempts)} "
                f"({seconds_text(seconds)})"
            )
    return None


def _failure_line(event: ev.Event, verbose: bool) -> str | None:
    """A round that failed, and the engine going and coming back."""
    match event:
        case ev.BuildFailed(service, message, tail):
            body = "".join(f"\n    {escaped(t)}" for t in tail)
            return (
                f"[bold red]{escaped(service)} build failed[/bold red]: {escaped(message)}{body}\n"
                "    the old container keeps serving; the next save retries"
            )
        case ev.SwapFailed(service, message) | ev.SyncFailed(service, message):
            return (
                f"[bold red]{escaped(service)} update failed[/bold red]: {escaped(message)}; "
                "the old container keeps serving"
            )
        case ev.RolledBack(service, reason, tail):
            body = "".join(f"\n    {escaped(t)}" for t in tail)
            return (
                f"[bold red]{escaped(service)} new container unhealthy[/bold red] "
                f"({escaped(reason)}): rolled back, the old container serves again{body}"
            )
        case ev.RollbackFailed(service, message) | ev.CommitFailed(service, message):
            return (
                f"[bold red]{escaped(service)} could not finish the swap[/bold red]: "
                f"{escaped(message)}; tried again at the next save and on exit"
            )
        case ev.EngineLost(message):
            return (
                f"[bold red]Docker engine lost[/bold red]: {escaped(message)}; waiting for it "
                "(saves meanwhile are kept)"
            )
        case ev.EngineReturned(down_s):
            return f"[bold green]Docker engine back[/bold green] after {seconds_text(down_s)}"
        case ev.Unhealthy(service, reason, tail):
            body = "".join(f"\n    {escaped(t)}" for t in tail)
            return f"[bold red]{escaped(service)} unhealthy[/bold red]: {escaped(reason)}{body}"
    return None


def _outcome_line(event: ev.Event, verbose: bool) -> str | None:
    """What serves now, what is watched, commands run on save, notes."""
    match event:
        case ev.Live(service, since_save, timings, how):
            after = f" {seconds_text(since_save)} after the save" if since_save is not None else ""
            way = f"{escaped(how)}: " if how else ""
            how_long = f"{after} ({way}{phases_text(timings)})"
            return f"[bold green]{escaped(service)} live[/bold green]{how_long}"
        case ev.ServiceStarted(service, container, adopted, seconds, replicas):
            how = "adopted" if adopted else "started"
            more = f" and {replicas - 1} more replica{'s' if replicas > 2 else ''}"
            return (
                f"[bold green]{escaped(service)}[/bold green] {how} {escaped(container)}"
                f"{more if replicas > 1 else ''}, healthy in {seconds_text(seconds)}"
            )
        case ev.Watching(roots, services):
            where = ", ".join(roots) or "nothing"
            return (
                f"watching {escaped(where)} for {escaped(', '.join(services)) or 'no service'}"
                " [dim](Ctrl-C stops watching; containers keep running)[/dim]"
            )
        case ev.CommandFinished(service, pattern, file, command, code, output, seconds):
            where = f" in {escaped(service)}" if service else ""
            verdict = (
                "[green]ok[/green]" if code == 0 else f"[bold red]failed (exit {code})[/bold red]"
            )
            body = "".join(f"\n    {escaped(line)}" for line in output.rstrip().splitlines()[-20:])
            return (
                f"[bold]\\[{escaped(pattern)}][/bold] {escaped(file)}: {escaped(command)}{where} "
                f"{verdict} in {seconds_text(seconds)}{body}"
            )
        case ev.Note(message, level):
            color = "yellow" if level == "warning" else "cyan"
            return f"[{color}]{escaped(message)}[/{color}]"
    return None


def _why(why: str) -> str:
    """The Dockerfile line that decided the way, after a dash (nothing when none did)."""
    return f" [dim]- {escaped(why)}[/dim]" if why else ""


def attempts_text(count: int) -> str:
    return f"{count} failed attempt{'s' if count != 1 else ''}"


def changed_text(paths: Sequence[str]) -> str:
    shown = ", ".join(p.rsplit("/", 1)[-1] for p in paths[:3])
    return shown + (f" +{len(paths) - 3}" if len(paths) > 3 else "")


def phases_text(timings: Iterable[tuple[str, float]]) -> str:
    return ", ".join(f"{_PHASE_LABELS.get(p, p)} {seconds_text(s)}" for p, s in timings)


# --- ps and logs ----------------------------------------------------------------------------


def render_ps(rows: Sequence[ContainerRow], now: datetime) -> list[str]:
    """Pure: `ps` as aligned plain columns, one container a line (never wrapped)."""
    header = ("NAME", "SERVICE", "STATE", "HEALTH", "IMAGE", "PORTS", "LIVE SINCE")
    table = [header]
    for row in rows:
        state = row.state if row.exit_code is None else f"{row.state} ({row.exit_code})"
        since = _ago(now, row.started_at) if row.started_at and row.state == "running" else "-"
        table.append(
            (
                printable(row.name),
                printable(row.service),
                state,
                row.health or "-",
                printable(row.image),
                ", ".join(row.ports) or "-",
                since,
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return [
        "   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    stamp = then.astimezone().strftime("%H:%M:%S")
    if seconds < 60:
        return f"{stamp} ({seconds} s ago)"
    if seconds < 3600:
        return f"{stamp} ({seconds // 60} min ago)"
    return f"{stamp} ({seconds // 3600} h ago)"


class LogPrinter:
    """`docker compose logs`' layout: `web-1  | line`, a colour per container on a terminal."""

    def __init__(self, console: Console | PlainConsole, names: Iterable[str], project: str) -> None:
        self.console = console
        self.project = project
        self.width = max((len(self.short(n)) for n in names), default=0)
        self.colours: dict[str, str] = {}
        self._lock = threading.Lock()

    def short(self, container: str) -> str:
        return container.removeprefix(f"{self.project}-")

    def __call__(self, line: LogLine) -> None:
        with self._lock:
            name = self.short(line.container)
            colour = self.colours.setdefault(name, _LOG_COLOURS[len(self.colours) % 10])
            self.width = max(self.width, len(name))
            shown = LogLine(line.service, name, line.line)
            if isinstance(self.console, PlainConsole):  # a pipe: no colour, no rich
                self.console.line(f"{printable(name).ljust(self.width)}  | {printable(line.line)}")
            else:
                self.console.print(self.format(shown, self.width, colour), soft_wrap=True)

    @staticmethod
    def format(line: LogLine, width: int, colour: str) -> Text:
        from rich.text import Text

        prefix = Text(f"{printable(line.container).ljust(width)}  | ", style=colour)
        return prefix + Text(printable(line.line))
