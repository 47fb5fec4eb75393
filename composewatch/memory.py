"""Giving the heap back once the work is done: a UI wrapper that, when `up` has finished
(`Watching`) and after each save's outcome, asks the C allocator to return its free pages.

Starting up and each build fill the heap (JSON from the engine, tar headers, BuildKit's file
lists); Python frees those objects, but glibc keeps the freed pages mapped, so an idle watcher
looked up to 2 MiB bigger than what it holds. `malloc_trim(0)` hands them back. It runs on a
short daemon thread (ctypes releases the GIL for the call), never on the event loop, and is
a no-op where there is no glibc (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable
from typing import Any

from composewatch import events as ev

__all__ = ["TrimWhenSettled", "trim_heap"]

#: After these, nothing is in flight for the service: the heap it used is garbage.
SETTLED = (
    ev.Watching,
    ev.Live,
    ev.Unhealthy,
    ev.BuildFailed,
    ev.BuildUnchanged,
    ev.RolledBack,
    ev.ImageCaughtUp,
)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):  # no libc found, or not glibc
        return None
    return trim


_TRIM = _malloc_trim()


def trim_heap() -> None:
    """Return the allocator's free pages to the system (glibc only)."""
    if _TRIM is not None:
        _TRIM(0)


class TrimWhenSettled:
    """Passes every event on; after one that leaves nothing in flight, trims the heap."""

    def __init__(self, inner: Any, trim: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self._trim = trim if trim is not None else (trim_heap if _TRIM is not None else None)

    def __call__(self, event: ev.Event) -> None:
        self.inner(event)
        if self._trim is not None and isinstance(event, SETTLED):
            threading.Thread(target=self._trim, name="trim", daemon=True).start()

    def __getattr__(self, name: str) -> Any:  # log(), __enter__ of the inner UI
        return getattr(self.inner, name)
