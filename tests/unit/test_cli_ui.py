"""The console: plain lines never wrapped, outside text escaped (control characters and rich
markup), the live view's rows, `ps`' table, the JSON lines against their schema, and the
pure checks of `doctor` and `explain`."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
from rich.console import Console
from uievents import EVERY_EVENT

from composewatch import events as ev
from composewatch.background import parse_event
from composewatch.doctor import judge_api, judge_inotify, parse_base_images
from composewatch.engine.context import Endpoint
from composewatch.engine.project import ContainerRow, parse_container, parse_timestamp
from composewatch.explain import ignore_rule
from composewatch.jsonui import JsonUI, events_schema
from composewatch.liveview import LiveUI
from composewatch.ui import (
    ConsoleUI,
    LogLine,
    LogPrinter,
    printable,
    render_ps,
)

REPO = Path(__file__).resolve().parents[2]


def plain_console(width: int = 80) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, highlight=False, soft_wrap=True), out


def test_piped_lines_are_timestamped_and_never_wrapped() -> None:
    console, out = plain_console(width=40)
    ui = ConsoleUI(console)
    long_path = "/p/" + "x" * 200 + ".py"
    ui(ev.BuildStarted("web", (long_path,)))
    ui(ev.Live("web", 0.73, (("detect", 0.04), ("building", 0.2), ("swapping", 0.3))))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f"web building ({long_path.rsplit('/', 1)[-1]} changed)")
    assert "\x1b" not in out.getvalue()
    stamp = lines[1].split(" ", 1)[0]
    assert datetime.fromisoformat(stamp).tzinfo is not None


@pytest.mark.parametrize(
    ("outside", "shown"),
    [
        ("[red]evil[bold].py", "[red]evil[bold].py"),
        ("a\x1b[2Jb.py", "a\\x1b[2Jb.py"),
        ("bell\x07\r.py", "bell\\x07\\x0d.py"),
    ],
)
def test_outside_text_is_escaped(outside: str, shown: str) -> None:
    console, out = plain_console()
    ui = ConsoleUI(console)
    ui(ev.BuildStarted("web", (f"/p/{outside}",)))
    ui(ev.Note(f"note {outside}"))
    LogPrinter(console, ["p-web-1"], "p")(LogLine("web", "p-web-1", f"log {outside}"))
    text = out.getvalue()
    assert f"({shown} changed)" in text
    assert f"note {shown}" in text
    assert f"web-1  | log {shown}" in text
    assert "\x1b" not in text and "\x07" not in text


def test_printable_keeps_newlines_and_text() -> None:
    assert printable("a\nb ünïcode") == "a\nb ünïcode"


def test_every_event_renders_and_validates_against_the_committed_schema() -> None:
    committed = json.loads((REPO / "docs" / "events.schema.json").read_text())
    assert committed == json.loads(json.dumps(events_schema())), (
        "docs/events.schema.json is stale: regenerate it from composewatch.jsonui.events_schema()"
    )
    out = io.StringIO()
    ui = JsonUI(out)
    for event in EVERY_EVENT:
        ui(event)
    ui.log(LogLine("web", "p-web-1", "hello"))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    for record in records:
        jsonschema.validate(record, committed)
    assert [r["type"] for r in records[:2]] == ["BuildStarted", "BuildQueued"]
    assert records[-3]["service"] is None  # CommandFinished on the host
    # and back: `watch` renders a detached watcher's log through the same events
    assert [parse_event(r) for r in records[:-1]] == EVERY_EVENT
    for event in EVERY_EVENT:
        console, _ = plain_console()
        ConsoleUI(console, verbose=True)(event)


def test_a_record_that_is_not_an_event_is_ignored() -> None:
    assert parse_event({"type": "Event"}) is None
    assert parse_event({"type": "__class__"}) is None
    assert parse_event({"type": "Live", "service": "web"}) is None


def test_live_view_rows_follow_a_save() -> None:
    console, out = plain_console(width=160)
    view = LiveUI(
        ["web", "api"], {"web": "http://127.0.0.1:5000/"}, console, {"web": "api (healthy)"}
    )
    assert view.rows["web"].detail == "waits for api (healthy)"
    view.apply(ev.Held("web", "waits for api to be healthy"))  # at `up`, as a save's wait
    assert (view.rows["web"].state, view.rows["web"].detail) == (
        "waiting",
        "waits for api to be healthy",
    )
    view.apply(ev.BuildQueued("web", ("api",)))
    assert (view.rows["web"].state, view.rows["web"].detail) == (
        "waiting",
        "build slot busy (api)",
    )
    view.apply(ev.BuildStarted("web", ("/p/app.py",)))
    view.apply(ev.BuildFinished("web", 0.2))
    assert view.rows["web"].state == "swapping"
    view.apply(ev.CheckStarted("web"))
    assert view.rows["web"].state == "checking"
    view.apply(ev.RolledBack("web", "HTTP 500"))
    assert view.rows["web"].state == "rolled back"
    view.apply(ev.Live("web", 0.73, (("detect", 0.04), ("building", 0.2))))
    row = view.rows["web"]
    assert (row.state, row.last_live_s, row.phases) == (
        "healthy",
        0.73,
        "detect 0.04 s, build 0.20 s",
    )
    assert any("rolled back" in m for _, m in view.messages)  # the error stays visible
    console.print(view.render())
    screen = out.getvalue()
    assert "SAVE→LIVE" in screen and "0.73 s" in screen and "http://127.0.0.1:5000/" in screen


def test_a_failing_probe_is_one_line_when_piped_and_a_count_in_the_live_view() -> None:
    console, out = plain_console(width=200)
    ui = ConsoleUI(console)
    reason = 'exec: "timeout": executable file not found'
    for attempts, first in ((30, True), (90, False), (150, False)):
        ui(ev.ProbeFailed("web", attempts, attempts / 20, reason, first))
    ui(ev.ProbeRecovered("web", 151, 8.0))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(
        f"web probe failing: 30 failed attempts in 1.50 s, the last: {reason}; still trying"
    )
    assert lines[1].endswith("web probe passed after 151 failed attempts (8.00 s)")

    view = LiveUI(["web"], {}, plain_console()[0])
    view.apply(ev.CheckStarted("web"))
    view.apply(ev.ProbeFailed("web", 90, 4.5, reason, False))
    row = view.rows["web"]
    assert row.state == "checking"
    assert row.detail == f"probe failing: 90 failed attempts in 4.5 s, the last: {reason}"


def test_ps_table() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    rows = [
        ContainerRow(
            "1",
            "p-web-1",
            "web",
            1,
            "running",
            None,
            "healthy",
            "p-web",
            ("127.0.0.1:5000->5000/tcp",),
            now - timedelta(seconds=90),
            None,
        ),
        ContainerRow("2", "p-job-1", "job", 1, "exited", 3, None, "busybox", (), None, None),
    ]
    lines = render_ps(rows, now)
    assert lines[0].split() == [
        "NAME",
        "SERVICE",
        "STATE",
        "HEALTH",
        "IMAGE",
        "PORTS",
        "LIVE",
        "SINCE",
    ]
    assert lines[1].split()[:6] == [
        "p-web-1",
        "web",
        "running",
        "healthy",
        "p-web",
        "127.0.0.1:5000->5000/tcp",
    ]
    assert lines[1].endswith("(1 min ago)")
    assert lines[2].split() == ["p-job-1", "job", "exited", "(3)", "-", "busybox", "-", "-"]


def test_parse_container_from_inspect_json() -> None:
    info = {
        "Id": "abc",
        "Name": "/p-web-1",
        "State": {
            "Status": "running",
            "Running": True,
            "StartedAt": "2026-01-01T12:00:00.123456789Z",
            "Health": {"Status": "healthy"},
        },
        "Config": {
            "Image": "p-web",
            "StopTimeout": 3,
            "Labels": {
                "com.docker.compose.service": "web",
                "com.docker.compose.container-number": "1",
            },
        },
        "NetworkSettings": {
            "Ports": {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5000"}], "6000/tcp": None}
        },
    }
    row = parse_container(info)
    assert (row.name, row.service, row.state, row.health, row.ports, row.stop_timeout_s) == (
        "p-web-1",
        "web",
        "running",
        "healthy",
        ("127.0.0.1:5000->5000/tcp",),
        3.0,
    )
    assert row.started_at == datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert parse_timestamp("0001-01-01T00:00:00Z") is None


LOCAL = Endpoint("unix:///var/run/docker.sock", "default", "default")


@pytest.mark.parametrize(("api", "level"), [("1.41", "ok"), ("1.39", "ok"), ("1.38", "warn")])
def test_judge_api(api: str, level: str) -> None:
    engine, buildkit = judge_api(api, "20.10.24", LOCAL)
    assert engine.level == "ok" and f"API {api}" in engine.detail
    assert buildkit.level == level


@pytest.mark.parametrize(
    ("limit", "dirs", "level"),
    [(8192, 100, "ok"), (8192, 5000, "warn"), (8192, 9000, "fail"), (None, 9000, "ok")],
)
def test_judge_inotify(limit: int | None, dirs: int, level: str) -> None:
    check = judge_inotify(limit, dirs)
    assert check.level == level
    if level != "ok":
        assert "sysctl fs.inotify.max_user_watches=" in check.detail


def test_parse_base_images() -> None:
    dockerfile = (
        "ARG V=3.11\nFROM python:${V}-slim AS base\nFROM --platform=linux/amd64 busybox:latest\n"
        "from base as final\nFROM scratch\nFROM busybox:latest\n"
    )
    assert parse_base_images(dockerfile) == ["busybox:latest"]


@pytest.mark.parametrize(
    ("ignore", "relative", "expected"),
    [
        ("# c\n*.md\n", "notes.md", (2, "*.md")),
        ("*.md\n!keep.md\n", "keep.md", None),
        ("*.md\n!keep.md\nkeep*\n", "keep.md", (3, "keep*")),
        ("docs\n", "docs/a/b.txt", (1, "docs")),
        ("", "a.py", None),
    ],
)
def test_ignore_rule_names_the_deciding_line(
    tmp_path: Path, ignore: str, relative: str, expected: tuple[int, str] | None
) -> None:
    (tmp_path / ".dockerignore").write_text(ignore)
    found = ignore_rule(tmp_path, relative)
    assert (found[1:] if found else None) == expected
