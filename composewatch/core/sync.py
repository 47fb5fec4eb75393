"""A `develop.watch` sync round's work, decided once where the rules are matched (pure):
which saved host file goes to which container path, and which `sync+exec` commands run after
the files. Whether a host file still exists (copy it, or delete its container path) is an
observation the executor makes when it syncs, passed to `split_copies`; the executor decides
nothing else."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from composewatch.core.inplace import Copy

if TYPE_CHECKING:  # the state machine imports SyncCommand: it need not load the compose model
    from composewatch.compose.model import WatchRule

__all__ = ["SyncCommand", "merge_commands", "plan_sync", "split_copies", "sync_destinations"]


@dataclass(frozen=True, order=True)
class SyncCommand:
    """A `sync+exec` rule's command, run in each replica after the round's files."""

    rule: int  # the rule's place in develop.watch: commands run in the rules' order
    command: tuple[str, ...]


def sync_destinations(paths: Iterable[Path], rules: Iterable[WatchRule]) -> dict[Path, str]:
    """Where each changed host path goes in the container, by the first sync rule (one with
    a `target`) that covers it."""
    destinations: dict[Path, str] = {}
    rules = [rule for rule in rules if rule.target]
    for path in paths:
        for rule in rules:
            assert rule.target is not None
            if path.is_relative_to(rule.path):
                relative = path.relative_to(rule.path).as_posix()
                destinations[path] = (
                    rule.target if relative == "." else os.path.join(rule.target, relative)
                )
                break
    return destinations


def plan_sync(
    paths: Iterable[Path], rules: Sequence[WatchRule]
) -> tuple[tuple[Copy, ...], tuple[SyncCommand, ...]]:
    """The copies (container path <- host file) and the `sync+exec` commands a round of these
    changed paths makes: a command runs when any path lies under its rule's path."""
    paths = sorted(paths)
    copies = tuple(Copy(path, dest) for path, dest in sync_destinations(paths, rules).items())
    commands = tuple(
        SyncCommand(number, tuple(rule.exec_["command"]))
        for number, rule in enumerate(rules)
        if rule.action == "sync+exec" and rule.exec_ and rule.exec_.get("command")
        if any(p.is_relative_to(rule.path) for p in paths)
    )
    return copies, commands


def merge_commands(
    a: tuple[SyncCommand, ...], b: tuple[SyncCommand, ...]
) -> tuple[SyncCommand, ...]:
    """Two rounds' commands: each once, in the rules' order."""
    return tuple(sorted(set(a) | set(b)))


def split_copies(
    copies: Iterable[Copy], present: frozenset[Path]
) -> tuple[dict[str, str], list[str]]:
    """The files to copy ({host path: container path}) and the container paths to delete,
    given which host files were `present` when looked at."""
    files = {str(c.source): c.dest for c in copies if c.source in present}
    gone = [c.dest for c in copies if c.source not in present]
    return files, gone
