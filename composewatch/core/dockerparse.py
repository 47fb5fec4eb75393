"""Dockerfile instructions as BuildKit's parser reads them, and its word expansion.

`parse_instructions` follows moby/buildkit's `frontend/dockerfile/parser`: parser directives
(`# escape=`) only before the first comment, blank line or instruction; an escape character
at the end of a line (trailing blanks allowed) continues it, the next line joined as written;
comment and blank lines inside a continuation are dropped; keywords are case-insensitive;
heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`) of RUN, COPY and ADD take the lines up to their end
word. `expand` is the Dockerfile's own `$VAR` / `${VAR}` / `${VAR:-word}` / `${VAR:+word}`
substitution with quote removal, as BuildKit applies it to COPY, ADD, WORKDIR, ENV, ARG and
FROM; a variable it does not know raises `Unresolved` (BuildKit would make it empty, but a
guess must not decide where a file goes).

Pure: text in, instructions out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Instruction", "Unresolved", "expand", "parse_instructions", "split_words"]

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")
# BuildKit's test on each (quote-aware) word of a RUN/COPY/ADD line: `<<EOF`, `<<-EOF`,
# `<<"EOF"`, `2<<EOF`; `cat<<EOF` or `"a<<b"` are not heredocs.
_HEREDOC = re.compile(r"^\d*<<(-?)([\"']?)([^<\"']+)\2$")
_HEREDOC_KEYWORDS = {"RUN", "COPY", "ADD"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Unresolved(ValueError):
    """A variable the Dockerfile's scope does not define (or a form it does not support)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: "COPY"
    line: int  # 1-based line of the keyword
    flags: tuple[tuple[str, str | None], ...]  # ("from", "build"), ("link", None)
    args: tuple[str, ...]  # the words after the flags (JSON array or whitespace-split)
    rest: str  # everything after the keyword, continuations joined (for ENV, ARG)
    heredocs: tuple[str, ...] = ()  # the heredoc names, in order
    escape: str = "\\"
    unterminated: bool = False  # a heredoc ran to the end of the file (BuildKit fails)

    @property
    def text(self) -> str:
        """The instruction on one line, as shown in reasons (long ones shortened)."""
        shown = " ".join(f"{self.keyword} {self.rest}".split())
        return shown if len(shown) <= 60 else shown[:57] + "..."

    def flag(self, name: str) -> str | None:
        return next((value or "" for key, value in self.flags if key == name), None)

    def all_flags(self, name: str) -> list[str]:
        return [value or "" for key, value in self.flags if key == name]


def parse_instructions(text: str) -> list[Instruction]:
    lines = text.removeprefix("\ufeff").splitlines()
    escape, i = "\\", 0
    while i < len(lines):  # parser directives: only at the very top
        match = _DIRECTIVE.match(lines[i].strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
        i += 1
    result: list[Instruction] = []
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i + 1
        logical, i = _join(lines, i, escape)
        keyword, _, rest = logical.strip().partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        names: list[str] = []
        unterminated = False
        if keyword in _HEREDOC_KEYWORDS:
            for match in filter(None, map(_HEREDOC.match, split_words(rest, escape))):
                names.append(match.group(3))
                i, found = _skip_heredoc(lines, i, match.group(3), strip_tabs=bool(match.group(1)))
                unterminated = unterminated or not found
        flags, words = _flags_and_words(rest)
        result.append(
            Instruction(keyword, start, flags, words, rest, tuple(names), escape, unterminated)
        )
    return result


def _join(lines: list[str], i: int, escape: str) -> tuple[str, int]:
    """One logical line from `lines[i]` on, and the index after it."""
    parts: list[str] = []
    first = True
    while i < len(lines):
        line = lines[i]
        i += 1
        if not first and (not line.strip() or line.lstrip().startswith("#")):
            continue
        first = False
        body = line.rstrip(" \t")
        if body.endswith(escape):
            parts.append(body[: -len(escape)])
            continue
        parts.append(body)
        break
    return "".join(parts), i


def _skip_heredoc(lines: list[str], i: int, name: str, *, strip_tabs: bool) -> tuple[int, bool]:
    """The index after the heredoc that starts at `lines[i]`, and whether its end was found."""
    while i < len(lines):
        line = lines[i].lstrip("\t") if strip_tabs else lines[i]
        i += 1
        if line == name:
            return i, True
    return i, False


def _flags_and_words(rest: str) -> tuple[tuple[tuple[str, str | None], ...], tuple[str, ...]]:
    flags: list[tuple[str, str | None]] = []
    remaining = rest
    while remaining.startswith("--"):
        token, _, remaining = remaining.partition(" ")
        remaining = remaining.lstrip()
        name, eq, value = token[2:].partition("=")
        flags.append((name.lower(), value if eq else None))
    if remaining.startswith("["):
        try:
            loaded = json.loads(remaining)
        except ValueError:
            loaded = None
        if isinstance(loaded, list) and all(isinstance(word, str) for word in loaded):
            return tuple(flags), tuple(loaded)
    return tuple(flags), tuple(remaining.split())


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Whitespace-separated words, quotes kept together (ENV and ARG `name=value` lists)."""
    words: list[str] = []
    current, quote, i = "", "", 0
    while i < len(text):
        char = text[i]
        if char == escape and quote != "'" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char.isspace():
            if current:
                words.append(current)
            current = ""
            i += 1
            continue
        current += char
        i += 1
    if current:
        words.append(current)
    return words


def expand(word: str, scope: Mapping[str, str], escape: str = "\\") -> str:
    """`word` with its variables substituted from `scope` and its quotes removed."""
    out: list[str] = []
    quote, i = "", 0
    while i < len(word):
        char = word[i]
        if char == escape and quote != "'" and i + 1 < len(word):
            out.append(word[i + 1])
            i += 2
        elif char == "'" and quote != '"':
            quote = "" if quote else "'"
            i += 1
        elif char == '"' and quote != "'":
            quote = "" if quote else '"'
            i += 1
        elif char == "$" and quote != "'":
            value, i = _variable(word, i + 1, scope, escape)
            out.append(value)
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _variable(word: str, i: int, scope: Mapping[str, str], escape: str) -> tuple[str, int]:
    """The value of the variable that starts at `word[i]` (after the `$`), and the index after."""
    if i < len(word) and word[i] == "{":
        close = _closing_brace(word, i)
        inner = word[i + 1 : close]
        name_match = _NAME.match(inner)
        if not name_match:
            raise Unresolved(inner)
        name, modifier = name_match.group(), inner[name_match.end() :]
        value = scope.get(name)
        if modifier.startswith(":-"):
            return (value if value else expand(modifier[2:], scope, escape)), close + 1
        if modifier.startswith(":+"):
            return (expand(modifier[2:], scope, escape) if value else ""), close + 1
        if modifier or value is None:
            raise Unresolved(name)
        return value, close + 1
    name_match = _NAME.match(word, i)
    if not name_match:
        return "$", i
    value = scope.get(name_match.group())
    if value is None:
        raise Unresolved(name_match.group())
    return value, name_match.end()


def _closing_brace(word: str, i: int) -> int:
    depth = 0
    for index in range(i, len(word)):
        if word[index] == "{":
            depth += 1
        elif word[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise Unresolved(word[i:])
