"""YAML parsing the way compose (go-yaml v3) reads compose files.

PyYAML implements YAML 1.1, where `80:80` is a base-60 integer and `yes` a boolean; compose
reads YAML 1.2-style scalars, so the implicit resolvers are replaced. Duplicate keys are an
error, and the `!reset` / `!override` tags are kept as markers for the merge step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from composewatch.errors import ComposeFileError

__all__ = ["Override", "Reset", "parse_documents"]


class Reset:
    """Value of a `!reset` node: drop the key from what earlier files defined."""

    def __repr__(self) -> str:
        return "Reset()"


@dataclass(frozen=True)
class Override:
    """Value of a `!override` node: replace, rather than merge with, earlier definitions."""

    value: Any


class _Loader(yaml.SafeLoader):
    pass


# Start from no implicit resolvers at all, then add the YAML 1.2 core schema.
_Loader.yaml_implicit_resolvers = {}
_RESOLVERS: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)$",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
]
for _tag, _pattern, _first in _RESOLVERS:
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


def _construct_bool(loader: _Loader, node: ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


def _construct_int(loader: _Loader, node: ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith(("0o", "0x", "0b")):
        return sign * int(digits, 0)
    if len(digits) > 1 and digits.startswith("0") and digits.isdigit():
        return sign * int(digits, 8)  # go-yaml reads a leading 0 as octal (`mode: 0440`)
    return sign * int(digits)


def _construct_mapping(loader: _Loader, node: MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        if isinstance(key, list | dict):
            continue  # unhashable keys are reported by PyYAML itself
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ComposeFileError(
                f"mapping key {str(key)!r} already defined at line {seen[key]}",
                line=line,
                column=key_node.start_mark.column + 1,
            )
        seen[key] = line
    loader.flatten_mapping(node)
    return {
        loader.construct_object(k, deep=True): loader.construct_object(v, deep=True)
        for k, v in node.value
    }


def _construct_reset(loader: _Loader, node: Node) -> Reset:
    return Reset()


def _construct_override(loader: _Loader, node: Node) -> Override:
    value: Any
    if isinstance(node, MappingNode):
        value = _construct_mapping(loader, node)
    elif isinstance(node, SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_object(
            ScalarNode(
                loader.resolve(ScalarNode, node.value, (True, False)),  # type: ignore[no-untyped-call]
                node.value,
                node.start_mark,
                node.end_mark,
                getattr(node, "style", None),
            )
        )
    return Override(value)


_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("!reset", _construct_reset)
_Loader.add_constructor("!override", _construct_override)


def _documents(text: str) -> Iterator[Any]:
    loader = _Loader(text)
    try:
        while loader.check_data():  # type: ignore[no-untyped-call]
            yield loader.get_data()
    finally:
        loader.dispose()


def parse_documents(text: str, file: Path | str) -> list[Any]:
    """Every YAML document in `text`; errors name the file, line and column."""
    try:
        return list(_documents(text))
    except ComposeFileError as exc:
        raise ComposeFileError(
            f"failed to parse: {exc.reason}", file=file, line=exc.line, column=exc.column
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ComposeFileError(
            f"failed to parse: {reason}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ComposeFileError(f"failed to parse: {exc}", file=file) from None
