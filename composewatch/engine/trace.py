"""BuildKit's progress, decoded from the engine's `moby.buildkit.trace` messages.

With `POST /build?version=2` the engine streams JSON messages whose `aux`, for the id
`moby.buildkit.trace`, is a base64 protobuf `StatusResponse` (moby/buildkit
`api/services/control/control.proto`): vertexes (build steps: name, started, completed,
cached, error), statuses (transfer progress) and logs (a step's output).

The wire format is decoded by hand: the five message types used are tiny, and the protobuf
runtime would need their generated descriptors for fields we mostly skip. Unknown fields are
skipped, as protobuf requires, so a newer engine's additions do not break decoding.

`BuildProgress` turns the updates into the log lines the docker CLI's plain progress shows
(`#3 [2/4] RUN pip install ...`, `#3 0.512 Collecting flask`, `#3 DONE 1.2s`) and keeps what a
failure report needs: the failing step and its last lines. Pure: bytes in, lines out.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "BuildProgress",
    "StatusUpdate",
    "TraceError",
    "Vertex",
    "VertexLog",
    "parse_status",
    "parse_trace_aux",
]

_TAIL = 15


class TraceError(ValueError):
    """The trace message is not a well-formed StatusResponse."""


@dataclass(frozen=True)
class Vertex:
    digest: str
    name: str
    cached: bool
    started: float | None  # seconds since the epoch
    completed: float | None
    error: str


@dataclass(frozen=True)
class VertexLog:
    vertex: str
    stream: int
    data: bytes


@dataclass(frozen=True)
class StatusUpdate:
    vertexes: tuple[Vertex, ...] = ()
    logs: tuple[VertexLog, ...] = ()


def parse_trace_aux(aux: object) -> StatusUpdate:
    """Decode the `aux` of a `moby.buildkit.trace` message (a base64 string)."""
    if not isinstance(aux, str):
        raise TraceError("trace aux is not a base64 string")
    try:
        raw = base64.b64decode(aux, validate=True)
    except ValueError as exc:
        raise TraceError(f"trace aux is not base64: {exc}") from None
    return parse_status(raw)


def parse_status(raw: bytes) -> StatusUpdate:
    vertexes: list[Vertex] = []
    logs: list[VertexLog] = []
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            vertexes.append(_vertex(value))
        elif number == 3 and isinstance(value, bytes):
            logs.append(_log(value))
    return StatusUpdate(tuple(vertexes), tuple(logs))


def _vertex(raw: bytes) -> Vertex:
    digest = name = error = ""
    cached = False
    started = completed = None
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            digest = value.decode("utf-8", "replace")
        elif number == 3 and isinstance(value, bytes):
            name = value.decode("utf-8", "replace")
        elif number == 4 and isinstance(value, int):
            cached = bool(value)
        elif number == 5 and isinstance(value, bytes):
            started = _timestamp(value)
        elif number == 6 and isinstance(value, bytes):
            completed = _timestamp(value)
        elif number == 7 and isinstance(value, bytes):
            error = value.decode("utf-8", "replace")
    return Vertex(digest, name, cached, started, completed, error)


def _log(raw: bytes) -> VertexLog:
    vertex, stream, data = "", 0, b""
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            vertex = value.decode("utf-8", "replace")
        elif number == 3 and isinstance(value, int):
            stream = value
        elif number == 4 and isinstance(value, bytes):
            data = value
    return VertexLog(vertex, stream, data)


def _timestamp(raw: bytes) -> float:
    seconds = nanos = 0
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, int):
            seconds = value
        elif number == 2 and isinstance(value, int):
            nanos = value
    return seconds + nanos / 1e9


def _fields(raw: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: varints as int, length-delimited fields as bytes."""
    i, n = 0, len(raw)
    while i < n:
        key, i = _varint(raw, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(raw, i)
            yield number, value
        elif wire == 2:
            length, i = _varint(raw, i)
            if i + length > n:
                raise TraceError("truncated length-delimited field")
            yield number, raw[i : i + length]
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise TraceError(f"unsupported wire type {wire}")
    if i > n:
        raise TraceError("truncated fixed-size field")


def _varint(raw: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(raw) or shift > 63:
            raise TraceError("truncated varint")
        byte = raw[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


@dataclass
class _Step:
    number: int
    name: str
    started: float | None = None
    done: bool = False
    partial: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL))


@dataclass
class BuildProgress:
    """Accumulates trace updates into plain progress lines and a failure report."""

    steps: dict[str, _Step] = field(default_factory=dict)
    failed_step: str | None = None
    failed_error: str = ""

    def update(self, status: StatusUpdate) -> list[str]:
        """The new log lines this update adds."""
        lines: list[str] = []
        for vertex in status.vertexes:
            step = self._step(vertex.digest, vertex.name, lines)
            if vertex.started is not None and step.started is None:
                step.started = vertex.started
            if step.done:
                continue
            if vertex.error:
                step.done = True
                lines.extend(self._flush(step))
                lines.append(f"#{step.number} ERROR: {vertex.error}")
                step.tail.append(f"ERROR: {vertex.error}")
                if self.failed_step is None and "context canceled" not in vertex.error:
                    self.failed_step, self.failed_error = step.name, vertex.error
            elif vertex.cached:
                step.done = True
                lines.append(f"#{step.number} CACHED")
            elif vertex.completed is not None:
                step.done = True
                lines.extend(self._flush(step))
                took = vertex.completed - (step.started or vertex.completed)
                lines.append(f"#{step.number} DONE {took:.1f}s")
        for log in status.logs:
            step = self._step(log.vertex, "", lines)
            step.partial += log.data.decode("utf-8", "replace")
            *complete, step.partial = step.partial.split("\n")
            for text in complete:
                lines.append(f"#{step.number} {text.rstrip(chr(13))}")
                step.tail.append(text.rstrip("\r"))
        return lines

    def failure(self) -> tuple[str, list[str]]:
        """The failing step's name and its last lines (the error included)."""
        for step in self.steps.values():
            if step.name == self.failed_step:
                return step.name, [*step.tail]
        return "the first step", [self.failed_error] if self.failed_error else []

    def _step(self, digest: str, name: str, lines: list[str]) -> _Step:
        step = self.steps.get(digest)
        if step is None:
            step = _Step(len(self.steps) + 1, name)
            self.steps[digest] = step
            if name:
                lines.append(f"#{step.number} {name}")
        elif name and not step.name:
            step.name = name
            lines.append(f"#{step.number} {name}")
        return step

    @staticmethod
    def _flush(step: _Step) -> list[str]:
        if not step.partial:
            return []
        text, step.partial = step.partial, ""
        step.tail.append(text)
        return [f"#{step.number} {text}"]
