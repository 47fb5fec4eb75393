"""Key paths into a compose tree (`("services", "web", "ports", 0)`) and glob matching."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["KeyPath", "PathTable", "format_path", "matches"]

KeyPath = tuple[str | int, ...]


@functools.cache
def _parts(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split(".")) if pattern else ()


def matches(path: KeyPath, pattern: str) -> bool:
    """Whether `path` matches a dotted pattern where `*` stands for any key or list index."""
    parts = _parts(pattern)
    return len(parts) == len(path) and all(
        p in ("*", str(k)) for p, k in zip(parts, path, strict=True)
    )


def format_path(path: KeyPath) -> str:
    """`services.web.ports[0]`, compose's way of naming a key."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class PathTable(Generic[T]):
    """Dotted patterns and their values, looked up by key path in one dict probe or two.

    Loading walks every node of a tree (240k of them in a big file) and asks which pattern
    applies: trying each of 40 patterns per node took 8.4 million `matches` calls. Patterns
    are filed by their length and last part instead, so a node tries only those that could
    match it; the first matching pattern in the table's order wins, as in a loop over it."""

    def __init__(self, entries: Mapping[str, T]) -> None:
        self._index: dict[tuple[int, str], list[tuple[int, str, T]]] = {}
        for order, (pattern, value) in enumerate(entries.items()):
            parts = _parts(pattern)
            key = (len(parts), parts[-1] if parts else "")
            self._index.setdefault(key, []).append((order, pattern, value))

    def lookup(self, path: KeyPath) -> T | None:
        """The value of the first pattern `path` matches, or None."""
        if not path:
            return None
        size = len(path)
        named = self._index.get((size, str(path[-1])), ())
        starred = self._index.get((size, "*"), ())
        best: tuple[int, str, T] | None = None
        for entry in (*named, *starred):
            if (best is None or entry[0] < best[0]) and matches(path, entry[1]):
                best = entry
        return None if best is None else best[2]
