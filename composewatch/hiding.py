"""One redaction for every error message composewatch prints, whichever layer raises it.

A load notes each value read from an env file (`.env`, `--env-file`, `env_file`, an include's
`env_file`) and each environment variable substituted into a compose file
(`compose/redaction.py`). The loader's own errors are scrubbed as they leave it; but a project
is used after it is loaded: its `x-composewatch` settings are parsed, its services built and
run, and an error raised there may quote an interpolated value (`commands[].re: '(${SECRET}'`
quotes the pattern as substituted). So, while a command runs (`session()`, opened by the CLI's
entry point), every value the loads note is also remembered here, and `ComposewatchError`'s
`str()` (what the CLI, the live view and the plain lines print) shows each as `${NAME}`.

Outside a session (library use, most tests) nothing is remembered: the loader's own
redaction still applies to its errors.

Matching is literal and linear: values are filed by their first MIN_CHARS characters, so a
message costs one dictionary probe per character however many values there are (a `.env` of
100,000 variables included); where two values start at one place, the longer wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["MIN_CHARS", "Values", "hide", "remember", "session"]

MIN_CHARS = 4  # shorter values are not hidden (hiding `1` or `yes` would garble every message)


def forms(value: str) -> set[str]:
    """The ways a message may quote `value`: as is, in repr() and in JSON."""
    return {value, repr(value)[1:-1], json.dumps(value)[1:-1]}


class Values:
    """Values to show as `${NAME}`, found literally in a text."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, dict[str, str]] = {}  # first chars -> {value: name}
        self._lengths: dict[
            str, list[int]
        ] = {}  # first chars -> its values' lengths, longest first

    def __bool__(self) -> bool:
        return bool(self._by_prefix)

    def add(self, name: str, value: str) -> None:
        """Hide `value` (in each of its quoted forms) as `${name}`; the first name wins."""
        for form in forms(value):
            if len(form) < MIN_CHARS:
                continue
            prefix = form[:MIN_CHARS]
            bucket = self._by_prefix.setdefault(prefix, {})
            if form in bucket:
                continue
            bucket[form] = name
            lengths = self._lengths.setdefault(prefix, [])
            if len(form) not in lengths:
                lengths.append(len(form))
                lengths.sort(reverse=True)

    def replace(self, text: str) -> str:
        """`text` with each value, leftmost first and longest first, as `${NAME}`."""
        if not self._by_prefix or len(text) < MIN_CHARS:
            return text
        out: list[str] = []
        last = i = 0
        end = len(text) - MIN_CHARS
        while i <= end:
            prefix = text[i : i + MIN_CHARS]
            bucket = self._by_prefix.get(prefix)
            name = None
            if bucket is not None:
                for length in self._lengths[prefix]:
                    name = bucket.get(text[i : i + length])
                    if name is not None:
                        break
            if name is None:
                i += 1
                continue
            out.append(text[last:i])
            out.append("${" + name + "}")
            i = last = i + length
        out.append(text[last:])
        return "".join(out)


_SESSION: Values | None = None


@contextmanager
def session() -> Iterator[Values]:
    """Remember the values loads note inside the block, and hide them in every error."""
    global _SESSION
    previous, _SESSION = _SESSION, Values()
    try:
        yield _SESSION
    finally:
        _SESSION = previous


def remember(name: str, value: str) -> None:
    """Hide `value` as `${name}` in every error for the rest of the session (if one is open)."""
    if _SESSION is not None:
        _SESSION.add(name, value)


def hide(text: str) -> str:
    """`text` with every remembered value as `${NAME}`."""
    return _SESSION.replace(text) if _SESSION else text
