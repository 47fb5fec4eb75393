"""`explain PATH`: what a save of PATH would do, per service, and why not where it would not.

The answer comes from the same functions the watcher uses (mapping.map_changes for the
action, core.commands for the commands on save), so it cannot drift from what a save does;
this module only adds the reason when nothing happens.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.core.action import Action
from composewatch.core.commands import CommandRule, choose_commands
from composewatch.core.ignore import IgnoreRules
from composewatch.engine.buildcontext import load_ignore_rules
from composewatch.mapping import (
    WatchTarget,
    is_noise,
    load_watch_targets,
    map_changes,
)

__all__ = ["Verdict", "explain_path", "ignore_rule"]

_ACTION_NAMES = {
    Action.SYNC: "sync",
    Action.RESTART: "restart",
    Action.SYNC_RESTART: "sync+restart",
    Action.UPDATE: "in place",
    Action.RECREATE: "recreate",
    Action.REBUILD: "rebuild",
}


@dataclass(frozen=True)
class Verdict:
    subject: str  # a service name, "project", or "command"
    action: str | None  # rebuild, sync, restart, sync+restart, reload, command; None: nothing
    reason: str


def ignore_rule(
    context: Path, relative: str, dockerfile: Path | None = None
) -> tuple[Path, int, str] | None:
    """The ignore-file line that excludes `relative` from the build: (file, line, pattern).

    The rules are moby's (`core.ignore`): the last matching rule decides, `!` re-includes, a
    rule matching a parent directory excludes what is inside; `<Dockerfile>.dockerignore`
    comes before `.dockerignore`, as BuildKit reads them.
    """
    rules, _ = load_ignore_rules(context, dockerfile)
    return _deciding(rules, relative)


def _deciding(rules: IgnoreRules, relative: str) -> tuple[Path, int, str] | None:
    rule = rules.deciding_rule(relative)
    if rule is None:
        return None
    return Path(rule.source), rule.line, rule.pattern


def explain_path(
    loaded: LoadedProject, settings: Settings, path: Path, rules: Sequence[CommandRule]
) -> list[Verdict]:
    # As the watcher reports a save: absolute, without `..` (`docker/../api/x` is `api/x`).
    path = Path(os.path.normpath(path.absolute()))
    verdicts: list[Verdict] = []
    if str(path) in loaded.config_files:
        verdicts.append(
            Verdict(
                "project",
                "reload",
                "a compose file: services whose configuration changed are rebuilt or recreated",
            )
        )
    if is_noise(path):
        verdicts.append(
            Verdict(
                "project",
                None,
                "never triggers: VCS, cache and editor files are ignored "
                "(.git/, __pycache__/, *.pyc, *.swp, *~ ...)",
            )
        )
        return verdicts
    for target in load_watch_targets(loaded, settings.updates_in_place):
        verdicts.append(_for_service(target, path, settings))
    project_dir = Path(loaded.config_files[0]).parent if loaded.config_files else Path.cwd()
    if path.is_relative_to(project_dir):
        relative = path.relative_to(project_dir).as_posix()
        for rule, _, command in choose_commands(rules, [(relative, str(path))]):
            where = f"in {rule.service}'s container" if rule.service else "on the host"
            verdicts.append(
                Verdict(
                    "command",
                    "command",
                    f"[{rule.pattern}] {command.shown}  ({where}; {rule.source})",
                )
            )
    return verdicts


def _for_service(target: WatchTarget, path: Path, settings: Settings) -> Verdict:
    name = target.service
    change = map_changes([path], [target]).get(name)
    if change is not None and not settings.for_service(name).watch:
        return Verdict(
            name,
            None,
            f"would {_ACTION_NAMES[change.action]}, but "
            f"x-composewatch.services.{name}.watch is false",
        )
    if change is not None:
        if change.rules:
            rule = change.rules[0]
            why = f"develop.watch rule path {rule.path} (action {rule.action})"
        elif target.is_dockerfile(path):
            why = "its Dockerfile"
            if target.context is not None and not path.is_relative_to(target.context):
                why += f" (outside its build context {target.context}, watched there too)"
        else:
            why = f"in its build context {target.context}"
            if change.why:  # in place or rebuild, and the Dockerfile line that decided it
                why = f"{why}; {change.why}"
        return Verdict(name, _ACTION_NAMES[change.action], why)
    if target.rules:
        return Verdict(
            name,
            None,
            "matches none of its develop.watch rules "
            f"({', '.join(f'{r.path}' for r in target.rules)})",
        )
    if target.context is None:
        return Verdict(name, None, "no build context (an image-only service)")
    if not path.is_relative_to(target.context):
        return Verdict(name, None, f"outside its build context {target.context}")
    relative = path.relative_to(target.context).as_posix()
    found = _deciding(target.ignore, relative)
    if found is not None:
        file, line, pattern = found
        return Verdict(name, None, f"excluded by {file} line {line} ({pattern})")
    if relative != "." and target.routes is not None:
        dockerfile = target.routes.dockerfile_name
        return Verdict(
            name, None, f"in its build context, but no instruction of {dockerfile} copies it"
        )
    return Verdict(name, None, "the build context itself")
