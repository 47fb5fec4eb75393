"""Commands on save, gaze's way: which command a changed file triggers, and how it runs.

A command matches a file by extension (`ext: .py`), by glob on its project-relative path or
name (`glob: "tests/*.py"`), and/or by regular expression searched in that path (`re: ^src/`);
when several keys are given all must hold (as gaze does for `ext` + `re`). For each file the
first matching command runs, as in gaze.

The placeholders are gaze's: `{{file}}` (the path relative to the project directory),
`{{ext}}` (`.py`), `{{base}}` (`a.py`), `{{base0}}`, `{{base1}}`, `{{base2}}` (the name up to
its first, second, third dot: `a`), `{{dir}}` (`src`, or `.`) and `{{abs}}`. Their values
never become shell text: `core.template` turns each placeholder into a reference to a shell
variable, and the values are passed to `sh -c` as parameters (`RenderedCommand.argv`), so
wherever a placeholder stands (bare, in gaze's `"{{file}}"`, in single quotes, glued to other
text, in `$(…)`, backticks, `${X:-…}`, a heredoc or a comment) the shell receives exactly the
characters of the file name, and runs none of them.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import re2

from composewatch.core.template import (
    PLACEHOLDERS,
    PlaceholderError,
    Template,
    compile_template,
    fill,
)

__all__ = [
    "PLACEHOLDERS",
    "CommandRule",
    "PlaceholderError",
    "RenderedCommand",
    "check_template",
    "choose_commands",
    "compile_path_regex",
    "placeholder_values",
    "render",
]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@dataclass(frozen=True)
class CommandRule:
    cmd: str
    ext: str | None = None
    glob: str | None = None
    re: str | None = None
    service: str | None = None  # None: on the host, in the project directory
    source: str = ""  # where the rule was written, for messages: "x-composewatch.commands[0]"
    timeout_s: float = 300.0
    # Compiled once, with the rule: thousands of rules cost one compile each, not one per save.
    template: Template = field(init=False, repr=False, compare=False)
    regex: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", _template(self.cmd))
        object.__setattr__(self, "regex", compile_path_regex(self.re) if self.re else None)

    @property
    def pattern(self) -> str:
        """How the rule matches, as written (the heading its output is shown under)."""
        parts = [
            f"ext {self.ext}" if self.ext else "",
            f"glob {self.glob}" if self.glob else "",
            f"re {self.re}" if self.re else "",
        ]
        return " + ".join(p for p in parts if p) or "(no pattern)"

    def matches(self, relative: str) -> bool:
        if not (self.ext or self.glob or self.re):
            return False
        path = PurePosixPath(relative)
        if self.ext and path.suffix != self.ext:
            return False
        if self.glob and not (
            fnmatch.fnmatchcase(relative, self.glob) or fnmatch.fnmatchcase(path.name, self.glob)
        ):
            return False
        if self.regex is None:
            return True
        if not _is_utf8(relative):  # as Go's regexp reads a string: a bad byte is U+FFFD
            relative = os.fsencode(relative).decode("utf-8", "replace")
        return self.regex.search(relative) is not None


# The settings validators compile each pattern and template, then the rule does: the cache
# makes the second a lookup. Matching never goes through it (each rule holds its own).
_COMPILED = 1 << 15


@functools.lru_cache(maxsize=_COMPILED)
def compile_path_regex(pattern: str) -> Any:
    """A rule's `re`, compiled with RE2: gaze's own syntax (Go's regexp is RE2), and linear
    time, so no pattern can make every save backtrack. ValueError when invalid."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as err:
        raise ValueError(f"{pattern!r} is not a regular expression: {err}") from None


@functools.lru_cache(maxsize=_COMPILED)
def _template(cmd: str) -> Template:
    return compile_template(cmd)


def check_template(cmd: str) -> None:
    """PlaceholderError for a `{{name}}` gaze does not know, or one where no shell can
    receive a file name (inside `$((…))`, in a heredoc with a quoted delimiter)."""
    _template(cmd)


def placeholder_values(relative: str, absolute: str) -> dict[str, str]:
    """gaze's values for a file (pkg/gazer/template.go): `base0`..`base2` are the name up to
    its first, second and third dot, as gaze splits it."""
    path = PurePosixPath(relative)
    parts = path.name.split(".")
    return {
        "file": relative,
        "ext": path.suffix,
        "base": path.name,
        "base0": parts[0],
        "base1": ".".join(parts[:2]),
        "base2": ".".join(parts[:3]),
        "dir": str(path.parent),
        "abs": absolute,
    }


@dataclass(frozen=True)
class RenderedCommand:
    """A command ready to run: `script` refers to the values, `values` are passed beside it.

    `shown` is for people only (messages, `explain`): the template with the values written in,
    as gaze prints it, bytes that are not UTF-8 shown as `\\xNN`. It is never run."""

    script: str
    values: tuple[str, ...]
    shown: str

    def argv(self, *, utf8_only: bool = False) -> list[str]:
        """`sh -c SCRIPT sh VALUE…`. `utf8_only`: for the engine's API, whose JSON carries only
        UTF-8 text; a value with other bytes is passed as octal escapes that the script turns
        back into the exact bytes with `printf`."""
        if not utf8_only or all(_is_utf8(v) for v in self.values):
            return ["sh", "-c", self.script, "sh", *self.values]
        decode = []
        values = []
        for index, value in enumerate(self.values, start=1):
            if _is_utf8(value):
                values.append(value)
                continue
            # Only backslashes and digits: printf reads no directive from it. The `x` keeps
            # the trailing newlines $(…) would strip.
            values.append("".join(f"\\{byte:03o}" for byte in os.fsencode(value)))
            decode.append(f'set -- "$@" "$(printf "${{{index}}}x")"; ')
        if not decode:
            return ["sh", "-c", self.script, "sh", *values]
        # Decoded values are appended, then moved to the front, in order.
        restore = _restore_positions(self.values)
        return ["sh", "-c", "".join(decode) + restore + self.script, "sh", *values]


def _restore_positions(values: tuple[str, ...]) -> str:
    """Shell text putting the decoded values (appended after the originals, each with an `x`
    at its end) back in their places, so `$1`… hold exactly the original values."""
    count = len(values)
    appended = count
    words = []
    for index, value in enumerate(values, start=1):
        if _is_utf8(value):
            words.append(f'"${{{index}}}"')
        else:
            appended += 1
            words.append(f'"${{{appended}%x}}"')
    return f"set -- {' '.join(words)}; "


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate-escaped byte (os.fsdecode) that is not UTF-8
        return False
    return True


def _shown(value: str) -> str:
    return os.fsencode(value).decode("utf-8", "backslashreplace")


def render(cmd: str | Template, values: dict[str, str]) -> RenderedCommand:
    """The command for a file: the compiled template, the values it refers to, and the text
    shown for it. PlaceholderError for a placeholder gaze does not know."""
    template = compile_template(cmd) if isinstance(cmd, str) else cmd
    shown = fill(template.source, {name: _shown(value) for name, value in values.items()})
    return RenderedCommand(template.script, tuple(values[n] for n in template.names), shown)


def choose_commands(
    rules: Sequence[CommandRule], files: Iterable[tuple[str, str]]
) -> list[tuple[CommandRule, str, RenderedCommand]]:
    """For each (relative, absolute) file, the first rule that matches it, with its command:
    [(rule, relative path, command)]. The same command runs once per batch."""
    chosen: list[tuple[CommandRule, str, RenderedCommand]] = []
    seen: set[tuple[str | None, str, tuple[str, ...]]] = set()
    for relative, absolute in files:
        for rule in rules:
            if rule.matches(relative):
                command = render(rule.template, placeholder_values(relative, absolute))
                key = (rule.service, command.script, command.values)
                if key not in seen:
                    seen.add(key)
                    chosen.append((rule, relative, command))
                break
    return chosen
