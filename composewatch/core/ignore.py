r"""`.dockerignore` rules, read and matched exactly as moby reads and matches them.

The reference is moby's `patternmatcher` (and its `ignorefile.ReadAll`), which the docker CLI
uses to choose what goes into a build context: lines are read by Go's `bufio.Scanner` (a line
of 64 KiB or more fails the whole file: "token too long"); a UTF-8 byte-order mark is stripped
from the first line only (on a later line it is part of the pattern); a line *starting* with
`#` is a comment (before any trimming); whitespace is trimmed as Go's `strings.TrimSpace` trims
it (Unicode spaces too: NBSP, U+3000, NEL...); `!` starts an exception; patterns are cleaned
like Go's `filepath.Clean` and a leading `/` dropped (so `!/` is the illegal exclusion `!`).
Rules apply in order and the last one that matches decides; a rule that matches a parent
directory matches everything inside it (`**/dir` excludes what is inside).

Errors are moby's, worded as moby words them: "syntax error in pattern" for a pattern Go's
`filepath.Match` rejects *or* whose regular expression Go's `regexp` rejects (`[b-a]`, `\y`,
`\8`, `\pX`, `[[:foo:]]`, `\C`), `illegal exclusion pattern: "!"`, and
`bufio.Scanner: token too long`.

Why not docker-py's matcher: it differs from moby on parents and exceptions, and its `**`
translation backtracks (12 `**/` segments against a deep path took 8.5 s). Each pattern here
is compiled once into the very regular expression moby builds, and matched with RE2, the
engine Go's `regexp` is modelled on: linear in the length of the path and of the pattern.
RE2 and Go's parser agree on that regular expression but for `\C` (any byte: RE2 takes it,
Go refuses it), checked in `core/globs.py`. RE2 compiles a Unicode class (`\pL`) into UTF-8
automata, slowly (a 64 KiB line of them takes seconds where Go takes none), so a file's
patterns are bounded: MAX_UNICODE_CLASSES per pattern, MAX_REGEXP_CHARS of regular expression
per file.

Pure: text in, decisions out; reading the files is `composewatch.context`'s job.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import re2

from composewatch.core.globs import Kind, go_refuses, translate, valid_glob

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_REGEXP_CHARS",
    "MAX_UNICODE_CLASSES",
    "SYNTAX_ERROR",
    "TOO_LONG",
    "IgnoreRule",
    "IgnoreRules",
    "IgnoreSyntaxError",
    "MatchInfo",
    "parse_ignore",
]

MAX_LINE_BYTES = 65_535  # bufio.Scanner's 64 KiB buffer holds the line and its "\n"
MAX_UNICODE_CLASSES = 256  # `\p`/`\P` in one pattern (RE2 compiles 256 in about 0.15 s)
MAX_REGEXP_CHARS = 500_000  # regular expression text per file (about 1 s of RE2 compiling)

_BOM = "\ufeff"
# Go's unicode.IsSpace, which strings.TrimSpace trims (Python's str.strip() trims more).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 64 << 20  # Go has no such limit: 65,535 `?` need about 40 MiB

SYNTAX_ERROR = "syntax error in pattern"  # Go's filepath.ErrBadPattern
TOO_LONG = "bufio.Scanner: token too long"  # Go's bufio.ErrTooLong


class IgnoreSyntaxError(ValueError):
    """A line moby refuses (or, for the few limits of its own, composewatch refuses): `reason`
    is moby's wording, `pattern` the pattern as read ("" when the line itself is at fault)."""

    def __init__(self, source: str, line: int, pattern: str, reason: str = SYNTAX_ERROR) -> None:
        self.source, self.line, self.pattern, self.reason = source, line, pattern, reason
        super().__init__(f"{source}:{line}: {self.describe()}")

    def describe(self) -> str:
        """The reason, with the pattern quoted (shortened) when there is one."""
        if not self.pattern:
            return self.reason
        shown = self.pattern if len(self.pattern) <= 80 else self.pattern[:60] + "…"
        return f"{self.reason} {shown!r}"

    @property
    def moby_refuses(self) -> bool:
        """Whether docker build refuses the file too (not one of composewatch's own limits)."""
        return self.reason.startswith((SYNTAX_ERROR, TOO_LONG, "illegal exclusion"))


