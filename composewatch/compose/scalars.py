"""Plain YAML scalars typed as go-yaml v3 (compose's YAML library) types them.

`yaml_plain_tag` is v3's resolver: the tag a plain (unquoted) scalar gets. Reading, the loader
uses it to build the same values compose reads (`0799` is the float 799, `1e400` a string,
`2001-12-14` a timestamp); writing, the encoder quotes the strings that would read back as
another type. `parse_int`, `parse_float` and `parse_timestamp` give the values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "BASE60",
    "OLD_BOOLS",
    "STR",
    "GoNumError",
    "GoTime",
    "go_atoi",
    "go_parse_float",
    "go_parse_int",
    "parse_float",
    "parse_int",
    "parse_timestamp",
    "yaml_plain_tag",
]

STR, _INT, _FLOAT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_BOOL, _NULL = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"
_TIME = "tag:yaml.org,2002:timestamp"
_MAP_TAGS = {
    **dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), _BOOL),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), _NULL),
    **dict.fromkeys(
        (".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), _FLOAT
    ),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), _FLOAT),
}  # `<<` too reads back as a merge key, but compose's encoder prints it plain
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|infinity|nan)", re.I)
BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:([Tt])|( ))(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?"
    r"(Z|[-+]\d{2}:\d{2})?)?"
)
OLD_BOOLS = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"}
OLD_BOOLS |= {"n", "N", "no", "No", "NO", "off", "Off", "OFF"}
_INT64 = 1 << 63
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class GoTime(str):
    """A YAML timestamp as compose holds it (a Go `time.Time`), written in RFC 3339 as Go
    writes it. Compose's schema refuses one wherever it checks types (outside `x-*`)."""


@dataclass(frozen=True)
class _Parsed:
    tag: str
    value: object


def _go_int(text: str) -> int | None:
    """`strconv.ParseInt(text, 0, 64)`, else `ParseUint(text, 0, 64)`; None if both fail."""
    sign, body = ("", text)
    if text[:1] in ("+", "-"):
        sign, body = text[0], text[1:]
    base = 10
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", body):
        base, body = 16, body[2:]
    elif re.fullmatch(r"0[oO][0-7]+", body):
        base, body = 8, body[2:]
    elif re.fullmatch(r"0[bB][01]+", body):
        base, body = 2, body[2:]
    elif body.startswith("0") and len(body) > 1:  # a leading 0 is octal to Go
        if not re.fullmatch(r"0[0-7]+", body):
            return None
        base = 8
    elif not re.fullmatch(r"[0-9]+", body):
        return None
    if len(body.lstrip("0")) > 64:  # beyond 64 bits in any base (and int()'s digit limit)
        return None
    number = int(body, base) if body else 0
    if sign == "-":
        return -number if number <= _INT64 else None
    return number if number < _INT64 or (sign == "" and number < 2 * _INT64) else None


def _go_float(text: str) -> float | None:
    """`strconv.ParseFloat(text, 64)` for the texts the resolver tries; None on a range
    error (`1e400`), as Go then keeps the string."""
    if not _GO_FLOAT.fullmatch(text):
        return None
    value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        return None
    return value


def parse_timestamp(text: str) -> GoTime | None:
    """v3's `parseTimestamp`: the formats `2006-1-2T15:4:5.999999999Z07:00` (T or t),
    `2006-1-2 15:4:5.999999999` and `2006-1-2`, as Go's `time.Time` prints it."""
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return None
    year, month, day = (int(g) for g in match.group(1, 2, 3))
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS[month - 1] - (month == 2 and not leap):
        return None
    clock, zone = "00:00:00", "Z"
    if match.group(6) is not None:
        hour, minute, second = (int(g) for g in match.group(6, 7, 8))
        if hour > 23 or minute > 59 or second > 59:
            return None
        if match.group(5) and match.group(10):  # a zone only after `T`
            return None
        fraction = (match.group(9) or "").rstrip("0")
        clock = f"{hour:02d}:{minute:02d}:{second:02d}" + (f".{fraction}" if fraction else "")
        offset = match.group(10)
        if offset and offset != "Z":
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                return None
            zone = "Z" if hours == minutes == 0 else offset
    return GoTime(f"{year:04d}-{month:02d}-{day:02d}T{clock}{zone}")


