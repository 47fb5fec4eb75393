"""A container's next change, from the engine's event stream (no status read on a clock).

`up` waits on a dependency's condition (`service_healthy`, `service_completed_successfully`):
the engine says when its health or its life changes (`health_status`, `die`, ...), so the
status is read again then, not every few milliseconds. The stream is opened before the status
is read, so a change between the two is not missed.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

__all__ = ["ContainerEvents"]

# What changes a container's status; health_status matches "health_status: healthy" too.
EVENTS = ["health_status", "start", "die", "stop", "kill", "destroy", "restart", "oom"]


class ContainerEvents:
    """The engine's events about one container, from when it is made on."""

    def __init__(self, client: Any, container: str) -> None:
        filters = {"type": "container", "container": container, "event": EVENTS}
        self._stream = client.events(filters=filters, decode=True)

    def __enter__(self) -> ContainerEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self, timeout_s: float) -> bool:
        """Whether an event came within `timeout_s`. The stream is read in its own daemon
        thread, so a stream that does not end on close never holds the caller."""
        came = threading.Event()

        def read() -> None:
            with contextlib.suppress(Exception):  # closed: the wait is over anyway
                for _ in self._stream:
                    came.set()
                    return

        threading.Thread(target=read, name="cw-events", daemon=True).start()
        return came.wait(timeout_s)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()
