"""Plain lines for a pipe, without rich: the watcher's output when it is not a terminal.

`ConsoleUI` speaks rich markup (`[bold]web[/bold] built in 0.41 s`, outside text escaped).
On a terminal rich draws it; in a pipe or a log file rich would only strip the tags, and
loading it for that costs the idle watcher ~1.8 MiB of resident memory (45 modules) for its
whole life (issue 15, point 8). `PlainConsole` strips the tags the way rich's markup parser
reads them, so both print the same characters; `escape_markup` is rich's `escape`, so the
markup is written alike for both.

One difference, on purpose: rich turns `:smile:`-style codes into emoji; here a file named
`:smile:.py` prints as what it is.
"""

from __future__ import annotations

import os
import re
import sys
from typing import IO, Any

__all__ = ["PlainConsole", "escape_markup", "is_plain_pipe", "plain_text"]

#: rich.markup's tag: backslashes, then `[` and a name starting with a letter, `#`, `/` or `@`.
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def escape_markup(text: str) -> str:
    """rich.markup.escape: a `[` that would open a tag gets a backslash (and the backslashes
    before it are doubled); a lone trailing backslash is doubled."""
    escaped = _ESCAPE.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        return escaped + "\\"
    return escaped


def plain_text(markup: str) -> str:
    """The characters rich prints for `markup` when it draws no styles."""
    parts: list[str] = []
    position = 0
    for match in _TAG.finditer(markup):
        whole, escapes, _ = match.groups()
        start, end = match.span()
        parts.append(markup[position:start])
        position = end
        backslashes, escaped = divmod(len(escapes), 2)
        parts.append("\\" * backslashes)
        if escaped:  # `\[bold]`: the tag's text itself
            parts.append(whole[len(escapes) :])
    parts.append(markup[position:])
    return "".join(parts)


def is_plain_pipe(stream: IO[str] | None = None) -> bool:
    """True when rich would not treat `stream` (stdout by default) as a terminal: not a tty,
    and none of the variables that make rich draw anyway set."""
    if any(os.environ.get(name) for name in ("FORCE_COLOR", "TTY_COMPATIBLE")):
        return False
    isatty = getattr(stream if stream is not None else sys.stdout, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:  # a closed stream
        return True


class PlainConsole:
    """The part of rich's Console that `ConsoleUI` and `LogPrinter` use, for a pipe."""

    is_terminal = False

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream

    @property
    def file(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stdout

    def print(self, markup: str, **_: Any) -> None:
        """One line of rich markup, tags stripped."""
        self.line(plain_text(markup))

    def line(self, text: str) -> None:
        """One line of text as it is (tabs expanded, as rich does)."""
        file = self.file
        file.write(text.expandtabs(8) + "\n")
        file.flush()
