"""Variable substitution with compose's syntax: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-d}`,
`${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}` (nested in the default), `$$` for `$`.

Missing variables become "" (compose warns). Errors carry the dotted key path. Errors never
show a variable's value: the message of `${X:?message}` is shown as written, unsubstituted.
Defaults nest at most MAX_NESTING levels deep.

Expansion is bounded: variables that double each other (`A1=${A0}${A0}`, 59 lines of a
1.6 KB `.env`) would grow to 2^59 times the first value. One substituted value may reach
MAX_VALUE_CHARS characters, and all the values substituted in one load MAX_TOTAL_CHARS
(`expansion_budget`); past either, the error names the file and the variable or key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from composewatch.compose.redaction import noting
from composewatch.compose.scalars import GoTime
from composewatch.errors import ComposeFileError

__all__ = [
    "MAX_NESTING",
    "MAX_TOTAL_CHARS",
    "MAX_VALUE_CHARS",
    "InterpolationError",
    "expansion_budget",
    "interpolate_tree",
    "substitute",
]

MAX_NESTING = 32
MAX_VALUE_CHARS = 4 << 20  # one value once substituted: as large as an input file may be
MAX_TOTAL_CHARS = 64 << 20  # every value substituted in one load, together

Lookup = Callable[[str], str | None]

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    """A template is invalid or a required variable is missing. `summary` says which without
    quoting the template or the message: for a template read from an env file, both are
    part of a value."""

    def __init__(self, message: str, summary: str | None = None) -> None:
        super().__init__(message)
        self.summary = summary or message


def _invalid(template: str) -> InterpolationError:
    return InterpolationError(
        f"Invalid template: {template!r}", "invalid interpolation format (check its ${...})"
    )


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing the `${` whose `{` is at `start`, or -1 (nesting-aware)."""
    depth = 0
    i = start
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _braced(expr: str, lookup: Lookup, template: str, depth: int) -> str:
    match = _NAME.match(expr)
    if match is None:
        raise _invalid(template)
    name, rest = match.group(), expr[match.end() :]
    if not rest:
        return lookup(name) or ""
    op = next((o for o in _OPERATORS if rest.startswith(o)), None)
    if op is None:
        raise _invalid(template)
    arg = rest[len(op) :]
    value = lookup(name)
    present = value is not None and (not op.startswith(":") or value != "")
    if op.endswith("-"):
        return value if present and value is not None else substitute(arg, lookup, depth + 1)
    if op.endswith("+"):
        return substitute(arg, lookup, depth + 1) if present else (value or "")
    if not present:
        substitute(arg, lookup, depth + 1)  # a malformed message is an error too
        # the message as written: substituted, it could show another variable's value
        message = f"required variable {name} is missing a value"
        raise InterpolationError(f"{message}: {arg}" if arg else message, message)
    return value or ""


class _Budget:
    """What one load may still substitute, in characters."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL_CHARS

    def spend(self, chars: int) -> None:
        self.left -= chars
        if self.left < 0:
            message = (
                f"substituted variables grow past {MAX_TOTAL_CHARS:,} characters in all "
                "(do variables expand one another over and over?)"
            )
            raise InterpolationError(message)


_BUDGET: ContextVar[_Budget | None] = ContextVar("composewatch_expansion", default=None)


@contextmanager
def expansion_budget() -> Iterator[None]:
    """One budget of MAX_TOTAL_CHARS for every substitution inside the block (the active
    one, when a block is already open: a load shares one across all its files)."""
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _too_long() -> InterpolationError:
    return InterpolationError(
        f"the value grows past {MAX_VALUE_CHARS:,} characters once its variables are "
        "substituted (do variables expand one another over and over?)"
    )


def substitute(template: str, lookup: Lookup, depth: int = 0) -> str:
    """`template` with every variable reference replaced."""
    if depth > MAX_NESTING:
        raise InterpolationError(f"variables nested more than {MAX_NESTING} levels deep")
    if "$" not in template:
        return template
    out: list[str] = []
    size = 0  # of `out`, checked as it grows: a doubling chain stops at the limit
    i = 0
    while i < len(template):
        if size > MAX_VALUE_CHARS:
            raise _too_long()
        char = template[i]
        if char != "$" or i + 1 >= len(template):
            out.append(char)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(template, i + 1)
            if end < 0:
                raise _invalid(template)
            piece = _braced(template[i + 2 : end], lookup, template, depth)
            out.append(piece)
            size += len(piece)
            i = end + 1
        elif (match := _NAME.match(template, i + 1)) is not None:
            piece = lookup(match.group()) or ""
            out.append(piece)
            size += len(piece)
            i = match.end()
        else:
            out.append(char)
            i += 1
    if size > MAX_VALUE_CHARS:
        raise _too_long()
    result = "".join(out)
    budget = _BUDGET.get()
    if depth == 0 and budget is not None:
        budget.spend(len(result))
    return result


def _format_path(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def interpolate_tree(
    value: Any,
    env: Mapping[str, str],
    *,
    file: str | None = None,
    path: tuple[str | int, ...] = (),
    cast: Callable[[tuple[str | int, ...], str], Any] | None = None,
) -> Any:
    """A copy of a YAML tree with every string substituted; `cast` retypes scalars by path."""
    if isinstance(value, dict):
        return {
            k: interpolate_tree(v, env, file=file, path=(*path, k), cast=cast)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            interpolate_tree(v, env, file=file, path=(*path, i), cast=cast)
            for i, v in enumerate(value)
        ]
    if not isinstance(value, str) or isinstance(value, GoTime):  # Go leaves a time.Time as is
        return value
    if "$" not in value:
        return cast(path, value) if cast is not None else value
    key = _format_path(path)
    try:
        result = substitute(value, noting(env.get, key))
    except InterpolationError as exc:
        raise ComposeFileError(
            f"error while interpolating {key}: {exc}", file=file, key=key
        ) from None
    return cast(path, result) if cast is not None else result
