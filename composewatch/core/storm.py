"""Which changed files are a write storm, not saves (pure).

A file written again and again, several times a second (a log growing inside a build
context, a tool's status file), would otherwise start a build per write, each one
superseding the last, so no save would ever be served. A file whose changes keep coming,
never more than STORM_GAP_S apart, for STORM_SPAN_S, is storming: its changes are dropped
(the other files of the same batches are acted on) and it is said once. A burst of saves is
no storm (ten saves in a third of a second build the last one), nor are bursts a second or
more apart. Once a storming file has been quiet for CALM_S, `calmed` hands it over once, so
its last state is acted on, and it counts as a file like any other again.

    WriteStorms().after(paths, now) -> (next state, the paths to act on, the paths that
                                        just started storming, never said before)
    WriteStorms().calmed(now)       -> (next state, the storming paths quiet since CALM_S)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CALM_S", "STORM_GAP_S", "STORM_SPAN_S", "WriteStorms"]

# Changes at most half a second apart, kept up for two seconds: a program writing, not a
# person saving (who pauses, and whose editor's autosave waits for a pause too).
STORM_GAP_S = 0.5
STORM_SPAN_S = 2.0
CALM_S = 5.0


@dataclass(frozen=True)
class _Run:
    """One path's changes in a row, each at most STORM_GAP_S after the one before."""

    started: float
    last: float
    changes: int


@dataclass(frozen=True)
class WriteStorms:
    runs: Mapping[Path, _Run] = field(default_factory=dict)  # runs that may still go on
    storming: Mapping[Path, float] = field(default_factory=dict)  # path -> its last change
    said: frozenset[Path] = frozenset()

    def after(
        self, paths: Iterable[Path], now: float
    ) -> tuple[WriteStorms, frozenset[Path], tuple[Path, ...]]:
        runs = {p: run for p, run in self.runs.items() if now - run.last <= STORM_GAP_S}
        storming = dict(self.storming)  # left only through `calmed` or a change after calm
        admitted: set[Path] = set()
        started: list[Path] = []
        for path in sorted(set(paths)):
            before = runs.get(path)
            run = (
                _Run(before.started, now, before.changes + 1)
                if before is not None
                else _Run(now, now, 1)
            )
            runs[path] = run
            if path in storming and now - storming[path] >= CALM_S:
                del storming[path]  # calm since: this change carries its last state
            if path in storming or now - run.started >= STORM_SPAN_S:
                if path not in storming and path not in self.said:
                    started.append(path)
                storming[path] = now
            else:
                admitted.add(path)
        state = WriteStorms(runs, storming, self.said | frozenset(started))
        return state, frozenset(admitted), tuple(started)

    def calmed(self, now: float) -> tuple[WriteStorms, frozenset[Path]]:
        """The storming paths quiet for CALM_S: no longer storming, and to be acted on once
        (their last changes were dropped)."""
        quiet = frozenset(p for p, last in self.storming.items() if now - last >= CALM_S)
        if not quiet:
            return self, quiet
        storming = {p: last for p, last in self.storming.items() if p not in quiet}
        return WriteStorms(self.runs, storming, self.said), quiet

    def count(self, path: Path) -> int:
        """The changes of the path's current run (what the report says)."""
        run = self.runs.get(path)
        return run.changes if run is not None else 0

    def span_s(self, path: Path) -> float:
        run = self.runs.get(path)
        return run.last - run.started if run is not None else 0.0
