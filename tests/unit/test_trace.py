"""BuildKit trace decoding on messages recorded from a real engine (Engine 20.10, BuildKit)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from composewatch.engine.trace import BuildProgress, TraceError, parse_status, parse_trace_aux

DATA = Path(__file__).parents[1] / "data" / "buildkit"


def _replay(name: str) -> tuple[BuildProgress, list[str], list[dict[str, object]]]:
    progress = BuildProgress()
    lines: list[str] = []
    others: list[dict[str, object]] = []
    for raw in (DATA / f"{name}.jsonl").read_text().splitlines():
        message = json.loads(raw)
        if message.get("id") == "moby.buildkit.trace":
            lines.extend(progress.update(parse_trace_aux(message["aux"])))
        else:
            others.append(message)
    return progress, lines, others


def test_success_gives_steps_output_and_image_id() -> None:
    progress, lines, others = _replay("success")
    assert any(line.endswith("[2/3] RUN echo first line && echo second line >&2") for line in lines)
    assert any(line.endswith(" first line") for line in lines)
    assert any(line.endswith(" second line") for line in lines)  # stderr too
    assert any(line.endswith(" no newline at end") for line in lines)  # flushed at DONE
    assert any(" DONE " in line for line in lines)
    assert progress.failed_step is None
    ids = [m for m in others if m.get("id") == "moby.image.id"]
    assert ids and str(ids[0]["aux"]["ID"]).startswith("sha256:")  # type: ignore[index]


def test_failing_run_names_step_and_tail() -> None:
    progress, _, others = _replay("failing-run")
    step, tail = progress.failure()
    assert step == "[2/2] RUN echo about to fail && exit 3"
    assert "about to fail" in tail
    assert any("exit code: 3" in line for line in tail)
    assert any("error" in m for m in others)


def test_parse_error_has_no_failed_step() -> None:
    _, _, others = _replay("parse-error")
    errors = [str(m["error"]) for m in others if "error" in m]
    assert errors and "unknown instruction: CPY" in errors[0]


def test_unknown_fields_are_skipped() -> None:
    # field 9 (varint), field 10 (fixed64), field 11 (fixed32), then a vertex named "x"
    vertex = bytes([0x0A, 1, ord("d"), 0x1A, 1, ord("x")])
    raw = bytes([0x48, 5, 0x51]) + bytes(8) + bytes([0x5D]) + bytes(4) + bytes([0x0A, len(vertex)])
    status = parse_status(raw + vertex)
    assert [v.name for v in status.vertexes] == ["x"]


@pytest.mark.parametrize("bad", [b"\x0a\x05ab", b"\x80", b"\x0f"])
def test_malformed_messages_raise_trace_error(bad: bytes) -> None:
    with pytest.raises(TraceError):
        parse_status(bad)
    with pytest.raises(TraceError):
        parse_trace_aux(base64.b64encode(bad).decode())
    with pytest.raises(TraceError):
        parse_trace_aux(12)
