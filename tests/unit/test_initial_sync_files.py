"""`develop.watch[].initial_sync`, as compose 2.40 does it: the files of a sync rule modified
since the service's image was made, less what the rule or the build context ignores, .git and
editor files, and bind-mounted paths. No Docker: mtimes are set with os.utime."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from composewatch.compose.model import WatchRule
from composewatch.mapping import (
    WatchTarget,
    initial_sync_rules,
    initial_sync_wanted,
    load_initial_sync,
    parse_ignore_file,
)

ROOT = Path("/proj")
IMAGE_MADE = 1_000.0
RULE = WatchRule(
    path=str(ROOT / "app/src"),
    action="sync",
    target="/srv/src",
    initial_sync=True,
    ignore=["*.tmp"],
)
TARGET = WatchTarget(
    "app",
    ROOT / "app",
    ROOT / "app/Dockerfile",
    parse_ignore_file("secrets/\n**/*.pem\n"),
    (RULE,),
)


@pytest.mark.parametrize(
    ("path", "mtime_s", "binds", "wanted"),
    [
        ("app/src/main.py", 1_500.0, (), True),
        ("app/src/main.py", IMAGE_MADE, (), True),  # not before the image: copied
        ("app/src/main.py", 999.9, (), False),  # in the image already
        ("app/src/deep/er/x.py", 1_500.0, (), True),
        ("app/src/x.tmp", 1_500.0, (), False),  # the rule's ignore
        ("app/src/key.pem", 1_500.0, (), False),  # the build context's ignore
        ("app/src/.git/HEAD", 1_500.0, (), False),
        ("app/src/.main.py.swp", 1_500.0, (), False),
        ("app/src/mounted/a.py", 1_500.0, ("app/src/mounted",), False),
        ("app/other/main.py", 1_500.0, (), False),  # not under the rule
    ],
)
def test_initial_sync_wanted(
    path: str, mtime_s: float, binds: tuple[str, ...], wanted: bool
) -> None:
    bind_paths = [ROOT / b for b in binds]
    assert initial_sync_wanted(TARGET, RULE, ROOT / path, mtime_s, IMAGE_MADE, bind_paths) is wanted


@pytest.mark.parametrize(
    ("rule", "chosen"),
    [
        (RULE, True),
        (WatchRule(path="/p", action="sync+restart", target="/t", initial_sync=True), True),
        (WatchRule(path="/p", action="sync+exec", target="/t", initial_sync=True), True),
        (WatchRule(path="/p", action="sync", target="/t"), False),  # not asked
        (WatchRule(path="/p", action="sync", target="/t", initial_sync=False), False),
        (WatchRule(path="/p", action="rebuild", initial_sync=True), False),  # nothing to copy
    ],
)
def test_only_sync_rules_that_ask_for_it(rule: WatchRule, chosen: bool) -> None:
    target = WatchTarget("app", None, None, rules=(rule,))
    assert initial_sync_rules(target) == ((rule,) if chosen else ())


def touch(path: Path, mtime_s: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(path.name)
    os.utime(path, (mtime_s, mtime_s))
    return path


def test_load_initial_sync_walks_the_rule_paths(tmp_path: Path) -> None:
    app = tmp_path / "app"
    rule = WatchRule(path=str(app / "src"), action="sync", target="/srv", initial_sync=True)
    single = WatchRule(path=str(app / "conf.ini"), action="sync", target="/etc/conf.ini",
                       initial_sync=True)  # fmt: skip
    target = WatchTarget("app", app, app / "Dockerfile", parse_ignore_file("**/node_modules\n"),
                         (rule, single))  # fmt: skip
    new = touch(app / "src" / "pkg" / "new.py", 2_000.0)
    touch(app / "src" / "old.py", 10.0)
    touch(app / "src" / "node_modules" / "dep" / "index.js", 2_000.0)  # skipped whole
    touch(app / "src" / "__pycache__" / "new.cpython-311.pyc", 2_000.0)
    touch(app / "src" / "shared" / "mounted.py", 2_000.0)
    conf = touch(app / "conf.ini", 2_000.0)
    found = load_initial_sync(target, IMAGE_MADE, [app / "src" / "shared"])
    assert found == {new, conf}
    assert load_initial_sync(target, 3_000.0) == set()  # all older than the image
