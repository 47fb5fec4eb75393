"""Which changed files are a write storm, not saves (pure).

A file written again and again, several times a second (a log growing inside a build
context, a tool's status file), would otherwise start a build per write, each one
superseding the last, so no save would ever be served. A file that shows up in
STORM_BATCHES batches of changes within STORM_WINDOW_S, kept up for STORM_SPAN_S, is
storming: its changes are dropped (the other files of the same batches are acted on) and it
is said once. A burst of saves is no storm: ten saves in a third of a second are acted on,
and the last one is served. Once a storming file has been quiet for CALM_S, `calmed` hands
it over once, so its last state is acted on, and it counts as a file like any other again.

    WriteStorms().after(paths, now) -> (next state, the paths to act on, the paths that
                                        just started storming, never said before)
    WriteStorms().calmed(now)       -> (next state, the storming paths quiet since CALM_S)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CALM_S", "STORM_BATCHES", "STORM_SPAN_S", "STORM_WINDOW_S", "WriteStorms"]

# Six batches in three seconds, kept up for two: two writes a second or more, for seconds. A
# person saving one file does not; an editor's autosave writes about once a second at most.
STORM_BATCHES = 6
STORM_WINDOW_S = 3.0
STORM_SPAN_S = 2.0
CALM_S = 5.0


@dataclass(frozen=True)
class WriteStorms:
    seen: Mapping[Path, tuple[float, ...]] = field(default_factory=dict)  # within the window
    storming: Mapping[Path, float] = field(default_factory=dict)  # path -> its last change
    said: frozenset[Path] = frozenset()

    def after(
        self, paths: Iterable[Path], now: float
    ) -> tuple[WriteStorms, frozenset[Path], tuple[Path, ...]]:
        cutoff = now - STORM_WINDOW_S
        seen: dict[Path, tuple[float, ...]] = {}
        for path, times in self.seen.items():
            recent = tuple(t for t in times if t > cutoff)
            if recent:
                seen[path] = recent
        storming = dict(self.storming)  # left only through `calmed` or a change after calm
        admitted: set[Path] = set()
        started: list[Path] = []
        for path in sorted(set(paths)):
            times = (*seen.get(path, ()), now)
            seen[path] = times
            kept_up = len(times) >= STORM_BATCHES and now - times[0] >= STORM_SPAN_S
            if path in storming and now - storming[path] >= CALM_S:
                del storming[path]  # calm since: this change carries its last state
            if path in storming or kept_up:
                if path not in storming and path not in self.said:
                    started.append(path)
                storming[path] = now
            else:
                admitted.add(path)
        state = WriteStorms(seen, storming, self.said | frozenset(started))
        return state, frozenset(admitted), tuple(started)

    def calmed(self, now: float) -> tuple[WriteStorms, frozenset[Path]]:
        """The storming paths quiet for CALM_S: no longer storming, and to be acted on once
        (their last changes were dropped)."""
        quiet = frozenset(p for p, last in self.storming.items() if now - last >= CALM_S)
        if not quiet:
            return self, quiet
        storming = {p: last for p, last in self.storming.items() if p not in quiet}
        return WriteStorms(self.seen, storming, self.said), quiet

    def count(self, path: Path) -> int:
        """The path's changes within the window (what the report says)."""
        return len(self.seen.get(path, ()))
