"""Changed paths → services, with .dockerignore and develop.watch rules; no Docker."""

from __future__ import annotations

from pathlib import Path

from composewatch.compose.model import WatchRule
from composewatch.core.action import Action
from composewatch.core.ignore import IgnoreRules
from composewatch.core.inplace import Copy
from composewatch.core.sync import SyncCommand, merge_commands, split_copies, sync_destinations
from composewatch.mapping import (
    WatchTarget,
    is_noise,
    map_changes,
    parse_ignore_file,
    watch_roots,
)

ROOT = Path("/proj")


def target(
    service: str, context: str, ignore: IgnoreRules | tuple[str, ...] = (), **kw: object
) -> WatchTarget:
    ctx = ROOT / context
    dockerfile = kw.pop("dockerfile", ctx / "Dockerfile")
    if isinstance(ignore, tuple):
        ignore = parse_ignore_file("\n".join(ignore))
    return WatchTarget(service, ctx, dockerfile, ignore, **kw)  # type: ignore[arg-type]


def services(paths: list[str], targets: list[WatchTarget]) -> dict[str, set[str]]:
    changes = map_changes([ROOT / p for p in paths], targets)
    return {s: {str(p.relative_to(ROOT)) for p in c.paths} for s, c in changes.items()}


def test_a_file_in_a_context_triggers_only_that_service() -> None:
    targets = [target("api", "api"), target("web", "web")]
    assert services(["api/main.py"], targets) == {"api": {"api/main.py"}}


def test_a_file_in_no_context_triggers_nothing() -> None:
    assert services(["docs/readme.md"], [target("api", "api")]) == {}


def test_a_shared_context_triggers_every_service_that_builds_from_it() -> None:
    targets = [
        target("a", "shared", dockerfile=ROOT / "shared/Dockerfile.a"),
        target("b", "shared", dockerfile=ROOT / "shared/Dockerfile.b"),
    ]
    assert services(["shared/lib.py"], targets) == {"a": {"shared/lib.py"}, "b": {"shared/lib.py"}}
    # Each Dockerfile concerns its own service only... but it is also in the shared context.
    assert set(services(["shared/Dockerfile.a"], targets)) == {"a", "b"}


def test_dockerignore_patterns_exclude_paths_including_whole_directories() -> None:
    ignore = parse_ignore_file("# comment\nignored/\n*.log\n\n!keep.log\nnode_modules\n")
    t = [target("app", "app", ignore)]
    assert services(["app/ignored/x.txt", "app/debug.log", "app/node_modules/a/b.js"], t) == {}
    assert services(["app/keep.log", "app/src/x.py"], t) == {
        "app": {"app/keep.log", "app/src/x.py"}
    }


def test_the_dockerfile_and_dockerignore_always_trigger() -> None:
    t = [target("app", "app", ("Dockerfile", ".dockerignore", "*"))]
    assert services(["app/Dockerfile", "app/.dockerignore"], t) == {
        "app": {"app/Dockerfile", "app/.dockerignore"}
    }


def test_a_dockerfile_outside_the_context_triggers_its_service() -> None:
    t = [target("app", "app/src", dockerfile=ROOT / "docker/app.Dockerfile")]
    assert services(["docker/app.Dockerfile"], t) == {"app": {"docker/app.Dockerfile"}}


def test_noise_never_triggers() -> None:
    for path in [
        ".git/index",
        "app/__pycache__/x.cpython-311.pyc",
        "app/.app.py.swp",
        "app/app.py~",
        "app/.#app.py",
        "app/4913",
    ]:
        assert is_noise(ROOT / path), path
    assert services(["app/.git/HEAD", "app/x.pyc", "app/.main.py.swp"], [target("a", "app")]) == {}
    assert not is_noise(ROOT / "app/app.py")


