"""Where `up`'s time goes, from the engine's events (bench.upstart_report): pure, by table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# `bench` is not part of the installed package: import it from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.upstart_report import (
    ContainerEvent,
    figures,
    median_figures,
    needs_from_compose,
    parse_line,
)

T0 = 1000.0


def _line(action: str, service: str | None, at: float, **extra: str) -> str:
    attributes = {"name": "x", **extra}
    if service is not None:
        attributes["com.docker.compose.service"] = service
    return json.dumps(
        {
            "Type": "container",
            "Action": action,
            "Actor": {"ID": "abc", "Attributes": attributes},
            "timeNano": int((T0 + at) * 1e9),
        }
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (_line("start", "db", 1.5), ContainerEvent("start", "db", T0 + 1.5)),
        (_line("create", "db", 0.5), ContainerEvent("create", "db", T0 + 0.5)),
        (_line("health_status: healthy", "db", 3.0), ContainerEvent("healthy", "db", T0 + 3.0)),
        (
            _line("health_status: unhealthy", "db", 3.0),
            ContainerEvent("unhealthy", "db", T0 + 3.0),
        ),
        (_line("die", "job", 4.0, exitCode="0"), ContainerEvent("die", "job", T0 + 4.0, 0)),
        (_line("die", "job", 4.0, exitCode="3"), ContainerEvent("die", "job", T0 + 4.0, 3)),
        (_line("exec_start: sh -c test", "db", 2.0), None),  # the healthcheck's own execs
        (_line("start", None, 2.0), None),  # not a compose container
        (json.dumps({"Type": "network", "Action": "connect"}), None),
        ("not json", None),
    ],
)
def test_parse_line(line: str, expected: ContainerEvent | None) -> None:
    assert parse_line(line) == expected


def test_needs_from_compose() -> None:
    document = {
        "services": {
            "db": {"healthcheck": {"test": ["CMD", "true"]}},
            "off": {"healthcheck": {"test": ["NONE"]}},
            "disabled": {"healthcheck": {"disable": True}},
            "web": {"depends_on": {"db": {"condition": "service_healthy"}, "off": {}}},
            "short": {"depends_on": ["db"]},
        }
    }
    needs, checked = needs_from_compose(document)
    assert needs == {
        "db": {},
        "off": {},
        "disabled": {},
        "web": {"db": "service_healthy", "off": "service_started"},
        "short": {"db": "service_started"},
    }
    assert checked == {"db"}


NEEDS = {
    "db": {},
    "plain": {},  # no HEALTHCHECK: service_healthy on it holds at its start
    "job": {},
    "web": {"db": "service_healthy", "plain": "service_healthy"},
    "side": {"db": "service_started"},
    "after": {"job": "service_completed_successfully"},
    "never": {"missing": "service_started"},  # its dependency never started: no figure
}
CHECKED = {"db", "web", "side", "after"}


def _ev(action: str, service: str, at: float, code: int | None = None) -> ContainerEvent:
    return ContainerEvent(action, service, T0 + at, code)


EVENTS = [
    _ev("create", "db", 0.2),
    _ev("start", "db", 0.4),
    _ev("create", "plain", 0.2),
    _ev("start", "plain", 0.5),
    _ev("create", "job", 0.3),
    _ev("start", "job", 0.6),
    _ev("create", "side", 0.3),
    _ev("start", "side", 0.9),  # 0.5 s after db started
    _ev("die", "job", 1.0, 0),
    _ev("start", "after", 1.1),
    _ev("healthy", "db", 3.0),
    _ev("healthy", "db", 9.0),  # a later one does not move the first
    _ev("create", "web", 0.4),
    _ev("start", "web", 3.25),
    _ev("healthy", "side", 4.0),
    _ev("healthy", "web", 6.0),
    _ev("healthy", "after", 5.0),
]


def test_figures_of_one_run() -> None:
    got = figures(reversed(EVENTS), NEEDS, CHECKED, T0, T0 + 7.5)  # any order in
    assert got.end == 7.5
    assert got.last_start == pytest.approx(3.25)
    assert got.last_healthy == pytest.approx(6.0)
    assert got.held == pytest.approx(
        {"db": 0.0, "plain": 0.0, "job": 0.0, "web": 3.0, "side": 0.4, "after": 1.0}
    )
    assert got.lag == pytest.approx(
        {"db": 0.4, "plain": 0.5, "job": 0.6, "web": 0.25, "side": 0.5, "after": 0.1}
    )
    assert got.created["web"] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("code", "after_held"),
    [(0, 1.0), (1, None), (None, None)],  # a non-zero exit never completes it
)
def test_completed_needs_exit_zero(code: int | None, after_held: float | None) -> None:
    events = [_ev("start", "job", 0.6), _ev("start", "after", 2.0)]
    if code is not None:
        events.append(_ev("die", "job", 1.0, code))
    got = figures(events, NEEDS, CHECKED, T0, T0 + 3.0)
    assert got.held.get("after") == (None if after_held is None else pytest.approx(after_held))


def test_nothing_started() -> None:
    got = figures([], NEEDS, CHECKED, T0, T0 + 1.0)
    assert (got.last_start, got.last_healthy, got.lag) == (None, None, {})


def test_medians_over_rounds() -> None:
    one = figures(EVENTS, NEEDS, CHECKED, T0, T0 + 7.0)
    two = figures(EVENTS, NEEDS, CHECKED, T0 - 1.0, T0 + 8.0)  # began a second earlier
    three = figures(EVENTS[:2], NEEDS, CHECKED, T0, T0 + 30.0)
    got = median_figures([one, two, three])
    assert got["end"] == pytest.approx(9.0)
    assert got["last_start"] == pytest.approx(3.25)
    assert got["last_healthy"] == pytest.approx(6.5)  # the median of two: 6.0 and 7.0
    assert got["lag"]["web"] == pytest.approx(0.25)
    assert got["lag"]["db"] == pytest.approx(0.4)
