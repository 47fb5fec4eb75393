"""Key paths into a compose tree (`("services", "web", "ports", 0)`) and glob matching."""

from __future__ import annotations

import functools

__all__ = ["KeyPath", "format_path", "matches"]

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