@dataclass(frozen=True)
class IgnoreRule:
    """One pattern of an ignore file, compiled; `source:line` says where it was written."""

    pattern: str  # cleaned, without the leading "!"
    exclusion: bool  # a "!" rule: matching files are sent after all
    source: str
    line: int
    _kind: Kind = field(repr=False, compare=False)
    _regexp: Any = field(repr=False, compare=False)  # a compiled RE2 pattern, or None

    def matches(self, path: str) -> bool:
        """Whether `path` (slash-separated, relative to the context) matches this pattern."""
        if self._kind is Kind.EXACT:
            return path == self.pattern
        if self._kind is Kind.PREFIX:
            return path.startswith(self.pattern[:-2])
        if self._kind is Kind.SUFFIX:
            suffix = self._suffix
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self._regexp is not None
        return self._regexp.search(path) is not None

    @property
    def _suffix(self) -> str:
        # moby strips the leading "**" by bytes: after a byte-order mark (3 bytes) what is
        # left starts with the mark's last byte, as a file name's undecodable byte reads here
        raw = self.pattern.encode("utf-8", "surrogateescape")[2:]
        return raw.decode("utf-8", "surrogateescape")

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {'!' if self.exclusion else ''}{self.pattern}"


# Per rule, whether the rule matched the parent directory (moby's MatchInfo): a walk passes
# a directory's result to its children, so each path costs one match per rule.
MatchInfo = tuple[bool, ...]


@dataclass(frozen=True)
class IgnoreRules:
    """The ordered rules of one ignore file (empty when there is none)."""

    rules: tuple[IgnoreRule, ...] = ()
    source: str | None = None  # the file they were read from

    @property
    def has_exceptions(self) -> bool:
        return any(rule.exclusion for rule in self.rules)

    def excluded(self, path: str) -> bool:
        """moby's MatchesOrParentMatches: excluded by a rule matching it or a parent dir."""
        return self.deciding_rule(path) is not None

    def deciding_rule(self, path: str) -> IgnoreRule | None:
        """The rule that excludes `path`, or None when it is sent (for `explain`)."""
        path = go_clean(path)
        if path == ".":
            return None
        parents = _parents(path)
        decided: IgnoreRule | None = None
        for rule in self.rules:
            if rule.exclusion != (decided is not None):
                continue
            if rule.matches(path) or any(rule.matches(p) for p in parents):
                decided = None if rule.exclusion else rule
        return decided

    def match(self, path: str, parent: MatchInfo | None) -> tuple[bool, MatchInfo]:
        """moby's MatchesUsingParentResults, for walks: whether `path` is excluded, and the
        per-rule results its children need. `parent` is the parent directory's MatchInfo
        (None at the top of the walk, where parents are matched the slow way)."""
        matched = False
        info: list[bool] = []
        parents = _parents(path) if parent is None else ()
        for i, rule in enumerate(self.rules):
            hit = parent[i] if parent is not None else False
            if not hit:
                if rule.exclusion != matched:
                    info.append(False)
                    continue
                hit = rule.matches(path) or any(rule.matches(p) for p in parents)
            info.append(hit)
            if hit:
                matched = not rule.exclusion
        return matched, tuple(info)

    def may_reinclude_under(self, directory: str) -> bool:
        """Whether an exception could re-include something inside an excluded `directory`
        (moby's test: an exception pattern that starts with the directory's path)."""
        prefix = directory + "/"
        return any(
            rule.exclusion and (rule.pattern + "/").startswith(prefix) for rule in self.rules
        )

    def with_exceptions(self, *paths: str) -> IgnoreRules:
        """These rules plus `!path` for each path they exclude: the docker CLI always sends
        the Dockerfile and the ignore file, whatever the rules say."""
        extra: list[IgnoreRule] = []
        for path in paths:
            parsed = _new("!" + path, "(always sent)", 0) if self.excluded(path) else None
            if parsed is not None:  # IgnoreSyntaxError for a name moby refuses too
                extra.append(_compile(*parsed, "(always sent)", 0))
        return IgnoreRules(self.rules + tuple(extra), self.source) if extra else self


