"""`.dockerignore` reading and matching against moby's patternmatcher semantics (table tests)."""

from __future__ import annotations

import time

import pytest

from composewatch.core.ignore import IgnoreSyntaxError, go_clean, parse_ignore


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        ("\ufeffnode_modules\n", ["node_modules"]),  # BOM stripped from the first line
        ("# comment\n  # not a comment\n", ["# not a comment"]),  # '#' only at column 0
        ("  spaced  \n\n\t\n", ["spaced"]),
        ("/abs/path\n", ["abs/path"]),  # leading slash dropped
        ("./a/../b//c/\n", ["b/c"]),  # cleaned like filepath.Clean
        ("! keep \n", ["keep"]),
        ("a\r\nb\r\n", ["a", "b"]),
    ],
)
def test_reading(text: str, patterns: list[str]) -> None:
    assert [r.pattern for r in parse_ignore(text, ".dockerignore").rules] == patterns


def test_invalid_utf8_is_read_not_fatal() -> None:
    rules = parse_ignore(b"ok\n\xff\xfebad\n", ".dockerignore")
    assert rules.rules[0].pattern == "ok" and len(rules.rules) == 2


@pytest.mark.parametrize("bad", ["[", "a[", "[]", "[a-]", "x\\", "!", "[-a]"])
def test_syntax_errors_name_file_and_line(bad: str) -> None:
    with pytest.raises(IgnoreSyntaxError) as info:
        parse_ignore(f"fine\n{bad}\n", "ctx/.dockerignore")
    assert info.value.line == 2 and info.value.source == "ctx/.dockerignore"


CASES = [
    # (rules, path, excluded)
    ("*.log", "debug.log", True),
    ("*.log", "sub/debug.log", False),  # '*' does not cross '/'
    ("**/*.log", "sub/deep/debug.log", True),
    ("**/*.log", "debug.log", True),
    ("dir", "dir/inside/file", True),  # a parent match excludes what is inside
    ("**/dir", "a/b/dir/inside", True),
    ("dir/**", "dir/x", True),
    ("dir/**", "dirx", False),
    ("foo**", "foobar/x", True),  # prefix match, as moby
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("[a-c]x", "bx", True),
    ("[^a-c]x", "bx", False),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("a.b", "axb", False),  # regexp metacharacters are literal
    ("(x)", "(x)", True),
    ("*\n!keep.txt", "keep.txt", False),
    ("*\n!keep.txt\nkeep.txt", "keep.txt", True),  # the last matching rule decides
    ("dir\n!dir/keep", "dir/keep", False),
    ("dir\n!dir/keep", "dir/other", True),
    ("*.md\n!README.md", "README.md", False),
    ("/secret", "secret", True),
    ("a/b", "a", False),
    ("", ".", False),
]


@pytest.mark.parametrize(("rules", "path", "excluded"), CASES)
def test_matching(rules: str, path: str, excluded: bool) -> None:
    parsed = parse_ignore(rules, ".dockerignore")
    assert parsed.excluded(path) is excluded
    # The walk's incremental form agrees with the whole-path form.
    info = None
    parts = path.split("/")
    result = False
    for i in range(len(parts)):
        result, info = parsed.match("/".join(parts[: i + 1]), info)
    if path != ".":
        assert result is excluded


def test_deciding_rule_names_file_and_line() -> None:
    rules = parse_ignore("# header\n*.pem\n!public.pem\n", "app/.dockerignore")
    rule = rules.deciding_rule("keys/private.pem")
    assert rule is None  # '*.pem' does not cross '/'
    rule = rules.deciding_rule("private.pem")
    assert rule is not None and str(rule) == "app/.dockerignore:2: *.pem"
    assert rules.deciding_rule("public.pem") is None


def test_always_sent_files_get_exceptions() -> None:
    rules = parse_ignore("*\n", ".dockerignore").with_exceptions(".dockerignore", "Dockerfile")
    assert not rules.excluded("Dockerfile") and not rules.excluded(".dockerignore")
    assert rules.excluded("app.py")


def test_go_clean() -> None:
    assert go_clean("") == "."
    assert go_clean("//a//b/") == "/a/b"
    assert go_clean("a/./b/../c") == "a/c"


def test_matching_is_linear_not_backtracking() -> None:
    # docker-py's translation took 8.5 s on this; RE2 answers at once. Measured, not timed
    # against a threshold so tight that a loaded machine could fail it.
    rules = parse_ignore("/".join(["**"] * 12) + "/x\n", ".dockerignore")
    path = "/".join(["d"] * 200) + "/y"
    started = time.perf_counter()
    assert not rules.excluded(path)
    assert time.perf_counter() - started < 2.0


def test_always_sent_names_moby_refuses_are_syntax_errors_not_tracebacks() -> None:
    # the docker CLI adds "!<Dockerfile>"; a name `filepath.Match` refuses fails the build
    rules = parse_ignore("*\n", ".dockerignore")
    with pytest.raises(IgnoreSyntaxError):
        rules.with_exceptions("Dock[erfile")
    assert not rules.with_exceptions("Dockerfile.{dev}").excluded("Dockerfile.{dev}")
