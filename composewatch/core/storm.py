"""Which changed files are a write storm, not saves (pure).

A file written again and again, several times a second (a log growing inside a build
context, a tool's status file), would otherwise start a build per write, each one
superseding the last, so no save would ever be served. A file that shows up in
STORM_BATCHES batches of changes within STORM_WINDOW_S is storming: its changes are dropped
(the other files of the same batches are acted on), it is said once, and once it has been
quiet for CALM_S it counts as a file like any other again.

    WriteStorms().after(paths, now) -> (next state, the paths to act on, the paths that
                                        just started storming, never said before)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CALM_S", "STORM_BATCHES", "STORM_WINDOW_S", "WriteStorms"]

# Six batches in three seconds: two writes a second, kept up. A person saving one file does
# not; an editor's autosave writes about once a second at most.
STORM_BATCHES = 6
STORM_WINDOW_S = 3.0
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
        storming = {p: last for p, last in self.storming.items() if now - last < CALM_S}
        admitted: set[Path] = set()
        started: list[Path] = []
        for path in sorted(set(paths)):
            times = (*seen.get(path, ()), now)
            seen[path] = times
            if path in storming or len(times) >= STORM_BATCHES:
                if path not in storming and path not in self.said:
                    started.append(path)
                storming[path] = now
            else:
                admitted.add(path)
        state = WriteStorms(seen, storming, self.said | frozenset(started))
        return state, frozenset(admitted), tuple(started)

    def count(self, path: Path) -> int:
        """The path's changes within the window (what the report says)."""
        return len(self.seen.get(path, ()))