def parse_ignore(data: bytes | str, source: str) -> IgnoreRules:
    """Parse an ignore file's content (`source` names it in errors and `explain`).

    Invalid UTF-8 is read with replacement characters, as Go reads bytes into strings, so a
    stray byte changes only the pattern it is in. Raises IgnoreSyntaxError for a line moby
    refuses, checked in moby's order: the scanner first (line length), then each pattern's
    `filepath.Match` syntax, then each regular expression."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    _check_line_lengths(raw, source)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    parsed: list[tuple[str, bool, int]] = []
    for number, pattern in _read_all(text):
        rule = _new(pattern, source, number)
        if rule is not None:
            parsed.append((*rule, number))
    budget = _Budget(source)
    rules = tuple(_compile(p, exclusion, source, n, budget) for p, exclusion, n in parsed)
    return IgnoreRules(rules, source)


def _check_line_lengths(raw: bytes, source: str) -> None:
    """bufio.Scanner's limit: moby reads no ignore file with a line of 64 KiB or more."""
    if len(raw) <= MAX_LINE_BYTES:
        return
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if len(line) > MAX_LINE_BYTES:
            raise IgnoreSyntaxError(
                source,
                number,
                "",
                f"{TOO_LONG} (the line has {len(line):,} bytes; moby "
                f"reads lines of at most {MAX_LINE_BYTES:,})",
            )


def _read_all(text: str) -> Iterator[tuple[int, str]]:
    """ignorefile.ReadAll: each pattern line and its number, "!" kept in front."""
    # Go's bufio.Scanner splits on "\n" and drops one "\r" before it.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if number == 1 and line.startswith(_BOM):
            line = line[1:]
        if line.startswith("#"):
            continue
        pattern = line.strip(_GO_SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(_GO_SPACE)
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        yield number, ("!" + pattern if invert else pattern)


def _new(pattern: str, source: str, number: int) -> tuple[str, bool] | None:
    """patternmatcher.New for one pattern: (cleaned pattern, exclusion), or None to skip."""
    pattern = pattern.strip(_GO_SPACE)
    if not pattern:
        return None
    pattern = go_clean(pattern)  # `!/` cleans to `!`
    exclusion = pattern.startswith("!")
    if exclusion:
        if len(pattern) == 1:
            raise IgnoreSyntaxError(source, number, "", 'illegal exclusion pattern: "!"')
        pattern = pattern[1:]
    if not valid_glob(pattern):
        raise IgnoreSyntaxError(source, number, ("!" if exclusion else "") + pattern)
    return pattern, exclusion


def go_clean(path: str) -> str:
    """Go's filepath.Clean on a slash path (posixpath.normpath keeps a leading "//")."""
    cleaned = posixpath.normpath(path) if path else "."
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _parents(path: str) -> tuple[str, ...]:
    parts = path.split("/")[:-1]
    return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))


class _Budget:
    """The regular expression text one file may compile (MAX_REGEXP_CHARS)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.left = MAX_REGEXP_CHARS

    def spend(self, regexp: str, line: int, pattern: str) -> None:
        self.left -= len(regexp)
        if self.left < 0:
            raise IgnoreSyntaxError(
                self.source,
                line,
                pattern,
                f"the file's patterns are too complex for composewatch (over "
                f"{MAX_REGEXP_CHARS:,} characters of regular expression), at",
            )


def _compile(
    pattern: str, exclusion: bool, source: str, line: int, budget: _Budget | None = None
) -> IgnoreRule:
    """Pattern.compile: the pattern (cleaned, valid for `filepath.Match`) as a rule."""
    shown = ("!" if exclusion else "") + pattern
    kind, regexp = translate(pattern)
    compiled = None
    if kind is Kind.REGEXP:
        if go_refuses(regexp):
            raise IgnoreSyntaxError(source, line, shown)
        if regexp.count("\\p") + regexp.count("\\P") > MAX_UNICODE_CLASSES:
            raise IgnoreSyntaxError(
                source,
                line,
                shown,
                f"composewatch matches at most {MAX_UNICODE_CLASSES} Unicode classes (\\p) "
                "in one pattern:",
            )
        if budget is not None:
            budget.spend(regexp, line, shown)
        try:
            compiled = re2.compile(regexp, _RE2_OPTIONS)
        except re2.error as exc:
            reason = SYNTAX_ERROR
            if "too large" in str(exc):  # Go would take it: say whose limit this is
                reason = "pattern too large for composewatch's matcher (RE2):"
            raise IgnoreSyntaxError(source, line, shown, reason) from None
        except UnicodeError:  # a lone surrogate (from YAML "\ud800"): not UTF-8
            raise IgnoreSyntaxError(source, line, shown) from None
    return IgnoreRule(pattern, exclusion, source, line, kind, compiled)
