"""Which services a set of changed paths concerns, and what to do about each.

With zero configuration a path triggers a rebuild of every service whose build context holds
it, unless that context's ignore file excludes it; the service's Dockerfile triggers it
too, wherever it lives. A service with `develop.watch` rules is driven by those rules instead,
as `docker compose watch` does: the build context's ignore rules apply to every rule's action
(a sync never ships what the image would not contain: `.env`, keys...), and so do the rule's
own `ignore` patterns. Ignore rules are moby's (`core.ignore`), compiled once.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from composewatch.compose.model import LoadedProject, WatchRule
from composewatch.core import inplace
from composewatch.core.action import Action
from composewatch.core.ignore import IgnoreRules, parse_ignore
from composewatch.core.inplace import Copy
from composewatch.core.sync import SyncCommand, plan_sync
from composewatch.engine.buildcontext import load_dockerfile_text, load_ignore_rules

__all__ = [
    "ServiceChange",
    "WatchTarget",
    "initial_sync_rules",
    "initial_sync_wanted",
    "is_noise",
    "load_initial_sync",
    "load_watch_targets",
    "locate_dockerfile",
    "map_changes",
    "parse_ignore_file",
    "watch_roots",
]


_RULE_ACTIONS = {
    "sync": Action.SYNC,
    "sync+exec": Action.SYNC,
    "restart": Action.RESTART,
    "sync+restart": Action.SYNC_RESTART,
    "rebuild": Action.REBUILD,
}

# Directories and editor droppings that never describe a change to the code.
_NOISE_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache"})
_NOISE_GLOBS = ("*.pyc", "*.pyo", "*.swp", "*.swx", "*.swo", "*~", ".#*", "#*#", "4913")


_NO_RULES = IgnoreRules()


@dataclass(frozen=True)
class WatchTarget:
    """Everything needed to decide, without I/O, whether a path concerns one service."""

    service: str
    context: Path | None  # absolute, normalised; None for an image-only service
    dockerfile: Path | None  # absolute, normalised, its folder's symlinks resolved (compose's)
    ignore: IgnoreRules = _NO_RULES  # the build context's ignore file, compiled
    rules: tuple[WatchRule, ...] = ()
    # What the Dockerfile lets a save update in place (None: never, e.g. turned off).
    routes: inplace.Routes | None = None
    covered: tuple[str, ...] = ()  # container paths under a bind mount, volume or tmpfs
    # The Dockerfile's other spelling, through a symlinked folder, as a watched root above
    # that folder reports it (`locate_dockerfile`).
    dockerfile_alias: Path | None = None

    def is_dockerfile(self, path: Path) -> bool:
        return self.dockerfile is not None and path in (self.dockerfile, self.dockerfile_alias)


@dataclass(frozen=True)
class ServiceChange:
    action: Action
    paths: frozenset[Path]
    rules: tuple[WatchRule, ...] = ()  # the develop.watch rules that fired (for sync targets)
    # For an in-place update or a sync: container path <- host file (a missing file is deleted)
    copies: tuple[Copy, ...] = ()
    why: str = ""  # the Dockerfile line that decided between in place and rebuild
    commands: tuple[SyncCommand, ...] = ()  # for a sync: the `sync+exec` commands to run


def parse_ignore_file(text: str, source: str = ".dockerignore") -> IgnoreRules:
    """An ignore file's rules, as moby reads them."""
    return parse_ignore(text, source)


def load_watch_targets(
    loaded: LoadedProject, in_place: Callable[[str], bool] = lambda service: True
) -> list[WatchTarget]:
    """Read each build context's ignore file (`<Dockerfile>.dockerignore` first, as BuildKit
    does) and Dockerfile, and pair them with the service's rules. `in_place(service)` says
    whether the settings let a save update that service's container in place."""
    targets = []
    for name, service in loaded.project.services.items():
        context = dockerfile = alias = None
        ignore = IgnoreRules()
        routes = None
        rules = tuple(service.develop.watch or ()) if service.develop else ()
        if service.build is not None and not _is_remote(service.build.context):
            context = Path(os.path.normpath(service.build.context))
            if service.build.dockerfile_inline is None:
                dockerfile, alias = locate_dockerfile(context, service.build.dockerfile)
            ignore, _ = load_ignore_rules(context, dockerfile)
            # volumes_from mounts another container's volumes at paths unknown here.
            allowed = in_place(name) and not rules and not getattr(service, "volumes_from", None)
            text = load_dockerfile_text(service.build) if allowed else None
            if text is not None:
                shown = dockerfile.name if dockerfile is not None else "dockerfile_inline"
                args = service.build.args or {}
                routes = inplace.analyse(
                    text, target=service.build.target, build_args=args, dockerfile_name=shown
                )
        covered = tuple(v.target for v in service.volumes or ()) + _tmpfs(
            getattr(service, "tmpfs", None)
        )
        targets.append(
            WatchTarget(name, context, dockerfile, ignore, rules, routes, covered, alias)
        )
    return targets


