"""The exception tree, with exit codes.

    ComposewatchError            exit 1: something failed at run time
    ├── EngineError              the Docker engine failed an operation
    │   └── BuildError           an image build failed (step and log tail attached)
    └── InputError               exit 2: the user's input is wrong; nothing was touched
        ├── ComposeFileError     a compose file is unreadable or invalid (file, key path, line)
        ├── ConfigError          x-composewatch settings are invalid
        ├── BuildContextError    a build context or Dockerfile is missing
        ├── EngineUnavailable    no Docker engine answers
        └── EngineContextError   DOCKER_CONTEXT / `docker context use` names no context

Every message is one paragraph a user can act on: it names the file and the key. Messages
quote file names, keys and values from outside, so `str()` of any of these errors shows
control characters (terminal escape sequences, bidi overrides) as `\x1b`-style escapes, and,
while a command runs, no value of a variable (`composewatch/hiding.py`): each is `${NAME}`.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from composewatch.hiding import hide

__all__ = [
    "BuildContextError",
    "BuildError",
    "ComposeFileError",
    "ComposewatchError",
    "ConfigError",
    "EngineContextError",
    "EngineError",
    "EngineUnavailable",
    "InputError",
    "printable",
]


_CONTROL = frozenset({"Cc", "Cf", "Zl", "Zp"})


def printable(text: str) -> str:
    """`text` with control and format characters (but newlines and tabs) escaped."""
    if text.isprintable():
        return text
    return "".join(
        c if c in "\n\t" or unicodedata.category(c) not in _CONTROL else repr(c)[1:-1] for c in text
    )


class ComposewatchError(Exception):
    exit_code = 1

    def __str__(self) -> str:
        # no variable's value, whichever layer raised it (composewatch/hiding.py)
        return printable(hide(super().__str__()))


class EngineError(ComposewatchError):
    pass


class BuildError(EngineError):
    def __init__(self, service: str, step: str, log_tail: list[str]) -> None:
        self.service = service
        self.step = step
        self.log_tail = log_tail
        tail = "".join(f"\n    {line}" for line in log_tail)
        super().__init__(f"build of service {service!r} failed at {step}{tail}")


class InputError(ComposewatchError):
    exit_code = 2


class ComposeFileError(InputError):
    """A compose file is invalid.

    `file` is the file at fault (None when the error concerns the merged project),
    `key` the dotted key path (`services.web.ports[0]`), `line`/`column` 1-based when known.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: Path | str | None = None,
        key: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.reason = reason
        self.file = str(file) if file is not None else None
        self.key = key
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "compose project"
        if self.line is not None:
            where += f", line {self.line}" + (f", column {self.column}" if self.column else "")
        if self.key:
            where += f", key {self.key}"
        return f"{where}: {self.reason}"


class ConfigError(InputError):
    pass


class BuildContextError(InputError):
    pass


class EngineUnavailable(InputError):
    pass


class EngineContextError(InputError):
    pass