def _resolve(text: str) -> _Parsed:
    if text.isdigit() and text.isascii() and len(text) < 19 and (text[0] != "0" or text == "0"):
        return _Parsed(_INT, int(text))  # the common case, first: decimal, within int64
    if text in _MAP_TAGS:
        return _Parsed(_MAP_TAGS[text], None)
    first = text[:1]
    if first == ".":
        value = _go_float(text)
        return _Parsed(STR, text) if value is None else _Parsed(_FLOAT, value)
    if not first or not ((first.isdigit() and first.isascii()) or first in "+-"):
        return _Parsed(STR, text)
    timestamp = parse_timestamp(text)
    if timestamp is not None:
        return _Parsed(_TIME, timestamp)
    plain = text.replace("_", "")
    number = _go_int(plain) if plain else None
    if number is not None:
        return _Parsed(_INT, number)
    if _YAML_FLOAT.fullmatch(plain):
        value = _go_float(plain)
        if value is not None:
            return _Parsed(_FLOAT, value)
    return _Parsed(STR, text)


def yaml_plain_tag(text: str) -> str:
    """The tag go-yaml v3's resolver gives `text` written as a plain scalar."""
    return _resolve(text).tag


def parse_int(text: str) -> int | None:
    """The integer go-yaml reads from the plain scalar `text`, or None if it reads another type."""
    parsed = _resolve(text)
    return parsed.value if parsed.tag == _INT and isinstance(parsed.value, int) else None


def parse_float(text: str) -> float | None:
    """The float go-yaml reads from the plain scalar `text`, or None if it reads another type."""
    if text in _MAP_TAGS and _MAP_TAGS[text] == _FLOAT:
        lowered = text.lower().lstrip("+")
        return float(lowered.replace(".", ""))
    parsed = _resolve(text)
    if parsed.tag == _INT and isinstance(parsed.value, int):
        return float(parsed.value)  # `!!float 1`: go-yaml turns the integer into a float
    return parsed.value if parsed.tag == _FLOAT and isinstance(parsed.value, float) else None


class GoNumError(ValueError):
    """Go's strconv.NumError: `strconv.ParseInt: parsing "x": invalid syntax`. The value is
    quoted whole, as compose quotes it: a shortened one would escape the redaction of
    variable values, which replaces whole values."""

    def __init__(self, func: str, text: str, reason: str) -> None:
        super().__init__(f"strconv.{func}: parsing {_go_quote(text)}: {reason}")


def _go_quote(text: str) -> str:
    """strconv.Quote for printable text (enough for a message)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_DECIMAL = re.compile(r"[+-]?[0-9]+")
# float32's largest value plus half its last step: from here Go rounds to infinity
_FLOAT32_OVERFLOW = 3.4028235677973366e38


def go_parse_int(text: str, bits: int = 64, func: str = "ParseInt") -> int:
    """strconv.ParseInt(text, 10, bits): an optional sign and ASCII digits, in range. The
    digits are checked and counted before `int()` ever sees them (Python refuses to convert
    more than 4,300 digits, and Go's answer is "value out of range" anyway)."""
    if not _DECIMAL.fullmatch(text):
        raise GoNumError(func, text, "invalid syntax")
    limit = 1 << (bits - 1)
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 20:
        raise GoNumError(func, text, "value out of range")
    number = int(text)
    if not -limit <= number < limit:
        raise GoNumError(func, text, "value out of range")
    return number


def go_atoi(text: str) -> int:
    """strconv.Atoi (an `int` of 64 bits, as on every platform compose ships for)."""
    return go_parse_int(text, 64, "Atoi")


def go_parse_float(text: str, bits: int = 64) -> float:
    """strconv.ParseFloat(text, bits) for decimal texts and inf/nan; a finite text beyond the
    type's range is "value out of range" (Python would say inf)."""
    if not _GO_FLOAT.fullmatch(text):
        raise GoNumError("ParseFloat", text, "invalid syntax")
    value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        raise GoNumError("ParseFloat", text, "value out of range")
    if bits == 32 and not math.isinf(value) and abs(value) >= _FLOAT32_OVERFLOW:
        raise GoNumError("ParseFloat", text, "value out of range")
    return value