def _tmpfs(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value.split(":")[0],)
    if isinstance(value, list):
        return tuple(str(v).split(":")[0] for v in value)
    return ()


def locate_dockerfile(context: Path, dockerfile: str | None) -> tuple[Path, Path | None]:
    """Where a build's Dockerfile is, as compose finds it (`dockerFilePath`): joined to the
    context unless absolute, without `..`, its folder's symlinks resolved; and, when that
    differs, its lexical spelling (None otherwise).

    Lexically `api/../docker` is inside `api/`: an unresolved path made the folder of a
    Dockerfile beside the context look watched, and never equal to the saved file's path.
    """
    lexical = Path(os.path.normpath(context / (dockerfile or "Dockerfile")))
    try:
        folder = lexical.parent.resolve(strict=True)
    except OSError:  # missing (the build says so) or unreadable: keep the spelling
        return lexical, None
    located = folder / lexical.name
    return located, (lexical if lexical != located else None)


def watch_roots(targets: Iterable[WatchTarget]) -> list[Path]:
    """The smallest set of existing directories that covers every context, rule and Dockerfile."""
    candidates: set[Path] = set()
    for target in targets:
        if target.rules:
            candidates.update(Path(rule.path) for rule in target.rules)
        elif target.context is not None:
            candidates.add(target.context)
        if target.dockerfile is not None:
            candidates.add(target.dockerfile.parent)
    existing = sorted(p if p.is_dir() else p.parent for p in candidates if p.exists())
    roots: list[Path] = []
    for path in existing:
        if not any(path.is_relative_to(root) for root in roots):
            roots.append(path)
    return roots


def is_noise(path: Path) -> bool:
    if any(part in _NOISE_DIRS for part in path.parts):
        return True
    return any(fnmatch.fnmatchcase(path.name, glob) for glob in _NOISE_GLOBS)


def map_changes(paths: Iterable[Path], targets: Iterable[WatchTarget]) -> dict[str, ServiceChange]:
    """Pure: the services the changed (absolute) paths concern, with the action each needs."""
    relevant = [p for p in paths if not is_noise(p)]
    changes: dict[str, ServiceChange] = {}
    for target in targets:
        hits: dict[Path, tuple[Action, WatchRule | None]] = {}
        for path in relevant:
            hit = _classify(path, target)
            if hit is not None:
                hits[path] = hit
        if not hits:
            continue
        action = max(action for action, _ in hits.values())
        rules: list[WatchRule] = []
        for _, rule in hits.values():
            if rule is not None and rule not in rules:
                rules.append(rule)
        change = ServiceChange(action, frozenset(hits), tuple(rules))
        if action is Action.REBUILD and not rules:
            change = _in_place_or_rebuild(change, target)
        elif action in (Action.SYNC, Action.SYNC_RESTART):
            copies, commands = plan_sync(hits, target.rules)
            change = replace(change, copies=copies, commands=commands)
        if change.action is not Action.UPDATE or change.copies:
            changes[target.service] = change
    return changes


def _in_place_or_rebuild(change: ServiceChange, target: WatchTarget) -> ServiceChange:
    """A save to a build context: in place when the Dockerfile proves it safe (`core.inplace`),
    else a rebuild that says why. No copy at all: nothing the image holds changed."""
    if any(target.is_dockerfile(path) for path in change.paths):
        return replace(change, why="rebuild: the Dockerfile changed")
    if target.routes is None or target.context is None:
        return change
    covered = target.covered

    def is_covered(dest: str) -> bool:
        return any(dest == c or dest.startswith(c.rstrip("/") + "/") for c in covered)

    decided = inplace.plan(
        target.routes, target.context, change.paths, covered=is_covered, is_dir=Path.is_dir
    )
    if isinstance(decided, inplace.InPlace):
        return replace(change, action=Action.UPDATE, copies=decided.copies, why=decided.why)
    return replace(change, why=decided.why)


def _classify(path: Path, target: WatchTarget) -> tuple[Action, WatchRule | None] | None:
    if target.is_dockerfile(path):  # wherever it lives
        return Action.REBUILD, None
    if target.rules:
        return _classify_by_rules(path, target)
    # A changed ignore file changes what the context holds, wherever it lives.
    if _in_build_context(path, target) or _is_ignore_file(path, target):
        return Action.REBUILD, None
    return None


def _in_build_context(path: Path, target: WatchTarget) -> bool:
    if target.context is None or not path.is_relative_to(target.context):
        return False
    relative = path.relative_to(target.context).as_posix()
    if relative == ".":
        return True  # the context itself was created, moved or deleted: the digest decides
    return relative == ".dockerignore" or not target.ignore.excluded(relative)


