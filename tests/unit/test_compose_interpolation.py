"""Interpolation with compose's syntax, and .env parsing with compose's rules."""

from __future__ import annotations

import pytest

from composewatch.compose.envfile import parse_env
from composewatch.compose.interpolation import InterpolationError, interpolate_tree, substitute
from composewatch.errors import ComposeFileError

ENV = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$SET", "value"),
        ("${SET}", "value"),
        ("x${SET}y", "xvaluey"),
        ("$UNSET", ""),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-${SET}}", "value"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("cost: 5$", "cost: 5$"),
        ("$1", "$1"),
    ],
)
def test_substitute(template: str, expected: str) -> None:
    assert substitute(template, ENV.get) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?must be set}", "required variable UNSET is missing a value: must be set"),
        ("${EMPTY:?}", "required variable EMPTY is missing a value"),
        ("${UNSET?}", "required variable UNSET is missing a value"),
        ("${UNCLOSED", "Invalid template"),
        ("${}", "Invalid template"),
        ("${BAD NAME}", "Invalid template"),
    ],
)
def test_substitute_errors(template: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message.replace("?", r"\?")):
        substitute(template, ENV.get)


def test_required_but_empty_allowed_without_colon() -> None:
    assert substitute("${EMPTY?err}", ENV.get) == ""


def test_interpolate_tree_names_the_key_path() -> None:
    tree = {"services": {"db": {"environment": {"PASSWORD": "${PW:?set PW}"}}}}
    with pytest.raises(ComposeFileError) as info:
        interpolate_tree(tree, {}, file="compose.yaml")
    assert info.value.key == "services.db.environment.PASSWORD"
    assert info.value.file == "compose.yaml"
    assert "required variable PW is missing a value: set PW" in str(info.value)


def test_interpolate_tree_list_index_and_cast() -> None:
    tree = {"ports": ["${P}"], "init": "${I}"}

    def cast(path: tuple[str | int, ...], value: str) -> object:
        return value == "true" if path == ("init",) else value

    assert interpolate_tree(tree, {"P": "80", "I": "true"}, cast=cast) == {
        "ports": ["80"],
        "init": True,
    }
    with pytest.raises(ComposeFileError) as info:
        interpolate_tree({"ports": ["${X:?}"]}, {})
    assert info.value.key == "ports[0]"


def test_dotenv_quotes_and_references() -> None:
    text = (
        "# comment\n"
        "export A=1\n"
        "B=${A}-b\n"
        "C='${A} literal'\n"
        'D="${B} double"\n'
        "E=${SHELL_ONLY:-fallback} # trailing comment\n"
        "F=${SHELL}\n"
        "INHERITED\n"
    )
    shell = {"SHELL": "sh", "INHERITED": "from-shell"}
    env = parse_env(text, shell.get)
    assert env == {
        "A": "1",
        "B": "1-b",
        "C": "${A} literal",
        "D": "1-b double",
        "E": "fallback",
        "F": "sh",
        "INHERITED": "from-shell",
    }


def test_dotenv_shell_wins_in_references() -> None:
    env = parse_env("A=file\nB=${A}\n", {"A": "shell"}.get)
    assert env == {"A": "file", "B": "shell"}


def test_dotenv_raw_format_is_literal() -> None:
    env = parse_env("A='{\"k\": 1}'\nB=$X\n", lambda _: None, raw=True)
    assert env == {"A": "'{\"k\": 1}'", "B": "$X"}
