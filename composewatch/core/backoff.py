"""How long to wait between attempts to reach an engine that went away (pure)."""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["backoff_delays"]


def backoff_delays(
    first_s: float = 0.1, factor: float = 2.0, max_s: float = 2.0
) -> Iterator[float]:
    """0.1, 0.2, 0.4, ... s, then `max_s` for ever: quick to notice a short blip (a proxy
    restarting), cheap while the engine stays away for minutes."""
    delay_s = first_s
    while True:
        yield delay_s
        delay_s = min(delay_s * factor, max_s)
