"""What the user sees: a live view on a terminal, plain lines in a pipe, JSON lines for scripts.

    ConsoleUI  one timestamped line per event; piped, lines are never wrapped (grep-able)
    LiveUI     on a terminal: one row per service (state, last save-to-live and its phases,
               health URL, why it waits), with the last errors and hints kept below
    JsonUI     one object per line: {"v", "type", "ts", "t", "service", ...}; see
               docs/events.schema.json (versioned, tested against real output)

Anything that comes from outside (file names, service names, log lines, engine messages) goes
through `printable` and is never read as rich markup, so a file named `[red]x` or one holding
an escape sequence prints as what it is.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import threading
import time
import types
import typing
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, ClassVar, Protocol

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.text import Text

from composewatch import events as ev

if TYPE_CHECKING:
    from composewatch.engine.project import ContainerRow

__all__ = [
    "EVENTS_SCHEMA_VERSION",
    "UI",
    "ConsoleUI",
    "JsonUI",
    "LiveUI",
    "LogLine",
    "LogPrinter",
    "events_schema",
    "printable",
    "render_ps",
]

EVENTS_SCHEMA_VERSION = 1
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


def _safe(text: str) -> str:
    """For rich markup strings: printable, and markup-escaped."""
    return escape(printable(text))


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def make_console(stream: IO[str] | None = None) -> Console:
    """A console that never hard-wraps: piped output keeps one event per line."""
    return Console(file=stream, highlight=False, soft_wrap=True)


class ConsoleUI:
    def __init__(
        self, console: Console | None = None, *, verbose: bool = False, project: str = ""
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
    match event:
        case ev.BuildStarted(service, _, _, True):
            return f"[dim]{_safe(service)} image catching up in the background[/dim]"
        case ev.BuildStarted(service, (), why):
            return f"[bold]{_safe(service)}[/bold] building{_why(why)}"
        case ev.BuildStarted(service, paths, why):
            changed = _safe(_changed(paths))
            return f"[bold]{_safe(service)}[/bold] building ({changed} changed){_why(why)}"
        case ev.UpdateStarted(service, paths, why):
            changed = _safe(_changed(paths))
            return f"[bold]{_safe(service)}[/bold] updating in place ({changed} changed){_why(why)}"
        case ev.ImageCaughtUp(service, seconds):
            return f"[dim]{_safe(service)} image caught up in {_seconds(seconds)}[/dim]"
        case ev.BuildQueued(service, waiting_for):
            return (
                f"[bold]{_safe(service)}[/bold] waits for a build slot "
                f"({_safe(', '.join(waiting_for))})"
            )
        case ev.BuildLog(service, text):
            return f"[dim]{_safe(service)} | {_safe(text)}[/dim]" if verbose else None
        case ev.BuildFinished(service, seconds):
            return f"[bold]{_safe(service)}[/bold] built in {_seconds(seconds)}"
        case ev.BuildSuperseded(service):
            return f"[bold]{_safe(service)}[/bold] newer save: build restarted"
        case ev.BuildUnchanged(service):
            return f"[bold]{_safe(service)}[/bold] build context unchanged: nothing to do"
        case ev.BuildFailed(service, message, tail):
            body = "".join(f"\n    {_safe(t)}" for t in tail)
            return (
                f"[bold red]{_safe(service)} build failed[/bold red]: {_safe(message)}{body}\n"
                "    the old container keeps serving; the next save retries"
            )
        case ev.SwapFailed(service, message) | ev.SyncFailed(service, message):
            return (
                f"[bold red]{_safe(service)} update failed[/bold red]: {_safe(message)}; "
                "the old container keeps serving"
            )
        case ev.RolledBack(service, reason, tail):
            body = "".join(f"\n    {_safe(t)}" for t in tail)
            return (
                f"[bold red]{_safe(service)} new container unhealthy[/bold red] "
                f"({_safe(reason)}): rolled back, the old container serves again{body}"
            )
        case ev.RollbackFailed(service, message) | ev.CommitFailed(service, message):
            return (
                f"[bold red]{_safe(service)} could not finish the swap[/bold red]: "
                f"{_safe(message)}; tried again at the next save and on exit"
            )
        case ev.EngineLost(message):
            return (
                f"[bold red]Docker engine lost[/bold red]: {_safe(message)}; waiting for it "
                "(saves meanwhile are kept)"
            )
        case ev.EngineReturned(down_s):
            return f"[bold green]Docker engine back[/bold green] after {_seconds(down_s)}"
        case ev.Unhealthy(service, reason):
            return f"[bold red]{_safe(service)} unhealthy[/bold red]: {_safe(reason)}"
        case ev.ProbeFailed(service, attempts, seconds, reason, first):
            if not first:
                return None  # the live view and JSON readers follow the count; a log says it once
            return (
                f"[bold yellow]{_safe(service)} probe failing[/bold yellow]: "
                f"{_attempts(attempts)} in {_seconds(seconds)}, the last: {_safe(reason)}; "
                "still trying"
            )
        case ev.ProbeRecovered(service, attempts, seconds):
            return (
                f"[bold]{_safe(service)} probe passed[/bold] after {_attempts(attempts)} "
                f"({_seconds(seconds)})"
            )
        case ev.Live(service, since_save, timings, how):
            after = f" {_seconds(since_save)} after the save" if since_save is not None else ""
            way = f"{_safe(how)}: " if how else ""
            return (
                f"[bold green]{_safe(service)} live[/bold green]{after} ({way}{_phases(timings)})"
            )
        case ev.ServiceStarted(service, container, adopted, seconds, replicas):
            how = "adopted" if adopted else "started"
            more = f" and {replicas - 1} more replica{'s' if replicas > 2 else ''}"
            return (
                f"[bold green]{_safe(service)}[/bold green] {how} {_safe(container)}"
                f"{more if replicas > 1 else ''}, healthy in {_seconds(seconds)}"
            )
        case ev.Watching(roots, services):
            where = ", ".join(roots) or "nothing"
            return (
                f"watching {_safe(where)} for {_safe(', '.join(services)) or 'no service'}"
                " [dim](Ctrl-C stops watching; containers keep running)[/dim]"
            )
        case ev.CommandFinished(service, pattern, file, command, code, output, seconds):
            where = f" in {_safe(service)}" if service else ""
            verdict = (
                "[green]ok[/green]" if code == 0 else f"[bold red]failed (exit {code})[/bold red]"
            )
            body = "".join(f"\n    {_safe(line)}" for line in output.rstrip().splitlines()[-20:])
            return (
                f"[bold]\\[{_safe(pattern)}][/bold] {_safe(file)}: {_safe(command)}{where} "
                f"{verdict} in {_seconds(seconds)}{body}"
            )
        case ev.Note(message, level):
            color = "yellow" if level == "warning" else "cyan"
            return f"[{color}]{_safe(message)}[/{color}]"
    return None


def _why(why: str) -> str:
    """The Dockerfile line that decided the way, after a dash (nothing when none did)."""
    return f" [dim]- {_safe(why)}[/dim]" if why else ""


def _attempts(count: int) -> str:
    return f"{count} failed attempt{'s' if count != 1 else ''}"


def _changed(paths: Sequence[str]) -> str:
    shown = ", ".join(p.rsplit("/", 1)[-1] for p in paths[:3])
    return shown + (f" +{len(paths) - 3}" if len(paths) > 3 else "")


def _phases(timings: Iterable[tuple[str, float]]) -> str:
    return ", ".join(f"{_PHASE_LABELS.get(p, p)} {_seconds(s)}" for p, s in timings)


# --- live view ------------------------------------------------------------------------------


@dataclasses.dataclass
class ServiceRow:
    state: str = "starting"  # building, waiting, swapping, checking, healthy, failed, rolled back
    detail: str = ""  # why it waits, what changed, the last build line
    last_live_s: float | None = None
    phases: str = ""
    health: str = ""
    error: str = ""


class LiveUI:
    """A rich Live table, one row per service; errors and hints stay listed below it."""

    _STYLES: ClassVar[dict[str, str]] = {
        "healthy": "green",
        "failed": "bold red",
        "rolled back": "bold red",
        "building": "yellow",
        "swapping": "yellow",
        "updating": "yellow",
        "checking": "yellow",
        "waiting": "dim",
    }

    def __init__(
        self,
        services: Sequence[str],
        health: dict[str, str],
        console: Console | None = None,
        waits_for: dict[str, str] | None = None,  # service -> "db (healthy)": why it waits
    ) -> None:
        given = console or make_console()
        # The live view wraps what does not fit (a plain console would cut it off).
        self.console = Console(file=given.file, highlight=False) if given.soft_wrap else given
        self.rows = {
            name: ServiceRow(
                health=health.get(name, ""),
                detail=f"waits for {waits_for[name]}" if waits_for and name in waits_for else "",
            )
            for name in services
        }
        self.messages: list[tuple[str, str]] = []  # (time, rich markup): errors and hints
        self.header = "starting"
        # rich's Live and Table load only for the live view (a piped or --json watcher idles
        # without them: issue 15 point 8).
        from rich.live import Live

        self._live = Live(
            self.render(), console=self.console, refresh_per_second=4, transient=False
        )
        self._lock = threading.Lock()

    def __enter__(self) -> LiveUI:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            self.apply(event)
            self._live.update(self.render())

    def log(self, line: LogLine) -> None:
        with self._lock:
            self._live.console.print(LogPrinter.format(line, width=0, colour="cyan"))

    def row(self, service: str) -> ServiceRow:
        return self.rows.setdefault(service, ServiceRow())

    def apply(self, event: ev.Event) -> None:
        """Pure with respect to the screen: update the rows from one event."""
        stamp = time.strftime("%H:%M:%S")
        match event:
            case ev.BuildStarted(service, _, _, True):
                self.row(service).detail = "image catching up in the background"
            case ev.BuildStarted(service, paths, why):
                row = self.row(service)
                row.state = "building"
                row.detail = why or (f"{_changed(paths)} changed" if paths else "")
            case ev.UpdateStarted(service, paths, why):
                row = self.row(service)
                row.state, row.detail = "updating", why
            case ev.ImageCaughtUp(service, seconds):
                self.row(service).detail = f"image caught up in {_seconds(seconds)}"
            case ev.BuildQueued(service, waiting_for):
                row = self.row(service)
                row.state = "waiting"
                row.detail = f"build slot busy ({', '.join(waiting_for)})"
            case ev.BuildLog(service, text):
                self.row(service).detail = text.strip()[-60:]
            case ev.BuildFinished(service, _) | ev.BuildUnchanged(service):
                row = self.row(service)
                if isinstance(event, ev.BuildUnchanged):
                    row.state, row.detail = "healthy", "context unchanged"
                else:
                    row.state, row.detail = "swapping", "old stops, new starts"
            case ev.CheckStarted(service):
                row = self.row(service)
                row.state, row.detail = "checking", "new container runs; probing its health"
            case ev.ProbeFailed(service, attempts, seconds, reason):
                row = self.row(service)
                row.state = "checking"
                row.detail = (
                    f"probe failing: {_attempts(attempts)} in {seconds:.1f} s, the last: {reason}"
                )
            case ev.ProbeRecovered(service, attempts, _):
                self.row(service).detail = f"probe passed after {_attempts(attempts)}"
            case ev.BuildSuperseded(service):
                self.row(service).detail = "newer save: build restarted"
            case ev.BuildFailed(service, message, tail):
                row = self.row(service)
                row.state, row.detail, row.error = "failed", "old container serves", message
                body = "".join(f"\n    {_safe(t)}" for t in tail[-5:])
                self.messages.append(
                    (stamp, f"[red]{_safe(service)} build failed: {_safe(message)}[/red]{body}")
                )
            case ev.SwapFailed(service, message) | ev.SyncFailed(service, message):
                row = self.row(service)
                row.state, row.detail, row.error = "failed", "old container serves", message
                self.messages.append(
                    (stamp, f"[red]{_safe(service)} update failed: {_safe(message)}[/red]")
                )
            case ev.RolledBack(service, reason) | ev.Unhealthy(service, reason):
                row = self.row(service)
                rolled = isinstance(event, ev.RolledBack)
                row.state = "rolled back" if rolled else "failed"
                row.detail, row.error = reason, reason
                self.messages.append(
                    (
                        stamp,
                        f"[red]{_safe(service)} "
                        f"{'rolled back' if rolled else 'unhealthy'}: "
                        f"{_safe(reason)}[/red]",
                    )
                )
            case ev.RollbackFailed(service, message) | ev.CommitFailed(service, message):
                row = self.row(service)
                row.state, row.error = "failed", message
                self.messages.append((stamp, render(event) or ""))
            case ev.EngineLost() | ev.EngineReturned():
                self.messages.append((stamp, render(event) or ""))
            case ev.Live(service, since_save, timings, how):
                row = self.row(service)
                row.state, row.detail, row.error = "healthy", how, ""
                row.last_live_s, row.phases = since_save, _phases(timings)
            case ev.ServiceStarted(service, container, adopted, _, replicas):
                row = self.row(service)
                row.state = "healthy"
                row.detail = f"{'adopted' if adopted else 'started'} {container}"
                if replicas > 1:
                    row.detail += f" (+{replicas - 1})"
            case ev.Watching(roots, _):
                self.header = f"watching {', '.join(roots) or 'nothing'} (Ctrl-C stops watching)"
            case ev.CommandFinished():
                line = render(event)
                if line is not None:
                    self.messages.append((stamp, line))
            case ev.Note(message, level):
                color = "yellow" if level == "warning" else "cyan"
                self.messages.append((stamp, f"[{color}]{_safe(message)}[/{color}]"))
        del self.messages[:-8]

    def render(self) -> RenderableType:
        from rich.table import Table

        table = Table(expand=False, show_edge=False, pad_edge=False, box=None)
        width = max((len(name) for name in self.rows), default=7)
        # The short columns never shrink; the long ones wrap in what is left.
        table.add_column("SERVICE", no_wrap=True, min_width=max(width, 7))
        table.add_column("STATE", no_wrap=True, min_width=11)
        table.add_column("SAVE→LIVE", no_wrap=True, min_width=9)
        for column in ("PHASES", "HEALTH", "WHY / WHAT"):
            table.add_column(column, overflow="fold", ratio=1)
        for name, row in self.rows.items():
            style = self._STYLES.get(row.state, "")
            live = _seconds(row.last_live_s) if row.last_live_s is not None else "-"
            table.add_row(
                Text(printable(name), style="bold"),
                Text(row.state, style=style),
                live,
                Text(printable(row.phases), style="dim"),
                Text(printable(row.health)),
                Text(printable(row.error or row.detail), style="red" if row.error else ""),
            )
        lines: list[RenderableType] = [Text(printable(self.header), style="dim"), table]
        for stamp, markup in self.messages:
            lines.append(Text.from_markup(f"[dim]{stamp}[/dim] {markup}"))
        return Group(*lines)


# --- JSON lines -----------------------------------------------------------------------------


class JsonUI:
    """One JSON object per event (schema: docs/events.schema.json, version EVENTS_SCHEMA_VERSION).

    `type` names the event, `ts` is an RFC 3339 UTC time, `t` the same as Unix seconds, and
    `service` is null for project-wide events. `event` repeats `type` for older readers.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: ev.Event) -> None:
        self.write(type(event).__name__, dataclasses.asdict(event))

    def log(self, line: LogLine) -> None:
        self.write("ContainerLog", dataclasses.asdict(line))

    def write(self, kind: str, fields: dict[str, Any]) -> None:
        now = time.time()
        record = {
            "v": EVENTS_SCHEMA_VERSION,
            "type": kind,
            "event": kind,
            "ts": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            "t": now,
            "service": None,
            **fields,
        }
        if "timings" in record:
            record["timings"] = [list(pair) for pair in record["timings"]]
        with self._lock:
            self.stream.write(json.dumps(record) + "\n")
            self.stream.flush()


