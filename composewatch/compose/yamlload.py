"""YAML parsing the way compose (go-yaml v3) reads compose files.

PyYAML implements YAML 1.1, where `80:80` is a base-60 integer and `yes` a boolean; compose
reads YAML 1.2-style scalars, so the implicit resolvers are replaced. Duplicate keys are an
error, and the `!reset` / `!override` tags are kept as markers for the merge step.

Hostile input is refused while composing, before any Python object is built: nesting deeper
than `MAX_DEPTH`, a document whose aliases expand to more than `MAX_NODES` nodes (an alias
"billion laughs" bomb), an alias to the node that contains it, integers beyond 64 bits and
tags compose has no use for (`!!timestamp`, `!!binary`, `!!set`, `!!omap`, `!!pairs`).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from composewatch.errors import ComposeFileError

__all__ = ["MAX_DEPTH", "MAX_NODES", "Override", "Reset", "parse_documents"]

MAX_DEPTH = 64  # nested collections; real compose files stay under 15
MAX_NODES = 250_000  # nodes per document once aliases are expanded
_INT64_MIN, _UINT64_MAX = -(1 << 63), (1 << 64) - 1


class Reset:
    """Value of a `!reset` node: drop the key from what earlier files defined."""

    def __repr__(self) -> str:
        return "Reset()"


@dataclass(frozen=True)
class Override:
    """Value of a `!override` node: replace, rather than merge with, earlier definitions."""

    value: Any


def _error(reason: str, mark: Any) -> ComposeFileError:
    """An error at `mark` (a PyYAML Mark, or None)."""
    return ComposeFileError(
        reason,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
    )


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer bounds nesting depth and alias expansion."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0  # nodes in the current document, aliases expanded
        self._aliases = 0  # aliases in the current document
        self._weights: dict[int, int] = {}  # id(node) -> its expanded size, once complete

    def compose_document(self) -> Node | None:
        self._expanded = 0
        self._aliases = 0
        self._weights = {}
        node: Node | None = super().compose_document()
        return node

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)
            weight = self._weights.get(id(node))
            if weight is None:
                raise _error(
                    f"alias *{event.anchor} refers to a node that contains it", event.start_mark
                )
            self._count(weight, event.start_mark, alias=True)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _error(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
        start = self._expanded
        self._count(1, event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._weights[id(node)] = self._expanded - start
        return node

    def _count(self, nodes: int, mark: Any, *, alias: bool = False) -> None:
        self._expanded += nodes
        self._aliases += alias
        if self._expanded <= MAX_NODES:
            return
        if self._aliases:
            reason = f"aliases expand the document to more than {MAX_NODES:,} nodes"
        else:
            reason = f"the document has more than {MAX_NODES:,} nodes"
        raise _error(reason, mark)


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


_BOOLS = {"true": True, "false": False}
_INT = re.compile(r"[-+]?(?:0o[0-7]+|0x[0-9a-fA-F]+|0b[01]+|[0-9]+)")


def _construct_bool(loader: _Loader, node: ScalarNode) -> bool:
    text = str(loader.construct_scalar(node))
    if text.lower() not in _BOOLS:
        raise _error(f"{_excerpt(text)} is not a boolean", node.start_mark)
    return _BOOLS[text.lower()]


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= 40 else f"{text[:20]}…{text[-10:]}")


def _construct_int(loader: _Loader, node: ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if not _INT.fullmatch(text):
        raise _error(f"{_excerpt(text)} is not an integer", node.start_mark)
    if len(text) > 70:  # far beyond 64 bits in any base; int() would be slow or refuse
        raise _error(f"integer of {len(text)} characters is out of range", node.start_mark)
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith(("0o", "0x", "0b")):
        value = sign * int(digits, 0)
    elif len(digits) > 1 and digits.startswith("0"):
        if not set(digits) <= set("01234567"):
            raise _error(f"{_excerpt(text)} is not an octal integer", node.start_mark)
        value = sign * int(digits, 8)  # go-yaml reads a leading 0 as octal (`mode: 0440`)
    else:
        value = sign * int(digits)
    if not _INT64_MIN <= value <= _UINT64_MAX:
        raise _error(f"integer {_excerpt(text)} is out of range (64 bits)", node.start_mark)
    return value


def _construct_float(loader: _Loader, node: ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "")
    lowered = text.lower()
    if lowered in (".inf", "+.inf", "-.inf", ".nan"):
        return float(lowered.replace(".", ""))
    try:
        return float(text)
    except ValueError:
        raise _error(f"{_excerpt(text)} is not a number", node.start_mark) from None


def _unsupported(loader: _Loader, node: Node) -> Any:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise _error(f"the YAML tag {tag} is not supported in compose files", node.start_mark)


def _construct_mapping(loader: _Loader, node: MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if not isinstance(key_node, ScalarNode):
            raise _error("a mapping key must be a scalar", key_node.start_mark)
        key = loader.construct_object(key_node)
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
# `<<` outside a key (`a: <<`, as compose prints the string) is a string to go-yaml
_Loader.add_constructor("tag:yaml.org,2002:merge", lambda loader, node: "<<")
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
for _tag in ("binary", "timestamp", "omap", "pairs", "set"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _unsupported)
_Loader.add_constructor("!reset", _construct_reset)
_Loader.add_constructor("!override", _construct_override)


def _documents(text: str) -> Iterator[Any]:
    loader = _Loader(text)
    try:
        while loader.check_data():  # type: ignore[no-untyped-call]
            yield loader.get_data()
    finally:
        loader.dispose()


@functools.lru_cache(maxsize=4)
def _parsed(text: str) -> tuple[Any, ...]:
    # a project's files are read twice (`name:` first, as compose does): parse them once
    return tuple(_documents(text))


def parse_documents(text: str, file: Path | str) -> list[Any]:
    """Every YAML document in `text` (a fresh copy: callers may change it); errors name the
    file, line and column."""
    try:
        return copy.deepcopy(list(_parsed(text)))
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
