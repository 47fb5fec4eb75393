"""The gated poller's decision: when may it connect (bench.gate), and how poll() obeys it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

# `bench` is not part of the installed package: import it from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.gate import EngineEvent, Gate, parse_event
from bench.measure import Sample, SaveResult, longest_failure, poll, summarize


def _event(action: str, actor: str, service: str = "web", at_s: float = 0.0) -> EngineEvent:
    return EngineEvent("container", action, actor, at_s, service, f"c-{actor}")


def _gate(service: str = "web", **states: str) -> Gate:
    gate = Gate(service)
    gate.seed(states)
    return gate


def test_parse_event_reads_a_container_event() -> None:
    line = json.dumps(
        {
            "Type": "container",
            "Action": "start",
            "Actor": {
                "ID": "abc",
                "Attributes": {"com.docker.compose.service": "web", "name": "p-web-1"},
            },
            "timeNano": 1_700_000_000_250_000_000,
        }
    )
    event = parse_event(line)
    assert event is not None
    assert event.at_s == pytest.approx(1_700_000_000.25)
    assert event == EngineEvent("container", "start", "abc", event.at_s, "web", "p-web-1")


def test_parse_event_reads_the_scripts_label_images_and_exec_verbs() -> None:
    script = {"Type": "container", "Action": "create", "Actor": {"ID": "x", "Attributes": {}}}
    script["Actor"]["Attributes"] = {"bench.service": "s1"}  # type: ignore[index]
    parsed = parse_event(json.dumps(script))
    assert parsed is not None and parsed.service == "s1"
    image = {"Type": "image", "Action": "tag", "Actor": {"ID": "sha256:1", "Attributes": {}}}
    image["Actor"]["Attributes"] = {"name": "p-web:bench", "com.docker.compose.service": "web"}  # type: ignore[index]
    parsed = parse_event(json.dumps(image))
    assert parsed is not None and (parsed.kind, parsed.name, parsed.service) == (
        "image",
        "p-web:bench",
        None,
    )
    execs = {"Type": "container", "Action": "exec_start: sh -c true", "Actor": {"ID": "x"}}
    parsed = parse_event(json.dumps(execs))
    assert parsed is not None and parsed.action == "exec_start"


@pytest.mark.parametrize(
    "line",
    ["", "not json", "[]", json.dumps({"Type": "network", "Action": "connect"})],
)
def test_parse_event_ignores_anything_else(line: str) -> None:
    assert parse_event(line) is None


def test_gate_closes_only_between_create_and_start_with_nothing_running() -> None:
    """composewatch's order: create the new one beside the old, stop the old, start the new."""
    gate = _gate(old="running")
    assert gate.open
    gate.apply(_event("create", "new"))
    assert gate.open  # the old one still serves: connect to it
    gate.apply(_event("die", "old"))
    assert not gate.open  # the new docker-proxy may listen before the network answers
    gate.apply(_event("start", "new"))
    assert gate.open


def test_gate_for_the_script_and_compose_order() -> None:
    """The script and compose: the old one goes first; refused connections cost nothing."""
    gate = _gate(old="running")
    gate.apply(_event("die", "old"))
    assert gate.open
    gate.apply(_event("destroy", "old"))
    assert gate.open
    gate.apply(_event("create", "new"))
    assert not gate.open
    gate.apply(_event("start", "new"))
    assert gate.open


def test_gate_reopens_when_the_new_container_is_removed_unstarted() -> None:
    gate = _gate(old="exited")
    gate.apply(_event("create", "new"))
    assert not gate.open
    gate.apply(_event("destroy", "new"))
    assert gate.open


def test_gate_ignores_other_services() -> None:
    gate = _gate(service="s1", a="running")
    gate.apply(_event("die", "a", service="s1"))
    gate.apply(_event("create", "b", service="s2"))
    assert gate.open
    gate.apply(_event("create", "c", service="s1"))
    assert not gate.open
    gate.apply(_event("start", "b", service="s2"))
    assert not gate.open


def test_seed_does_not_override_what_events_said() -> None:
    gate = Gate("web")
    gate.apply(_event("create", "new"))
    gate.seed({"new": "running"})  # `docker ps` raced the event stream: the event wins
    assert not gate.open


def _answers(*bodies: bytes | None) -> tuple[list[int], object]:
    """A fake request function answering in turn; counts the calls."""
    calls: list[int] = []

    def request(host: str, port: int, path: str, timeout_s: float) -> tuple[int, bytes] | None:
        calls.append(1)
        body = bodies[min(len(calls), len(bodies)) - 1]
        return None if body is None else (200, body)

    return calls, request


def test_poll_sends_nothing_while_the_gate_is_closed() -> None:
    states = iter([True, False, False, False, True, True, True, True, True])
    calls, request = _answers(None, b"NEW", b"NEW")
    result = poll(
        "http://127.0.0.1:1/",
        "NEW",
        start=time.monotonic(),
        interval_s=0.0,
        gate_interval_s=0.0,
        settle_s=0.0,
        gate=lambda: next(states),
        request=request,  # type: ignore[arg-type]
    )
    # One refused request, one marker for the closed stretch (three checks), then served.
    assert [(s.failed, s.gated) for s in result.samples[:3]] == [
        (True, False),
        (True, True),
        (False, False),
    ]
    assert result.samples[2].marked
    assert len(calls) == len([s for s in result.samples if not s.gated])
    assert result.failed == 1  # the gated marker is no request
    assert result.latency_s is not None


def test_gated_time_counts_as_unserved() -> None:
    samples = [
        Sample(0.0, False),
        Sample(1.0, True),  # refused: the old one is gone
        Sample(1.1, True, gated=True),  # the new one is created, not started
        Sample(1.6, False, marked=True),
    ]
    assert longest_failure(samples) == pytest.approx(0.6)
    result = SaveResult(1.6, samples)
    assert result.gated_s == pytest.approx(0.5)
    assert result.failed == 1


def test_a_request_that_waited_for_the_arp_retry_is_a_stall() -> None:
    samples = [
        Sample(0.0, False, took_s=0.002),
        Sample(0.1, True, gated=True, took_s=5.0),  # a gate marker is no request
        Sample(0.5, False, marked=True, took_s=1.01),  # SYN sent into the void, retried at 1 s
    ]
    assert SaveResult(1.5, samples).stalls == 1
    assert summarize([SaveResult(1.5, samples), SaveResult(1.0, samples[:1])]).stalls == 1
