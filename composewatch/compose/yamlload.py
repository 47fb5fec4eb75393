"""YAML parsing the way compose (go-yaml v3) reads compose files.

PyYAML implements YAML 1.1, where `80:80` is a base-60 integer and `yes` a boolean; compose
reads YAML 1.2-style scalars, so the implicit resolvers are replaced. Duplicate keys are an
error, and the `!reset` / `!override` tags are kept as markers for the merge step.

Hostile input is refused while composing, before any Python object is built: nesting deeper
than `MAX_DEPTH`, a document whose aliases expand to more than `MAX_NODES` nodes (an alias
"billion laughs" bomb), an alias to the node that contains it, integers beyond 64 bits and
tags compose has no use for (`!!binary`, `!!set`, `!!omap`, `!!pairs`). A timestamp is read as
compose reads it (a `GoTime`), for the schema to refuse outside `x-*` as compose does.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.events import AliasEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from composewatch.compose.scalars import (
    parse_float,
    parse_int,
    parse_timestamp,
    yaml_plain_tag,
)
from composewatch.errors import ComposeFileError

T = TypeVar("T")

__all__ = ["MAX_DEPTH", "MAX_NODES", "Override", "Reset", "parse_documents"]

MAX_DEPTH = 64  # nested collections; real compose files stay under 15
# Nodes per document once aliases are expanded: a file this size loads in about 1 s (each
# node costs about 15 us through composing, interpolating, checking and normalizing).
MAX_NODES = 50_000


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


_CParser: Any = getattr(yaml, "CBaseLoader", None)  # libyaml (None in a wheel without it)


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer bounds nesting depth and alias expansion.

    The events come from libyaml's scanner and parser (C) where PyYAML has it: the Python
    ones took 10 s for a 2.4 MB file of 240k list items. PyYAML's reader still checks the
    text first (its errors for control characters stay), and its composer (Python, bounded
    here) and constructors build the values."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._events: Any = None
        if _CParser is not None:
            self._events = _CParser(stream)
            self.check_event = self._events.check_event  # type: ignore[method-assign]
            self.peek_event = self._events.peek_event  # type: ignore[method-assign]
            self.get_event = self._events.get_event  # type: ignore[method-assign]
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
        if type(event) is ScalarEvent and event.anchor is None and self._depth < MAX_DEPTH:
            # most nodes: a plain scalar no alias can name, composed in one step (PyYAML's
            # generic path and the bookkeeping below cost more than libyaml's parsing)
            self.get_event()  # type: ignore[no-untyped-call]
            self._count(1, event.start_mark)
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.resolve(ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
            begin, end = event.start_mark, event.end_mark  # libyaml's marks: line, column
            return ScalarNode(tag, event.value, begin, end, event.style)  # type: ignore[arg-type]
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


# Plain scalars are typed by go-yaml v3's resolver (`scalars`), not PyYAML's YAML 1.1 one.
_Loader.yaml_implicit_resolvers = {}
_MERGE = "tag:yaml.org,2002:merge"


def _resolve(self: _Loader, kind: Any, value: Any, implicit: Any) -> Any:
    if kind is ScalarNode and implicit[0]:
        return _MERGE if value == "<<" else yaml_plain_tag(value)
    return yaml.SafeLoader.resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]


_Loader.resolve = _resolve  # type: ignore[method-assign,assignment]
_BOOLS = {"true": True, "false": False}


def _construct_bool(loader: _Loader, node: ScalarNode) -> bool:
    text = str(loader.construct_scalar(node))
    if text.lower() not in _BOOLS:
        raise _error(f"{_excerpt(text)} is not a boolean", node.start_mark)
    return _BOOLS[text.lower()]


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= 40 else f"{text[:20]}…{text[-10:]}")


def _scalar_constructor(
    parse: Callable[[str], T | None], what: str
) -> Callable[[_Loader, ScalarNode], T]:
    """A YAML constructor that reads a scalar with `parse`, or says which value is not `what`."""

    def construct(loader: _Loader, node: ScalarNode) -> T:
        text = str(loader.construct_scalar(node))
        value = parse(text)
        if value is None:
            raise _error(f"{_excerpt(text)} is not {what}", node.start_mark)
        return value

    return construct


def _unsupported(loader: _Loader, node: Node) -> Any:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise _error(f"the YAML tag {tag} is not supported in compose files", node.start_mark)


def _flatten(loader: _Loader, node: MappingNode) -> None:
    """Resolve `<<` merge keys in place as go-yaml v3 does: the mapping's own keys win, then
    the first merged mapping that sets a key (`<<: [*a, *b]`: `a`'s). PyYAML 6.0.4's own
    `flatten_mapping` lets the last one win when the keys are equal strings of distinct
    objects."""
    merged: list[tuple[Node, Node]] = []
    own: list[tuple[Node, Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag != _MERGE:
            own.append((key_node, value_node))
            continue
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                raise _error(
                    "map merge requires map or sequence of maps as the value", source.start_mark
                )
            _flatten(loader, source)
            merged.extend(source.value)
    if len(own) == len(node.value):
        return
    firsts: dict[Any, tuple[Node, Node]] = {}
    for key_node, value_node in merged:
        if not isinstance(key_node, ScalarNode):
            raise _error("a mapping key must be a scalar", key_node.start_mark)
        firsts.setdefault(loader.construct_object(key_node), (key_node, value_node))
    node.value = [*firsts.values(), *own]


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
    _flatten(loader, node)
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
_Loader.add_constructor("tag:yaml.org,2002:int", _scalar_constructor(parse_int, "a 64-bit integer"))
# `<<` outside a key (`a: <<`, as compose prints the string) is a string to go-yaml
_Loader.add_constructor("tag:yaml.org,2002:merge", lambda loader, node: "<<")
_Loader.add_constructor("tag:yaml.org,2002:float", _scalar_constructor(parse_float, "a number"))
_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp", _scalar_constructor(parse_timestamp, "a timestamp")
)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
for _tag in ("binary", "omap", "pairs", "set"):
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
        if loader._events is not None:
            loader._events.dispose()


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
