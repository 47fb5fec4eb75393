"""Commands on save, gaze's way: which command a changed file triggers, and its shell text.

A command matches a file by extension (`ext: .py`), by glob on its project-relative path or
name (`glob: "tests/*.py"`), and/or by regular expression searched in that path (`re: ^src/`);
when several keys are given all must hold (as gaze does for `ext` + `re`). For each file the
first matching command runs, as in gaze.

The placeholders are gaze's: `{{file}}` (the path relative to the project directory),
`{{ext}}` (`.py`), `{{base}}` (`a.py`), `{{base0}}` (`a`), `{{dir}}` (`src`, or `.`) and
`{{abs}}`. They are substituted shell-safely: wherever a placeholder stands (bare, inside
gaze's double quotes `"{{file}}"`, inside single quotes, or glued to other text as in
`-o"{{base0}}.out"`), the value arrives as exactly the characters of the file name, one word,
and no character of it is interpreted by the shell. `render` tracks the shell's quoting state
to do that: outside quotes the value is single-quoted; inside double or single quotes the
quote is closed, the single-quoted value inserted, and the quote reopened.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import re2

__all__ = [
    "PLACEHOLDERS",
    "CommandRule",
    "PlaceholderError",
    "choose_commands",
    "placeholder_values",
    "render",
]

PLACEHOLDERS = ("file", "ext", "base", "base0", "dir", "abs")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_PLACEHOLDER = re.compile(r"\{\{\{?\s*([A-Za-z0-9_]+)\s*\}?\}\}")


class PlaceholderError(ValueError):
    pass


@dataclass(frozen=True)
class CommandRule:
    cmd: str
    ext: str | None = None
    glob: str | None = None
    re: str | None = None
    service: str | None = None  # None: on the host, in the project directory
    source: str = ""  # where the rule was written, for messages: "x-composewatch.commands[0]"
    timeout_s: float = 300.0

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
        return not (self.re and compile_path_regex(self.re).search(relative) is None)


@functools.lru_cache(maxsize=128)
def compile_path_regex(pattern: str) -> Any:
    """A rule's `re`, compiled once with RE2: gaze's own syntax (Go's regexp is RE2), and
    linear time, so no pattern can make every save backtrack. ValueError when invalid."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as err:
        raise ValueError(f"{pattern!r} is not a regular expression: {err}") from None


def check_template(cmd: str) -> None:
    """PlaceholderError for a `{{name}}` gaze does not know."""
    for match in _PLACEHOLDER.finditer(cmd):
        if match.group(1) not in PLACEHOLDERS:
            raise PlaceholderError(
                f"unknown placeholder {{{{{match.group(1)}}}}} "
                f"(known: {', '.join('{{' + p + '}}' for p in PLACEHOLDERS)})"
            )


def placeholder_values(relative: str, absolute: str) -> dict[str, str]:
    path = PurePosixPath(relative)
    return {
        "file": relative,
        "ext": path.suffix,
        "base": path.name,
        "base0": path.name[: -len(path.suffix)] if path.suffix else path.name,
        "dir": str(path.parent),
        "abs": absolute,
    }


def render(cmd: str, values: dict[str, str]) -> str:
    """The command's shell text with every placeholder replaced by a quoted value."""
    out: list[str] = []
    state = ""  # "", "'" or '"': the quote the shell is inside at this point
    i = 0
    while i < len(cmd):
        match = _PLACEHOLDER.match(cmd, i) if cmd.startswith("{{", i) else None
        if match is not None:
            name = match.group(1)
            if name not in values:
                raise PlaceholderError(f"unknown placeholder {{{{{name}}}}}")
            quoted = shlex.quote(values[name])
            i = match.end()
            if state and out and out[-1] == state and cmd[i : i + 1] == state:
                # gaze's "{{file}}": the whole quoted word is the value, quoted our way.
                out[-1] = quoted
                state = ""
                i += 1
                continue
            # Close the current quote, add the single-quoted value, reopen the same quote.
            out.append(f"{state}{quoted}{state}")
            continue
        char = cmd[i]
        if state == "'":
            if char == "'":
                state = ""
        elif char == "\\" and i + 1 < len(cmd):
            out.append(cmd[i : i + 2])
            i += 2
            continue
        elif state == '"':
            if char == '"':
                state = ""
        elif char in "'\"":
            state = char
        out.append(char)
        i += 1
    return "".join(out)


def choose_commands(
    rules: Sequence[CommandRule], files: Iterable[tuple[str, str]]
) -> list[tuple[CommandRule, str, str]]:
    """For each (relative, absolute) file, the first rule that matches it, with its rendered
    shell text: [(rule, relative path, shell text)]. The same text runs once per batch."""
    chosen: list[tuple[CommandRule, str, str]] = []
    seen: set[tuple[str | None, str]] = set()
    for relative, absolute in files:
        for rule in rules:
            if rule.matches(relative):
                text = render(rule.cmd, placeholder_values(relative, absolute))
                if (rule.service, text) not in seen:
                    seen.add((rule.service, text))
                    chosen.append((rule, relative, text))
                break
    return chosen
