"""The watcher's wiring: the startup hints wait until `up` is done, and run once."""

from __future__ import annotations

from typing import Any

from composewatch import events as ev
from composewatch.commands.wiring import AfterStartup, around_session


class Recorder:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)

    def log(self, line: str) -> str:
        return line


def test_the_hints_start_once_when_up_says_watching() -> None:
    ran: list[str] = []
    inner = Recorder()
    ui = AfterStartup(inner, lambda: ran.append("hints"))
    started = ev.BuildStarted("web", ("app.py",))
    ui(started)
    assert ran == []  # still starting: the build contexts are not read now
    watching = ev.Watching((".",), ("web",))
    ui(watching)
    ui(ev.Watching((".",), ("web",)))  # a second one (a reload) starts nothing again
    assert ran == ["hints"]
    assert inner.events[:2] == [started, watching]
    assert ui.log("x") == "x"


def test_without_a_watch_the_hints_start_at_once_through_the_same_ui() -> None:
    given: list[Any] = []
    inner = Recorder()
    ui = around_session(inner, None, given.append)
    assert len(given) == 1
    given[0](ev.Note("hint"))
    assert inner.events == [ev.Note("hint")]
    ui(ev.Note("later"))
    assert inner.events[-1] == ev.Note("later")
