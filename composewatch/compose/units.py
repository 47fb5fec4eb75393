"""Durations and byte sizes as compose parses and prints them (Go's `time.Duration` and
docker's `units.RAMInBytes`)."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from composewatch.compose.scalars import GoNumError

__all__ = ["UnitError", "format_duration", "parse_duration", "parse_size"]


class UnitError(ValueError):
    """A duration or size is malformed; the message is Go's."""


_DURATION_UNITS = {
    "ns": Decimal(1),
    "us": Decimal(1_000),
    "µs": Decimal(1_000),
    "μs": Decimal(1_000),
    "ms": Decimal(1_000_000),
    "s": Decimal(1_000_000_000),
    "m": Decimal(60_000_000_000),
    "h": Decimal(3_600_000_000_000),
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_duration(text: str | int | float) -> int:
    """Nanoseconds in a Go duration string (`1m30s`); a bare number counts seconds."""
    if isinstance(text, int | float):
        return int(Decimal(str(text)) * _DURATION_UNITS["s"])
    raw = text
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text == "0":
        return 0
    if not text:
        raise UnitError(f'time: invalid duration "{raw}"')
    total = Decimal(0)
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None or match.group(1) in ("", "."):
            raise UnitError(f'time: invalid duration "{raw}"')
        number, unit = match.groups()
        if not unit:
            raise UnitError(f'time: missing unit in duration "{raw}"')
        if unit not in _DURATION_UNITS:
            raise UnitError(f'time: unknown unit "{unit}" in duration "{raw}"')
        total += Decimal(number) * _DURATION_UNITS[unit]
        pos = match.end()
    return sign * int(total)


def _fraction(value: int, scale: int) -> str:
    whole, rest = divmod(value, scale)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def format_duration(ns: int) -> str:
    """Go's `time.Duration.String()`: `1h0m0s`, `1m30s`, `1.5s`, `500ms`."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 1_000_000)}ms"
    hours, ns = divmod(ns, 3_600_000_000_000)
    minutes, ns = divmod(ns, 60_000_000_000)
    seconds = _fraction(ns, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return f"{sign}{seconds}"


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtpKMGTP]?)[iI]?[bB]?\s*$")
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(value: str | int | float) -> int:
    """Bytes in a size such as `512m` or `1gb` (binary multiples, as docker reads RAM sizes)."""
    if isinstance(value, int | float):
        return int(value)
    match = _SIZE.match(value)
    if match is None:
        raise UnitError(f"invalid size: '{value}'")
    number, unit = match.groups()
    if math.isinf(float(number)):  # Go's ParseFloat refuses it (and its digits are unbounded)
        raise UnitError(str(GoNumError("ParseFloat", number, "value out of range")))
    return int(Decimal(number) * _SIZE_UNITS[unit.lower()])
