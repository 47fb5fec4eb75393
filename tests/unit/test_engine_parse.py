"""The engine JSON parsers on answers recorded from a real engine (dockerd 20.10, API 1.41):
tests/data/inspect-*.json, made by creating a healthy busybox httpd and a job that exits 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from composewatch.engine.parse import (
    parse_multiplexed,
    parse_name,
    parse_published_url,
    parse_status,
    parse_summary,
)
from composewatch.health import ContainerStatus

DATA = Path(__file__).resolve().parents[1] / "data"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"inspect-{name}.json").read_text())
    return data


def test_a_running_healthy_container() -> None:
    inspect = recorded("running-healthy")
    assert parse_status(inspect) == ContainerStatus(True, 0, "healthy", True)
    assert parse_published_url(inspect, 8080, "/health") == "http://127.0.0.1:18099/health"
    assert parse_published_url(inspect, 9090, "/") is None
    assert parse_name(inspect).endswith("-web-1")


def test_an_exited_container_says_its_code_and_publishes_nothing() -> None:
    inspect = recorded("exited-3")
    assert parse_status(inspect) == ContainerStatus(False, 3, None, False)
    assert parse_published_url(inspect, 8080, "/") is None


def test_a_gone_container_is_not_running() -> None:
    assert parse_status(None) == ContainerStatus(False, None, None, False)


def test_list_summaries_carry_compose_labels_and_health() -> None:
    running = parse_summary(recorded("summary-running"))
    assert (running.service, running.number, running.config_hash) == ("web", 1, "abc123")
    assert running.image_id == "sha256:feed"  # compose's image label wins over ImageID
    assert (running.status, running.health) == ("running", "healthy")
    exited = parse_summary(recorded("summary-exited"))
    assert (exited.service, exited.status, exited.health) == ("job", "exited", None)


def test_a_summary_with_odd_labels_still_parses() -> None:
    info = parse_summary({"Id": "x", "Labels": {"com.docker.compose.container-number": "n/a"}})
    assert (info.number, info.name, info.status, info.image_id) == (0, "", "", "")


def test_multiplexed_output_is_stdout_and_stderr_in_order_and_a_cut_frame_keeps_its_bytes() -> None:
    def frame(stream: int, text: bytes) -> bytes:
        return bytes([stream, 0, 0, 0]) + len(text).to_bytes(4, "big") + text

    data = frame(1, b"wget\n") + frame(2, b"  HTTP/1.1 200 OK\n") + frame(1, b"timeout\n")
    assert parse_multiplexed(data) == "wget\n  HTTP/1.1 200 OK\ntimeout\n"
    assert parse_multiplexed(data + frame(1, b"cut short")[:11]) == parse_multiplexed(data) + "cut"
    assert parse_multiplexed(b"") == ""
    assert parse_multiplexed(frame(1, "é".encode()[:1])) == "\ufffd"  # never raises
