r"""One `.dockerignore` pattern as moby's `patternmatcher` reads it: whether Go's
`filepath.Match` accepts its syntax (`valid_glob`), the match kind and regular expression
moby's `Pattern.compile` builds from it (`translate`), and whether Go's regexp parser refuses
that expression where RE2 takes it (`go_refuses`: `\C`). Pure string functions; the rules,
the reading of files and the matching are `core/ignore.py`'s. Also Go's `filepath.Match` on
one path component (`match_component`), as a Dockerfile's COPY sources are matched.
"""

from __future__ import annotations

import functools
import re
from enum import Enum
from typing import Any

import re2

__all__ = ["Kind", "go_refuses", "has_magic", "match_component", "translate", "valid_glob"]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False

_BOM = "\ufeff"
# moby's escape bitmap: `|`, `{` and `}` are in its list too, but their bit does not fit in
# a byte, so moby leaves them unescaped (regular-expression syntax); so does this.
_ESCAPE = set(".+()$")


class Kind(Enum):
    EXACT = "exact"
    PREFIX = "prefix"  # "foo**": any path starting with "foo"
    SUFFIX = "suffix"  # "**foo": any path ending with "foo"
    REGEXP = "regexp"


def go_refuses(regexp: str) -> bool:
    """Whether Go's regexp parser refuses what RE2 accepts: `\\C` (any byte), outside a class
    and outside `\\Q...\\E` (inside a class RE2 refuses it too)."""
    i, n = 0, len(regexp)
    while i < n:
        if regexp.startswith("\\Q", i):
            end = regexp.find("\\E", i + 2)
            if end < 0:
                return False
            i = end + 2
        elif regexp.startswith("\\C", i):
            return True
        elif regexp[i] == "\\":
            i += 2
        elif regexp[i] == "[":
            i = _class_end(regexp, i)
        else:
            i += 1
    return False


def _class_end(regexp: str, i: int) -> int:
    """The index after the class opened at `i`, as Go's parseClass reads it: `]` first is a
    member, `[:name:]` is one item, `\\` escapes."""
    n = len(regexp)
    i += 2 if regexp.startswith("[^", i) else 1
    first = True
    while i < n and (regexp[i] != "]" or first):
        first = False
        if regexp.startswith("[:", i) and (end := regexp.find(":]", i + 2)) >= 0:
            i = end + 2
        else:
            i += 2 if regexp[i] == "\\" else 1
    return i + 1


def translate(pattern: str) -> tuple[Kind, str]:
    """moby's Pattern.compile: the match kind and, for REGEXP, the regular expression."""
    out = ["^"]
    kind = Kind.EXACT
    # Go's text/scanner, which moby walks the pattern with, skips a leading byte-order mark:
    # on a line after the first (where ReadAll keeps it) it drops out of the regexp alone.
    i, n, index = (1 if pattern.startswith(_BOM) else 0), len(pattern), 0
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # "**/" is "**"
                    i += 1
                if i >= n:  # "**" at the end matches everything below
                    if kind is Kind.EXACT:
                        kind = Kind.PREFIX
                    else:
                        out.append(".*")
                        kind = Kind.REGEXP
                else:
                    out.append("(.*/)?")
                    kind = Kind.REGEXP
                if index == 0:
                    kind = Kind.SUFFIX
            else:
                out.append("[^/]*")
                kind = Kind.REGEXP
        elif ch == "?":
            out.append("[^/]")
            kind = Kind.REGEXP
        elif ch in _ESCAPE:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
                kind = Kind.REGEXP
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = Kind.REGEXP
        else:
            out.append(ch)
        index += 1
    out.append("$")
    return kind, "".join(out)


def valid_glob(pattern: str) -> bool:
    """Go's filepath.Match syntax check: escapes complete, character classes well formed."""
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                return False
            i += 2
        elif ch == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pattern[i] == "]" and ranges > 0:
                    i += 1
                    break
                i = _class_char(pattern, i)
                if i < 0:
                    return False
                if i < n and pattern[i] == "-":
                    i = _class_char(pattern, i + 1)
                    if i < 0:
                        return False
                ranges += 1
        else:
            i += 1
    return True


def _class_char(pattern: str, i: int) -> int:
    """Index after one (possibly escaped) character of a class, or -1 (Go's getEsc)."""
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        return -1
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            return -1
    i += 1
    return i if i < n else -1


# Go's filepath.Match, one path component ───────────────────────────────────────────────


def has_magic(pattern: str) -> bool:
    return any(char in pattern for char in "*?[\\")


def match_component(pattern: str, name: str) -> bool:
    """Go's `filepath.Match` on one path component."""
    if not has_magic(pattern):
        return pattern == name
    compiled = _compiled(pattern)
    return compiled is not None and compiled.fullmatch(name) is not None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    """The RE2 expression for a glob (linear time, as in `core.ignore`); None if invalid."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            if i + 1 == len(pattern):
                return None
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = _glob_class_end(pattern, i)
            if end < 0:
                return None
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            escaped = "".join("\\" + c if c in "\\]^[" else c for c in body.replace("\\", ""))
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    try:
        return re2.compile("".join(out), _RE2_OPTIONS)
    except re2.error:
        return None


def _glob_class_end(pattern: str, start: int) -> int:
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    first = i
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]" and i > first:
            return i
        i += 1
    return -1
