"""What a change asks of a service: the core's vocabulary, shared by mapping and the state
machine."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Action", "merge_actions"]


class Action(IntEnum):
    """What a change asks of a service; when several apply, the highest wins (`merge_actions`
    has the one exception)."""

    SYNC = 1
    RESTART = 2
    SYNC_RESTART = 3
    UPDATE = 4  # copy the saved files into the running container and restart it (in place)
    RECREATE = 5  # the service's configuration changed: a new container from the same image
    REBUILD = 6


def merge_actions(a: Action, b: Action) -> Action:
    """Two changes met in one round: the one that does both. A recreate starts from the
    image, which lacks the files an in-place update would copy, so the pair needs a build."""
    if {a, b} == {Action.UPDATE, Action.RECREATE}:
        return Action.REBUILD
    return max(a, b)
