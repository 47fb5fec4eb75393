"""Event renderers: a human console (rich) and JSON lines for scripts and benchmarks."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import IO, Protocol

from rich.console import Console
from rich.markup import escape

from composewatch import events as ev

__all__ = ["UI", "ConsoleUI", "JsonUI"]

_PHASE_LABELS = {"building": "build", "swapping": "swap", "syncing": "sync", "checking": "healthy"}


class UI(Protocol):
    def __call__(self, event: ev.Event) -> None: ...


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


class ConsoleUI:
    def __init__(self, console: Console | None = None, *, verbose: bool = False) -> None:
        self.console = console or Console(stderr=False, highlight=False)
        self.verbose = verbose

    def __call__(self, event: ev.Event) -> None:
        line = self.render(event)
        if line is not None:
            self.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")

    def render(self, event: ev.Event) -> str | None:
        match event:
            case ev.BuildStarted(service, ()):
                return f"[bold]{service}[/bold] building"
            case ev.BuildStarted(service, paths):
                shown = ", ".join(p.rsplit("/", 1)[-1] for p in paths[:3])
                more = f" +{len(paths) - 3}" if len(paths) > 3 else ""
                return f"[bold]{service}[/bold] building ({escape(shown)}{more} changed)"
            case ev.BuildQueued(service, waiting_for):
                return f"[bold]{service}[/bold] waits for a build slot ({', '.join(waiting_for)})"
            case ev.BuildLog(service, text):
                return f"[dim]{service} | {escape(text)}[/dim]" if self.verbose else None
            case ev.BuildFinished(service, seconds):
                return f"[bold]{service}[/bold] built in {_seconds(seconds)}"
            case ev.BuildSuperseded(service):
                return f"[bold]{service}[/bold] newer save: build restarted"
            case ev.BuildUnchanged(service):
                return f"[bold]{service}[/bold] build context unchanged: nothing to do"
            case ev.BuildFailed(service, message, tail):
                body = "\n".join(f"    {escape(t)}" for t in tail)
                return (
                    f"[bold red]{service} build failed[/bold red]: {escape(message)}\n{body}\n"
                    "    the old container keeps serving; the next save retries"
                )
            case ev.SwapFailed(service, message) | ev.SyncFailed(service, message):
                return (
                    f"[bold red]{service} update failed[/bold red]: {escape(message)}; "
                    "the old container keeps serving"
                )
            case ev.RolledBack(service, reason, tail):
                body = "".join(f"\n    {escape(t)}" for t in tail)
                return (
                    f"[bold red]{service} new container unhealthy[/bold red] ({escape(reason)}): "
                    f"rolled back, the old container serves again{body}"
                )
            case ev.RollbackFailed(service, message) | ev.CommitFailed(service, message):
                return (
                    f"[bold red]{service} could not finish the swap[/bold red]: "
                    f"{escape(message)}; tried again at the next save and on exit"
                )
            case ev.EngineLost(message):
                return (
                    f"[bold red]Docker engine lost[/bold red]: {escape(message)}; waiting for it "
                    "(saves meanwhile are kept)"
                )
            case ev.EngineReturned(down_s):
                return f"[bold green]Docker engine back[/bold green] after {_seconds(down_s)}"
            case ev.Unhealthy(service, reason):
                return f"[bold red]{service} unhealthy[/bold red]: {escape(reason)}"
            case ev.Live(service, since_save, timings):
                steps = ", ".join(f"{_PHASE_LABELS.get(p, p)} {_seconds(s)}" for p, s in timings)
                after = f" {_seconds(since_save)} after the save" if since_save is not None else ""
                return f"[bold green]{service} live[/bold green]{after} ({steps})"
            case ev.ServiceStarted(service, container, adopted, seconds):
                how = "adopted" if adopted else "started"
                when = _seconds(seconds)
                return f"[bold green]{service}[/bold green] {how} {container}, healthy in {when}"
            case ev.Watching(roots, services):
                where = ", ".join(roots) or "nothing"
                return (
                    f"watching {escape(where)} for {', '.join(services) or 'no service'}"
                    " [dim](Ctrl-C stops watching; containers keep running)[/dim]"
                )
            case ev.Note(message, level):
                color = "yellow" if level == "warning" else "cyan"
                return f"[{color}]{escape(message)}[/{color}]"
        return None


class JsonUI:
    """One JSON object per event: {"event": "Live", "service": ..., "t": wall-clock}."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: ev.Event) -> None:
        record = {"event": type(event).__name__, "t": time.time(), **dataclasses.asdict(event)}
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()
