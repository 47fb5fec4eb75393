"""The input limits at their boundaries, and the redaction rules, below the command line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from composewatch.compose import yamlload
from composewatch.compose.interpolation import MAX_NESTING, InterpolationError, substitute
from composewatch.compose.redaction import Redaction, note_value, redacting
from composewatch.compose.textfile import MAX_INPUT_BYTES, read_input
from composewatch.compose.yamlload import MAX_DEPTH, MAX_NODES, parse_documents
from composewatch.engine.buildcontext import load_ignore_rules
from composewatch.errors import ComposeFileError


def _parse(text: str) -> object:
    return parse_documents(text, "compose.yaml")[0]


def _error(text: str) -> ComposeFileError:
    with pytest.raises(ComposeFileError) as info:
        _parse(text)
    assert info.value.file == "compose.yaml"
    return info.value


def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused() -> None:
    assert _parse("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    error = _error("x: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert f"deeper than {MAX_DEPTH}" in error.reason and error.line == 1


def test_aliases_count_as_the_nodes_they_expand_to() -> None:
    # 9 levels of 9 aliases: 9**9 nodes once expanded, in a few hundred bytes
    levels = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    assert len(levels) < 500
    error = _error(levels)
    assert f"aliases expand the document to more than {MAX_NODES:,} nodes" in error.reason
    assert error.line is not None


def test_a_document_just_under_the_node_limit_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlload, "MAX_NODES", 1_000)
    # the root, a, [30 items], b, [31 aliases of 31 nodes]: 1 + 1 + 31 + 1 + 1 + 961 = 996
    text = "a: &a [" + ", ".join(["x"] * 30) + "]\nb: [" + ", ".join(["*a"] * 31) + "]\n"
    doc = _parse(text)
    assert isinstance(doc, dict) and len(doc["b"]) == 31
    with pytest.raises(ComposeFileError, match="aliases expand"):
        _parse(text.replace("*a]", "*a, *a]"))


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert "contains it" in _error("x: &r [*r]\n").reason
    assert "contains it" in _error("x: &r {a: *r}\n").reason


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x: 18446744073709551615", 2**64 - 1),
        ("x: -9223372036854775808", -(2**63)),
        ("x: 0x1F", 31),
        ("x: 0440", 0o440),
        ("x: 1_000", 1000),
    ],
)
def test_integers_within_64_bits_are_read(text: str, value: int) -> None:
    assert _parse(text) == {"x": value}


@pytest.mark.parametrize("text", ["x: !!int 0x", "x: !!int 18446744073709551616"])
def test_integers_beyond_64_bits_or_malformed_are_refused(text: str) -> None:
    error = _error(text)
    assert error.line == 1 and len(error.reason) < 200  # the digits are not all repeated


@pytest.mark.parametrize(
    ("text", "value"),
    [("x: 18446744073709551616", 2.0**64), ("x: -9223372036854775809", -(2.0**63)),
     ("x: " + "9" * 5000, "9" * 5000)],
)  # fmt: skip
def test_plain_integers_beyond_64_bits_are_read_as_go_yaml_reads_them(
    text: str, value: object
) -> None:
    """A float, or the string itself when even a float overflows (as compose reads them)."""
    assert _parse(text) == {"x": value}


@pytest.mark.parametrize(
    "tag", ["!!binary aGk=", "!!set {a}"]
)  # a timestamp is read (compose reads one)
def test_tags_compose_has_no_use_for_are_refused(tag: str) -> None:
    assert "not supported" in _error(f"x: {tag}\n").reason


def test_a_sequence_as_a_mapping_key_is_refused() -> None:
    assert "scalar" in _error("? [a]\n: b\n").reason


def test_interpolation_nesting_is_bounded() -> None:
    def lookup(name: str) -> str | None:
        return None

    ok = "${A:-" * MAX_NESTING + "x" + "}" * MAX_NESTING
    assert substitute(ok, lookup) == "x"
    with pytest.raises(InterpolationError, match="nested"):
        substitute("${A:-" + ok + "}", lookup)


def test_special_files_are_refused_before_they_are_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    with pytest.raises(ComposeFileError, match="FIFO"):
        read_input(fifo)
    with pytest.raises(ComposeFileError, match="character device"):
        read_input(Path("/dev/zero"))
    with pytest.raises(ComposeFileError, match="directory"):
        read_input(tmp_path)


def test_input_files_are_bounded_in_size(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_bytes(b"#" * MAX_INPUT_BYTES)
    assert len(read_input(path)) == MAX_INPUT_BYTES
    path.write_bytes(b"#" * (MAX_INPUT_BYTES + 1))
    with pytest.raises(ComposeFileError, match="larger than"):
        read_input(path)


def test_invalid_utf8_names_the_position_not_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nB=x\xff\n")
    with pytest.raises(ComposeFileError) as info:
        read_input(path)
    assert (info.value.line, info.value.column) == (2, 4)
    assert "\\xff" not in str(info.value) and "0xff" not in str(info.value)


def test_redaction_names_the_variable_in_place_of_its_value() -> None:
    redaction = Redaction()
    redaction.add("TOKEN", "hunter2-secret")
    redaction.add("SHORT", "abc")  # too short to hide without garbling messages
    redaction.add("COMPOSE_PROJECT_NAME", "myproject")  # compose's own setting, not a secret
    text = "bad 'hunter2-secret' in abc for myproject"
    assert redaction.apply(text) == "bad '${TOKEN}' in abc for myproject"
    redaction.add("SLASHED", "a\\b\\c\\d")  # quoted by repr() as a\\b\\c\\d: hidden too
    assert "${SLASHED}" in redaction.apply(repr("a\\b\\c\\d"))


def test_near_a_key_with_a_substituted_variable_its_words_are_hidden_too() -> None:
    redaction = Redaction()
    redaction.add_substitution("services.web.ports[0]", "TOKEN", "alpha:beta-gamma")
    assert redaction.apply("invalid hostPort: alpha", "services.web.ports[0]") == (
        "invalid hostPort: ${TOKEN}"
    )
    assert redaction.apply("alphabet soup", "services.web.ports[0]") == "alphabet soup"
    assert redaction.apply("invalid hostPort: alpha", "services.db") == "invalid hostPort: alpha"
    assert redaction.apply("no beta here", "services.web") == "no ${TOKEN} here"


def test_values_are_noted_only_inside_a_load() -> None:
    note_value("TOKEN", "outside-any-load")  # no effect, and no error
    with redacting() as redaction:
        note_value("TOKEN", "inside-the-load")
    assert redaction.apply("inside-the-load outside-any-load") == ("${TOKEN} outside-any-load")


def test_a_dockerignore_that_is_not_utf8_is_still_read(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"*.pem\n\xff\xfe\nsecret/\n")
    rules, data = load_ignore_rules(tmp_path, None)
    assert data.startswith(b"*.pem") and rules.excluded("key.pem") and rules.excluded("secret")
    assert not rules.excluded("app.py")


def test_a_document_of_too_many_nodes_says_so_without_blaming_aliases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(yamlload, "MAX_NODES", 1_000)
    assert isinstance(_parse("x: [" + ", ".join(["1"] * 997) + "]\n"), dict)  # 1,000 nodes
    error = _error("x: [" + ", ".join(["1"] * 998) + "]\n")
    assert "has more than 1,000 nodes" in error.reason


def test_file_names_lose_substituted_values_only() -> None:
    redaction = Redaction()
    redaction.add("APP", "shopfront")  # read from .env, never substituted
    redaction.add_substitution("services.web.extends.file", "DIR", "hidden-dir")
    exc = ComposeFileError("bad", file="/home/me/shopfront/hidden-dir/x.yml")
    scrubbed = redaction.scrub(exc)
    assert isinstance(scrubbed, ComposeFileError)
    assert scrubbed.file == "/home/me/shopfront/${DIR}/x.yml"