def _json_type(hint: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is str:
        return {"type": "string"}
    if hint is float:
        return {"type": "number"}
    if hint is int:
        return {"type": "integer"}
    if hint is bool:
        return {"type": "boolean"}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_json_type(a) for a in args]}
    if hint is type(None):
        return {"type": "null"}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return {"type": "array", "items": _json_type(args[0])}
    if origin is tuple:
        items = [_json_type(a) for a in args]
        return {
            "type": "array",
            "prefixItems": items,
            "minItems": len(items),
            "maxItems": len(items),
        }
    raise TypeError(f"no JSON type for {hint!r}")


def events_schema() -> dict[str, Any]:
    """The JSON Schema of `--json` output, from the event types themselves."""
    common: dict[str, Any] = {
        "v": {"const": EVENTS_SCHEMA_VERSION, "description": "schema version"},
        "type": {"type": "string", "description": "the event's name"},
        "event": {"type": "string", "description": "the same as type (older readers)"},
        "ts": {"type": "string", "format": "date-time", "description": "UTC, RFC 3339"},
        "t": {"type": "number", "description": "the same time as Unix seconds"},
        "service": {"type": ["string", "null"], "description": "null: project-wide"},
    }
    variants = []
    kinds: list[Any] = [getattr(ev, name) for name in ev.__all__ if name != "Event"]
    for kind in [*kinds, LogLine]:
        name = "ContainerLog" if kind is LogLine else kind.__name__
        hints = typing.get_type_hints(kind)
        fields = {f.name: _json_type(hints[f.name]) for f in dataclasses.fields(kind)}
        variants.append(
            {
                "title": name,
                "type": "object",
                "properties": {**common, **fields, "type": {"const": name}},
                "required": sorted({"v", "type", "ts", "t", "service", *fields}),
                "additionalProperties": False,
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://github.com/composewatch/composewatch/events.v{EVENTS_SCHEMA_VERSION}.json",
        "title": f"composewatch --json events, version {EVENTS_SCHEMA_VERSION}",
        "description": "One object per line. Durations are in seconds (seconds, since_save_s, "
        "timings[][1]).",
        "oneOf": variants,
    }


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

    def __init__(self, console: Console, names: Iterable[str], project: str) -> None:
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
            self.console.print(self.format(shown, self.width, colour), soft_wrap=True)

    @staticmethod
    def format(line: LogLine, width: int, colour: str) -> Text:
        prefix = Text(f"{printable(line.container).ljust(width)}  | ", style=colour)
        return prefix + Text(printable(line.line))
