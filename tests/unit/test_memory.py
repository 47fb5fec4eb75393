"""The heap is trimmed once `up` is done and after each save's outcome, never mid-save."""

from __future__ import annotations

import threading

from composewatch import events as ev
from composewatch.memory import TrimWhenSettled, trim_heap


class Recorder:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)

    def log(self, line: str) -> str:
        return line


def _trims_after(events: list[ev.Event]) -> int:
    trims: list[int] = []
    ui = TrimWhenSettled(Recorder(), trim=lambda: trims.append(1))
    for event in events:
        ui(event)
    for thread in threading.enumerate():
        if thread.name == "trim":
            thread.join(timeout=5)
    return len(trims)


def test_only_a_settled_event_trims() -> None:
    assert _trims_after([ev.BuildStarted("web", ("app.py",))]) == 0
    assert _trims_after([ev.Note("hint")]) == 0
    assert _trims_after([ev.Watching((".",), ("web",))]) == 1
    assert _trims_after([ev.BuildStarted("web", ("app.py",)), ev.BuildFailed("web", "x", ())]) == 1


def test_every_event_passes_and_the_inner_ui_stays_reachable() -> None:
    inner = Recorder()
    ui = TrimWhenSettled(inner, trim=lambda: None)
    events: list[ev.Event] = [ev.BuildStarted("web", ("app.py",)), ev.Watching((".",), ("web",))]
    for event in events:
        ui(event)
    assert inner.events == events
    assert ui.log("x") == "x"


def test_trim_heap_is_safe_to_call() -> None:
    trim_heap()  # glibc: returns free pages; elsewhere: nothing
