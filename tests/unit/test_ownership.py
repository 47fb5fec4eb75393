"""Who owns a synced file: the container's `User` resolved as the runtime resolves it."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from composewatch.core.ownership import (
    Owner,
    UnknownOwner,
    needs_account_files,
    resolve_owner,
)
from composewatch.engine.synccopy import sync_archive

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment
broken line
app:x:1234:1234::/home/app:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
node:x:1000:1000::/home/node:/bin/sh
"""
GROUP = """\
root:x:0:
app:x:1234:
staff:x:50:app
node:x:1000:
"""


@pytest.mark.parametrize(
    ("spec", "owner"),
    [
        ("", Owner(0, 0)),
        ("root", Owner(0, 0)),
        ("app", Owner(1234, 1234)),  # the image's USER app: its passwd group
        ("www-data", Owner(33, 33)),
        ("1000", Owner(1000, 1000)),  # a number in passwd: that entry's group
        ("4242", Owner(4242, 0)),  # a number not in passwd: group 0, as runc
        ("app:staff", Owner(1234, 50)),
        ("app:50", Owner(1234, 50)),
        ("1234:4321", Owner(1234, 4321)),  # numbers need no entry
        ("node:app", Owner(1000, 1234)),
        ("app:", Owner(1234, 1234)),  # an empty group is no group
    ],
)
def test_resolve_owner(spec: str, owner: Owner) -> None:
    assert resolve_owner(spec, PASSWD, GROUP) == owner


@pytest.mark.parametrize(
    ("spec", "passwd", "group", "owner"),
    [
        ("1234:4321", None, None, Owner(1234, 4321)),
        ("1234", None, None, Owner(1234, 0)),  # no passwd file (FROM scratch)
        ("", None, None, Owner(0, 0)),
    ],
)
def test_without_account_files(
    spec: str, passwd: str | None, group: str | None, owner: Owner
) -> None:
    assert resolve_owner(spec, passwd, group) == owner


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nobody-here", "no user 'nobody-here' in the container's /etc/passwd"),
        ("app:wheel", "no group 'wheel' in the container's /etc/group"),
    ],
)
def test_unknown_names_are_said(spec: str, message: str) -> None:
    with pytest.raises(UnknownOwner, match=message):
        resolve_owner(spec, PASSWD, GROUP)


@pytest.mark.parametrize(
    ("spec", "needs"),
    [("", False), ("1000:1000", False), ("1000", True), ("app", True), ("0:staff", True)],
)
def test_needs_account_files(spec: str, needs: bool) -> None:
    assert needs_account_files(spec) is needs


def test_the_archive_carries_the_owner_and_the_host_modes(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    script = tmp_path / "src" / "pkg" / "run.sh"
    script.write_text("echo hi\n")
    os.chmod(script, 0o750)
    (tmp_path / "one.txt").write_text("1")
    data = sync_archive(
        {str(tmp_path / "src"): "/app/src", str(tmp_path / "one.txt"): "/app/one.txt"},
        Owner(1234, 50),
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"app/src", "app/src/pkg", "app/src/pkg/run.sh", "app/one.txt"}
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(1234, 50, "", "")}
    assert members["app/src/pkg/run.sh"].mode == 0o750