def test_develop_watch_rules_replace_the_context_and_pick_the_strongest_action() -> None:
    rules = (
        WatchRule(path=str(ROOT / "app/src"), action="sync", target="/app/src"),
        WatchRule(path=str(ROOT / "app/requirements.txt"), action="rebuild"),
        WatchRule(
            path=str(ROOT / "app/conf"), action="sync+restart", target="/etc/app", ignore=["*.bak"]
        ),
    )
    t = [target("app", "app", rules=rules)]
    sync = map_changes([ROOT / "app/src/a.py"], t)["app"]
    assert sync.action is Action.SYNC
    assert sync_destinations(sync.paths, sync.rules) == {ROOT / "app/src/a.py": "/app/src/a.py"}
    assert map_changes([ROOT / "app/conf/x.ini"], t)["app"].action is Action.SYNC_RESTART
    assert map_changes([ROOT / "app/conf/x.bak"], t) == {}
    both = map_changes([ROOT / "app/src/a.py", ROOT / "app/requirements.txt"], t)["app"]
    assert both.action is Action.REBUILD
    # Outside every rule, even inside the build context: nothing, as with compose watch.
    assert map_changes([ROOT / "app/README.md"], t) == {}


def test_rebuild_rules_honour_the_context_dockerignore() -> None:
    rules = (WatchRule(path=str(ROOT / "app"), action="rebuild"),)
    t = [target("app", "app", ("*.md",), rules=rules)]
    assert map_changes([ROOT / "app/notes.md"], t) == {}
    assert map_changes([ROOT / "app/main.go"], t)["app"].action is Action.REBUILD


def test_watch_roots_cover_everything_once(tmp_path: Path) -> None:
    for d in ["a", "a/sub", "b", "docker"]:
        (tmp_path / d).mkdir()
    targets = [
        WatchTarget("x", tmp_path / "a", tmp_path / "a/Dockerfile"),
        WatchTarget("y", tmp_path / "a/sub", tmp_path / "docker/y.Dockerfile"),
        WatchTarget("z", tmp_path / "b", tmp_path / "b/Dockerfile"),
        WatchTarget("img", None, None),
    ]
    assert watch_roots(targets) == [tmp_path / "a", tmp_path / "b", tmp_path / "docker"]


def test_sync_rules_never_ship_what_the_context_ignores() -> None:
    """compose applies the build context's ignore rules to every develop.watch action."""
    rule = WatchRule(path=str(ROOT / "app"), action="sync", target="/app")
    t = [target("app", "app", (".env", "*.pem", "secrets/"), rules=(rule,))]
    assert services(["app/.env", "app/key.pem", "app/secrets/token"], t) == {}
    assert services(["app/main.py"], t) == {"app": {"app/main.py"}}


def test_a_rule_ignore_uses_dockerignore_patterns() -> None:
    rule = WatchRule(path=str(ROOT / "app"), action="sync", target="/app", ignore=["**/*.tmp"])
    t = [target("app", "app", rules=(rule,))]
    assert services(["app/a/b/c.tmp"], t) == {}
    assert services(["app/a/b/c.py"], t) == {"app": {"app/a/b/c.py"}}


def test_the_context_directory_itself_moving_counts() -> None:
    """A context moved away or back (one event on the directory) is checked: its digest
    decides, and a vanished context becomes a failed build with a message."""
    assert services(["api"], [target("api", "api")]) == {"api": {"api"}}


def test_a_sync_change_carries_its_copies_and_commands_matched_once() -> None:
    """mapping decides where each file goes and which `sync+exec` commands run; the executor
    is handed that, and only observes which host files still exist (`split_copies`)."""
    rules = (
        WatchRule(path=str(ROOT / "app/src"), action="sync", target="/app/src"),
        WatchRule.model_validate(
            {"path": str(ROOT / "app/www"), "action": "sync+exec", "target": "/www"}
            | {"exec": {"command": ["kill", "-HUP", "1"]}}
        ),
    )
    t = [target("app", "app", rules=rules)]
    src, www = ROOT / "app/src/a.py", ROOT / "app/www/index.html"
    change = map_changes([src, www], t)["app"]
    assert change.action is Action.SYNC
    assert change.copies == (Copy(src, "/app/src/a.py"), Copy(www, "/www/index.html"))
    assert change.commands == (SyncCommand(1, ("kill", "-HUP", "1")),)
    assert map_changes([src], t)["app"].commands == ()
    files, gone = split_copies(change.copies, present=frozenset({www}))
    assert (files, gone) == ({str(www): "/www/index.html"}, ["/app/src/a.py"])
    assert merge_commands(change.commands, (SyncCommand(0, ("true",)), *change.commands)) == (
        SyncCommand(0, ("true",)),
        SyncCommand(1, ("kill", "-HUP", "1")),
    )