def _is_ignore_file(path: Path, target: WatchTarget) -> bool:
    """The ignore file in force: changing it changes what the context holds."""
    source = target.ignore.source
    return path == Path(source) if source else False


def _classify_by_rules(path: Path, target: WatchTarget) -> tuple[Action, WatchRule] | None:
    best: tuple[Action, WatchRule] | None = None
    for rule in target.rules:
        root = Path(rule.path)
        if not path.is_relative_to(root):
            continue
        relative = path.relative_to(root).as_posix()
        if not _rule_admits(rule, relative):
            continue
        action = _RULE_ACTIONS[rule.action]
        # compose applies the build context's ignore rules to every watch rule.
        if _ignored_by_context(path, target):
            continue
        if best is None or action > best[0]:
            best = (action, rule)
    return best


def _rule_admits(rule: WatchRule, relative: str) -> bool:
    if rule.include and not any(_glob_match(relative, glob) for glob in rule.include):
        return False
    return not (rule.ignore and _rule_ignore(tuple(rule.ignore)).excluded(relative))


@functools.lru_cache(maxsize=256)
def _rule_ignore(patterns: tuple[str, ...]) -> IgnoreRules:
    return parse_ignore("\n".join(patterns), "develop.watch ignore")


def _glob_match(relative: str, glob: str) -> bool:
    name = PurePosixPath(relative).name
    return fnmatch.fnmatchcase(relative, glob) or fnmatch.fnmatchcase(name, glob)


def _ignored_by_context(path: Path, target: WatchTarget) -> bool:
    if target.context is None or not path.is_relative_to(target.context):
        return False
    relative = path.relative_to(target.context).as_posix()
    return relative != "." and target.ignore.excluded(relative)


def _is_remote(context: str) -> bool:
    return "://" in context or context.startswith("git@")


# initial_sync ─────────────────────────────────────────────────────────────────────────────
# compose 2.40 (`watch.go`, initialSync): when `watch` (or `up --watch`) starts, each sync
# rule with `initial_sync: true` copies the files under its path modified since the service's
# image was made, skipping what the rule or the build context ignores, .git and editor files,
# and what a bind mount already shares. compose only copies; here the copy is a sync round
# of the core like a save's, so a `sync+exec` rule's command runs after it (no restart).

_SYNC_ACTIONS = frozenset({"sync", "sync+restart", "sync+exec"})


def initial_sync_rules(target: WatchTarget) -> tuple[WatchRule, ...]:
    return tuple(
        rule
        for rule in target.rules
        if rule.initial_sync and rule.action in _SYNC_ACTIONS and rule.target
    )


def initial_sync_wanted(
    target: WatchTarget,
    rule: WatchRule,
    path: Path,
    mtime_s: float,
    since_s: float,
    binds: Iterable[Path] = (),
) -> bool:
    """Pure: whether the initial sync of `rule` copies `path`, a file modified at `mtime_s`,
    into a container whose image was made at `since_s`."""
    root = Path(rule.path)
    if mtime_s < since_s or not path.is_relative_to(root) or is_noise(path):
        return False
    if any(path.is_relative_to(bind) for bind in binds):
        return False  # the container sees the host's file already
    relative = path.relative_to(root).as_posix()
    if relative != "." and not _rule_admits(rule, relative):
        return False
    return not _ignored_by_context(path, target)


def load_initial_sync(
    target: WatchTarget, since_s: float, binds: Iterable[Path] = ()
) -> frozenset[Path]:
    """The files the target's initial_sync rules copy (walked without following symlinked
    folders, as compose walks; folders nothing inside could be wanted from are skipped)."""
    binds = tuple(binds)
    found: set[Path] = set()
    for rule in initial_sync_rules(target):
        root = Path(rule.path)
        candidates: list[Path] = [root] if root.is_file() else []
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            dirs[:] = [d for d in dirs if not _skipped(here / d, target, binds)]
            candidates.extend(here / name for name in files)
        for path in candidates:
            try:
                mtime_s = path.lstat().st_mtime
            except OSError:  # gone meanwhile
                continue
            if initial_sync_wanted(target, rule, path, mtime_s, since_s, binds):
                found.add(path)
    return frozenset(found)


def _skipped(folder: Path, target: WatchTarget, binds: tuple[Path, ...]) -> bool:
    if is_noise(folder) or any(folder.is_relative_to(bind) for bind in binds):
        return True
    if target.context is None or not folder.is_relative_to(target.context):
        return False
    relative = folder.relative_to(target.context).as_posix()
    return target.ignore.excluded(relative) and not target.ignore.may_reinclude_under(relative)
