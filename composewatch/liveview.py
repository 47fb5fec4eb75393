"""The live view on a terminal: one row per service (state, last save-to-live and its phases,
health URL, why it waits), with the last errors and hints kept below. `LiveRows` is what it
shows, updated from events; `LiveUI` draws it with rich's Live."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from typing import ClassVar

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from composewatch import events as ev
from composewatch.ui import (
    LogLine,
    LogPrinter,
    attempts_text,
    changed_text,
    escaped,
    make_console,
    phases_text,
    printable,
    render,
    seconds_text,
)

__all__ = ["LiveRows", "LiveUI", "ServiceRow"]


@dataclasses.dataclass
class ServiceRow:
    state: str = "starting"  # building, waiting, swapping, checking, healthy, failed, rolled back
    detail: str = ""  # why it waits, what changed, the last build line
    last_live_s: float | None = None
    phases: str = ""
    health: str = ""
    error: str = ""


@dataclasses.dataclass
class LiveRows:
    """What the live view shows, updated from events (pure with respect to the screen): a
    row per service, the header, and the last errors and hints."""

    rows: dict[str, ServiceRow]
    header: str = "starting"
    messages: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (time, markup)

    def row(self, service: str) -> ServiceRow:
        return self.rows.setdefault(service, ServiceRow())

    def apply(self, event: ev.Event) -> None:
        """Update the rows from one event."""
        stamp = time.strftime("%H:%M:%S")
        if not self._progress(event):
            self._outcome(event, stamp)
        del self.messages[:-8]

    def _progress(self, event: ev.Event) -> bool:
        """A round under way; False when `event` is not one."""
        match event:
            case ev.BuildStarted(service, _, _, True):
                self.row(service).detail = "image catching up in the background"
            case ev.BuildStarted(service, paths, why):
                row = self.row(service)
                row.state = "building"
                row.detail = why or (f"{changed_text(paths)} changed" if paths else "")
            case ev.UpdateStarted(service, paths, why):
                row = self.row(service)
                row.state, row.detail = "updating", why
            case ev.ImageCaughtUp(service, seconds):
                self.row(service).detail = f"image caught up in {seconds_text(seconds)}"
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
                failing = f"{attempts_text(attempts)} in {seconds:.1f} s"
                row.detail = f"probe failing: {failing}, the last: {reason}"
            case ev.ProbeRecovered(service, attempts, _):
                self.row(service).detail = f"probe passed after {attempts_text(attempts)}"
            case ev.BuildSuperseded(service):
                self.row(service).detail = "newer save: build restarted"
            case _:
                return False
        return True

    def _outcome(self, event: ev.Event, stamp: str) -> None:
        """A round's end, the engine, what is watched, commands and notes."""
        match event:
            case ev.BuildFailed(service, message, tail):
                row = self.row(service)
                row.state, row.detail, row.error = "failed", "old container serves", message
                body = "".join(f"\n    {escaped(t)}" for t in tail[-5:])
                self.messages.append(
                    (stamp, f"[red]{escaped(service)} build failed: {escaped(message)}[/red]{body}")
                )
            case ev.SwapFailed(service, message) | ev.SyncFailed(service, message):
                row = self.row(service)
                row.state, row.detail, row.error = "failed", "old container serves", message
                self.messages.append(
                    (stamp, f"[red]{escaped(service)} update failed: {escaped(message)}[/red]")
                )
            case ev.RolledBack(service, reason) | ev.Unhealthy(service, reason):
                row = self.row(service)
                rolled = isinstance(event, ev.RolledBack)
                row.state = "rolled back" if rolled else "failed"
                row.detail, row.error = reason, reason
                self.messages.append(
                    (
                        stamp,
                        f"[red]{escaped(service)} "
                        f"{'rolled back' if rolled else 'unhealthy'}: "
                        f"{escaped(reason)}[/red]",
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
                row.last_live_s, row.phases = since_save, phases_text(timings)
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
                self.messages.append((stamp, f"[{color}]{escaped(message)}[/{color}]"))


class LiveUI(LiveRows):
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
        super().__init__(
            {
                name: ServiceRow(
                    health=health.get(name, ""),
                    detail=f"waits for {waits_for[name]}"
                    if waits_for and name in waits_for
                    else "",
                )
                for name in services
            }
        )
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

    def render(self) -> RenderableType:
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
            live = seconds_text(row.last_live_s) if row.last_live_s is not None else "-"
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
