"""The watcher's plain lines without rich (`composewatch.plainout`): for every event, and for
outside text built to look like markup, the same characters as rich's console prints in a pipe."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console
from rich.markup import escape
from uievents import EVERY_EVENT

from composewatch import events as ev
from composewatch.plainout import PlainConsole, escape_markup, is_plain_pipe, plain_text
from composewatch.ui import ConsoleUI, LogLine, LogPrinter, render

TRICKY = [
    "[red]x",
    "a\\[bold]b",
    "a\\\\[bold]b",
    "ends with \\",
    "ends with \\\\",
    "[/]",
    "[#ff0000]hex[@click]",
    "list[0] and [not a tag",
    "tab\there",
    "\\x1b[31m",
    "",
]


def rich_prints(markup: str) -> str:
    out = io.StringIO()
    Console(file=out, highlight=False, soft_wrap=True, emoji=False).print(markup, soft_wrap=True)
    return out.getvalue()


def plain_prints(markup: str) -> str:
    out = io.StringIO()
    PlainConsole(out).print(markup)
    return out.getvalue()


@pytest.mark.parametrize("text", TRICKY)
def test_escape_is_riches(text: str) -> None:
    assert escape_markup(text) == escape(text)


@pytest.mark.parametrize("text", TRICKY)
def test_escaped_outside_text_prints_as_it_is_and_as_rich_prints_it(text: str) -> None:
    markup = f"[bold]{escape_markup(text)}[/bold] and [dim]{escape_markup(text)}[/dim]"
    assert plain_prints(markup) == rich_prints(markup)


@pytest.mark.parametrize("event", EVERY_EVENT, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("name", ["web", "w[red]eb", "web\\"])
def test_every_event_prints_as_rich_prints_it(event: ev.Event, name: str) -> None:
    if hasattr(event, "service"):
        event = type(event)(**{**vars(event), "service": name})
    markup = render(event, verbose=True)
    assert markup is not None
    assert plain_prints(markup) == rich_prints(markup)


def test_emoji_codes_stay_text_in_a_pipe() -> None:
    assert plain_text(escape_markup(":smile:.py")) == ":smile:.py"


def test_console_ui_on_a_pipe_writes_stamped_plain_lines() -> None:
    out = io.StringIO()
    ui = ConsoleUI(PlainConsole(out))
    ui(ev.BuildFinished("w[red]eb", 0.21))
    stamp, line = out.getvalue().split(" ", 1)
    assert "T" in stamp
    assert line == "w[red]eb built in 0.21 s\n"


def test_container_logs_on_a_pipe_are_aligned_and_uncoloured() -> None:
    out = io.StringIO()
    printer = LogPrinter(PlainConsole(out), ["p-web-1", "p-db-1"], "p")
    printer(LogLine("web", "p-web-1", "GET / 200\x1b[0m"))
    assert out.getvalue() == "web-1  | GET / 200\\x1b[0m\n"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_only_a_pipe_rich_would_not_draw_on_is_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert is_plain_pipe(io.StringIO())
    assert not is_plain_pipe(_Tty())
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not is_plain_pipe(io.StringIO())


WATCHER_ON_A_PIPE = """
import sys
from types import SimpleNamespace
import composewatch.app, composewatch.background, composewatch.cli, composewatch.memory
from composewatch import events as ev
from composewatch.commands.wiring import make_ui

for json_output in (False, True):
    project = SimpleNamespace(project=SimpleNamespace(name="p"))
    ui = make_ui(project, None, ["web"], None, json_output, logs=False, verbose=False)
    ui(ev.BuildFinished("web", 0.2))
print(sorted(m for m in sys.modules if m.split(".")[0] == "rich"))
"""


def test_a_watcher_on_a_pipe_never_loads_rich() -> None:
    """rich costs the idle watcher ~1.8 MiB; piped or as JSON lines it is never imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run(
        [sys.executable, "-c", WATCHER_ON_A_PIPE],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0].endswith(" web built in 0.20 s")
    assert '"type": "BuildFinished"' in lines[1]
    assert lines[-1] == "[]"
