"""`parse_command_line`: a string `command`/`entrypoint` split into words as compose splits it.

Compose (compose-go's `ShellCommand`) uses go-shellwords v1.0.12 with environment and
backtick expansion off, which differs from POSIX `shlex.split`:

* the line ends at the first unquoted shell operator character (`;`, `&`, `|`, `<`, `>`):
  `kong migrations up && kong migrations finish` gives `["kong", "migrations", "up"]`;
  for `>` after a word starting with a digit (`2>file`) that word is dropped too;
* a backslash escapes the next character everywhere but inside single quotes (also inside
  double quotes, where POSIX keeps most backslashes);
* an unquoted `(` is an error unless it follows `$` (a `$(...)` group, kept whole with its
  spaces); backquoted text is kept whole, backquotes included;
* an unterminated quote, group or trailing backslash is an error.
"""

from __future__ import annotations

__all__ = ["CommandLineError", "parse_command_line"]

_SPACES = " \t\r\n"
_OPERATORS = ";&|<>"


class CommandLineError(ValueError):
    """The string cannot be split; the message is go-shellwords'."""


def parse_command_line(line: str) -> list[str]:
    """The words of `line`, up to the first unquoted shell operator."""
    args: list[str] = []
    buf = ""
    has_word = False
    escaped = double = single = backquote = dollar = False
    for char in line:
        if escaped:
            buf += char
            escaped = False
            has_word = True
            continue
        if char == "\\":
            if single:
                buf += char
            else:
                escaped = True
            continue
        quoted = single or double or backquote or dollar
        if char in _SPACES:
            if quoted:
                buf += char
            elif has_word:
                args.append(buf)
                buf = ""
                has_word = False
            continue
        if char == "`" and not (single or double or dollar):
            backquote = not backquote
        elif char == ")" and not (single or double or backquote):
            dollar = not dollar
        elif char == "(" and not (single or double or backquote):
            if dollar or not buf.endswith("$"):
                raise CommandLineError("invalid command line string")
            dollar = True
        elif char == '"' and not (single or dollar):
            if double:
                has_word = True
            double = not double
            continue
        elif char == "'" and not (double or dollar):
            if single:
                has_word = True
            single = not single
            continue
        elif char in _OPERATORS and not quoted:
            if char == ">" and buf and buf[0] in "0123456789":
                has_word = False  # `2>file`: the descriptor is not a word
            break
        has_word = True
        buf += char
    if has_word:
        args.append(buf)
    if escaped or single or double or backquote or dollar:
        raise CommandLineError("invalid command line string")
    return args
