r"""`.dockerignore` against moby's own answers: each row was produced by moby's
`ignorefile.ReadAll` + `patternmatcher.New` + `MatchesOrParentMatches` (github.com/moby/
patternmatcher at 5a6d842, built with Go's `regexp` and `filepath`) for the file's bytes and
PATHS. A row holds either, per path, whether moby excludes it, or the error moby gives.

moby reports a regular expression Go refuses (`[b-a]`, `\y`...) when a path first reaches that
rule; composewatch refuses it when it reads the file (the rows were taken with one path reaching
every rule). Go 1.20+'s `filepath.Match` (the docker CLI's and BuildKit's) checks a whole pattern
even after a failed match; so does composewatch.
"""

from __future__ import annotations

import pytest

from composewatch.core.ignore import (
    MAX_LINE_BYTES,
    MAX_UNICODE_CLASSES,
    IgnoreSyntaxError,
    parse_ignore,
)

MOBY: list[tuple[bytes, list[bool] | str]] = [
    (
        b"\xc2\xa0a\xc2\xa0",
        [
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\xe3\x80\x80foo\xe2\x80\x83",
        [
            False,
            False,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\xc2\x85foo",
        [
            False,
            False,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\xe2\x80\x8bfoo",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\x1cfoo",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\xe1\x9a\x80foo",
        [
            False,
            False,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\xe2\x80\xa8foo\xe2\x80\xa9",
        [
            False,
            False,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"! \xc2\xa0foo",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"a /.",
        [
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\xef\xbb\xbffoo",
        [
            False,
            False,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"x\n\xef\xbb\xbffoo",
        [
            False,
            False,
            False,
            False,
            True,
            False,
            False,
            True,
            False,
            False,
            False,
            False,
            False,
            True,
        ],
    ),
    (
        b"x\n\xef\xbb\xbffo?",
        [
            False,
            False,
            True,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            True,
        ],
    ),
    (
        b"x\n\xef\xbb\xbf**foo",
        [
            False,
            False,
            False,
            False,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            True,
        ],
    ),
    (
        b"\xef\xbb\xbf**foo",
        [
            False,
            False,
            True,
            True,
            True,
            False,
            False,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"x\n\xef\xbb\xbf*",
        [True, True, True, True, True, True, True, True, True, True, True, True, True, True],
    ),
    (
        b"\xef\xbb\xbf\xef\xbb\xbffoo",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"x\n\xef\xbb\xbf#c",
        [
            False,
            False,
            False,
            False,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            True,
        ],
    ),
    (b"!/", 'illegal exclusion pattern: "!"'),
    (b"! /", 'illegal exclusion pattern: "!"'),
    (b"!//", 'illegal exclusion pattern: "!"'),
    (b"!", 'illegal exclusion pattern: "!"'),
    (b"*\n!/.", 'illegal exclusion pattern: "!"'),
    (
        b"*\n!foo",
        [True, True, False, False, True, True, True, True, True, True, True, True, True, True],
    ),
    (
        b"*\n!./foo/..",
        [True, True, True, True, True, True, True, True, True, True, True, True, True, True],
    ),
    (b"[b-a]", "syntax error in pattern"),
    (b"\\y", "syntax error in pattern"),
    (b"\\8", "syntax error in pattern"),
    (b"\\pX", "syntax error in pattern"),
    (b"[[:foo:]]", "syntax error in pattern"),
    (b"\\C", "syntax error in pattern"),
    (b"a\\C", "syntax error in pattern"),
    (b"[\\C]", "syntax error in pattern"),
    (
        b"\\Q\\C",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (b"a*{2,1}", "syntax error in pattern"),
    (b"a*{1001}", "syntax error in pattern"),
    (b"\\1", "syntax error in pattern"),
    (b"\\E", "syntax error in pattern"),
    (b"\\p", "syntax error in pattern"),
    (b"[a-\\pL]", "syntax error in pattern"),
    (b"\\x{110000}", "syntax error in pattern"),
    (
        b"\\pL",
        [
            True,
            True,
            False,
            False,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            True,
            False,
            True,
        ],
    ),
    (
        b"[[:alpha:]]",
        [
            True,
            True,
            False,
            False,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            True,
        ],
    ),
    (b"a|*", [True, True, True, True, True, True, True, True, True, True, True, True, True, True]),
    (b"|*", [True, True, True, True, True, True, True, True, True, True, True, True, True, True]),
    (
        b"a{2}*",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            True,
            False,
            False,
            False,
        ],
    ),
    (
        b"a{2}",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\\x41",
        [
            False,
            False,
            False,
            False,
            False,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\\12",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\\Qa*\\E",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\\b",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"a\\z*",
        [
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"\\p{Greek}*",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"[\\d]",
        [
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            True,
            False,
        ],
    ),
    (
        b"**/foo",
        [
            False,
            False,
            True,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"foo/**",
        [
            False,
            False,
            False,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"foo**",
        [
            False,
            False,
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (
        b"**foo",
        [
            False,
            False,
            True,
            True,
            True,
            False,
            False,
            True,
            False,
            False,
            False,
            False,
            False,
            False,
        ],
    ),
    (b"[", "syntax error in pattern"),
    (b"a[", "syntax error in pattern"),
    (b"[]", "syntax error in pattern"),
    (b"[a-]", "syntax error in pattern"),
    (b"x\\", "syntax error in pattern"),
    (b"[-a]", "syntax error in pattern"),
    (b"[^]", "syntax error in pattern"),
    (b"a\\", "syntax error in pattern"),
]
PATHS = [
    "a",
    "a/b",
    "foo",
    "foo/bar",
    "x/foo",
    "A",
    "\xa0a",
    "\ufefffoo",
    "b|c",
    "ab",
    "aab",
    "é",
    "1",
    "x",
]


def _answer(data: bytes) -> list[bool] | str:
    try:
        rules = parse_ignore(data, ".dockerignore")
    except IgnoreSyntaxError as exc:
        return exc.reason
    return [rules.excluded(path) for path in PATHS]


@pytest.mark.parametrize(("data", "expected"), MOBY, ids=[repr(row[0])[:40] for row in MOBY])
def test_same_answer_as_moby(data: bytes, expected: list[bool] | str) -> None:
    assert _answer(data) == expected


def test_the_walk_agrees_with_the_whole_path_form() -> None:
    for data, expected in MOBY:
        if isinstance(expected, str):
            continue
        rules = parse_ignore(data, ".dockerignore")
        for path, excluded in zip(PATHS, expected, strict=True):
            info = None
            parts = path.split("/")
            for i in range(len(parts)):
                result, info = rules.match("/".join(parts[: i + 1]), info)
            assert result is excluded, (data, path)


@pytest.mark.parametrize(
    ("data", "line", "error"),
    [
        # bufio.Scanner: a line and its "\n" must fit in 64 KiB; a last line without one too
        (b"a" * MAX_LINE_BYTES + b"\n", None, None),
        (b"a" * (MAX_LINE_BYTES + 1) + b"\n", 1, "bufio.Scanner: token too long"),
        (b"x\n" + b"a" * MAX_LINE_BYTES, None, None),
        (b"x\n" + b"a" * (MAX_LINE_BYTES + 1), 2, "bufio.Scanner: token too long"),
        # the "\r" of "\r\n" counts: the scanner drops it only once the line is read
        (b"a" * MAX_LINE_BYTES + b"\r\n", 1, "bufio.Scanner: token too long"),
        # the scanner fails before any pattern is looked at
        (b"[\n" + b"a" * (MAX_LINE_BYTES + 1), 2, "bufio.Scanner: token too long"),
    ],
)
def test_long_lines_as_bufio_scanner(data: bytes, line: int | None, error: str | None) -> None:
    if error is None:
        parse_ignore(data, ".dockerignore")
        return
    with pytest.raises(IgnoreSyntaxError) as info:
        parse_ignore(data, "ctx/.dockerignore")
    assert info.value.line == line and info.value.reason.startswith(error)
    assert str(info.value).startswith(f"ctx/.dockerignore:{line}: {error}")


@pytest.mark.parametrize(
    ("text", "line", "shown"),
    [
        ("ok\n[b-a]\n", 2, "syntax error in pattern '[b-a]'"),
        ("ok\n\n!\\y\n", 3, "syntax error in pattern '!\\\\y'"),
        ("\\8\n", 1, "syntax error in pattern '\\\\8'"),
        ("x\n!/\n", 2, 'illegal exclusion pattern: "!"'),
    ],
)
def test_errors_name_the_line_in_mobys_words(text: str, line: int, shown: str) -> None:
    with pytest.raises(IgnoreSyntaxError) as info:
        parse_ignore(text, "app/.dockerignore")
    assert str(info.value) == f"app/.dockerignore:{line}: {shown}"


def test_glob_errors_come_before_regexp_errors_as_in_moby() -> None:
    # moby's New checks every pattern with filepath.Match first; the regexp fails later
    with pytest.raises(IgnoreSyntaxError) as info:
        parse_ignore("[b-a]\nx\n[\n", ".dockerignore")
    assert info.value.line == 3


def test_unicode_classes_are_bounded_not_slow() -> None:
    # RE2 builds UTF-8 automata for \pL: 20,000 of them took seconds to fail; refused at once
    with pytest.raises(IgnoreSyntaxError) as info:
        parse_ignore("\\pL" * (MAX_UNICODE_CLASSES + 1), ".dockerignore")
    assert "at most" in info.value.reason
    parse_ignore("\\pL" * 8, ".dockerignore")


def test_a_long_pattern_go_accepts_is_matched() -> None:
    # 65,000 `?` overflow RE2's default 8 MiB program budget; Go has none
    rules = parse_ignore("?" * 65_000, ".dockerignore")
    assert rules.excluded("a" * 65_000) and not rules.excluded("a" * 64_999)
