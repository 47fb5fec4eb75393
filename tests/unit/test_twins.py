"""One name, one concept: what the executor reports to the core (`core.inputs`) and what the
core asks it to do (`core.effects`) never share a name with what the user is told
(`composewatch.events`, the `--json` schema). A failed build comes in as `BuildErrored` and
goes out as `ev.BuildFailed`; two types under one name read as one fact and are not."""

from __future__ import annotations

import inspect
from types import ModuleType

from composewatch import events
from composewatch.core import effects, inputs


def type_names(module: ModuleType) -> set[str]:
    """The classes a module defines (not those it imports), and the names it exports."""
    defined = {
        name
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and obj.__module__ == module.__name__
    }
    return defined | set(getattr(module, "__all__", ()))


def test_no_core_input_or_effect_is_named_like_a_user_event() -> None:
    core = type_names(inputs) | type_names(effects)
    assert sorted(core & type_names(events)) == []


def test_the_names_compared_are_the_modules_own() -> None:
    # A check that found no classes would pass for any twin: the kinds on both sides are there.
    assert {"BuildErrored", "CheckFailed", "Committed"} <= type_names(inputs)
    assert {"Swap", "Rollback", "Report"} <= type_names(effects)
    assert {"BuildFailed", "RolledBack", "Live"} <= type_names(events)
    assert "dataclass" not in type_names(events)  # imported, not its own
