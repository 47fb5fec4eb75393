"""The direct writes of an in-place update (`engine.procroot`), on a folder standing in for a
container's root: what lands, and what is left to the engine's archive API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from composewatch.core.inplace import Copy
from composewatch.engine import procroot

pytestmark = pytest.mark.skipif(not hasattr(os, "O_PATH"), reason="Linux only")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    folder = tmp_path / "root"
    (folder / "app").mkdir(parents=True)
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    yield folder, fd
    os.close(fd)


def ours(_spec: str | None) -> tuple[int, int]:
    return os.getuid(), os.getgid()


def test_a_copy_replaces_the_file_with_the_content_mode_and_time(
    root: tuple[Path, int], tmp_path: Path
) -> None:
    folder, fd = root
    (folder / "app" / "app.py").write_text("old\n")
    source = tmp_path / "app.py"
    source.write_text("new\n")
    os.utime(source, (1_700_000_000.5, 1_700_000_000.5))
    procroot.write_copies(fd, [Copy(source, "/app/app.py", mode=0o640)], ours)
    written = folder / "app" / "app.py"
    assert written.read_text() == "new\n"
    assert written.stat().st_mode & 0o7777 == 0o640
    assert written.stat().st_mtime == 1_700_000_000  # whole seconds, as the tar carries it
    assert sorted(p.name for p in (folder / "app").iterdir()) == ["app.py"]  # no temporary left


def test_without_chmod_the_host_mode_goes(root: tuple[Path, int], tmp_path: Path) -> None:
    folder, fd = root
    source = tmp_path / "run.sh"
    source.write_text("#!/bin/sh\n")
    source.chmod(0o751)
    procroot.write_copies(fd, [Copy(source, "/app/run.sh")], ours)
    assert (folder / "app" / "run.sh").stat().st_mode & 0o7777 == 0o751


def test_a_link_on_the_way_is_left_to_the_engine_and_nothing_is_written_outside(
    root: tuple[Path, int], tmp_path: Path
) -> None:
    folder, fd = root
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "linked").symlink_to(outside)  # as a container's absolute link resolves here
    source = tmp_path / "a.txt"
    source.write_text("x\n")
    with pytest.raises(procroot.NotHere):
        procroot.write_copies(fd, [Copy(source, "/linked/a.txt")], ours)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("dest", ["/app/../a.txt", "/missing/a.txt", "/", "/app/./a"])
def test_paths_it_does_not_follow_are_left_to_the_engine(
    root: tuple[Path, int], tmp_path: Path, dest: str
) -> None:
    _, fd = root
    source = tmp_path / "a.txt"
    source.write_text("x\n")
    with pytest.raises(procroot.NotHere):
        procroot.write_copies(fd, [Copy(source, dest)], ours)


def test_a_folder_at_the_source_is_left_to_the_engine(
    root: tuple[Path, int], tmp_path: Path
) -> None:
    _, fd = root
    (tmp_path / "dir").mkdir()
    with pytest.raises(procroot.NotHere):
        procroot.write_copies(fd, [Copy(tmp_path / "dir", "/app/dir")], ours)


def test_a_link_at_the_source_is_copied_as_a_link(root: tuple[Path, int], tmp_path: Path) -> None:
    folder, fd = root
    (tmp_path / "current").symlink_to("releases/7")
    procroot.write_copies(fd, [Copy(tmp_path / "current", "/app/current")], ours)
    assert os.readlink(folder / "app" / "current") == "releases/7"


def test_deleted_files_are_removed_and_gone_ones_are_fine(root: tuple[Path, int]) -> None:
    folder, fd = root
    (folder / "app" / "old.html").write_text("x")
    procroot.delete_paths(fd, ["/app/old.html", "/app/never.html"])
    assert list((folder / "app").iterdir()) == []


def test_a_folder_to_delete_is_left_to_the_engine(root: tuple[Path, int]) -> None:
    folder, fd = root
    (folder / "app" / "sub").mkdir()
    with pytest.raises(procroot.NotHere):
        procroot.delete_paths(fd, ["/app/sub"])
    assert (folder / "app" / "sub").is_dir()


def test_read_text_reads_a_file_and_gives_nothing_for_a_missing_one(
    root: tuple[Path, int],
) -> None:
    folder, fd = root
    (folder / "etc").mkdir()
    (folder / "etc" / "passwd").write_text("app:x:1000:1001::/home/app:/bin/sh\n")
    assert procroot.read_text(fd, "/etc/passwd").startswith("app:x:1000")
    assert procroot.read_text(fd, "/etc/group") == ""


def test_a_process_that_is_not_the_container_is_refused() -> None:
    with pytest.raises(procroot.NotHere), procroot.open_root(os.getpid(), "0123abcd" * 8):
        pass
    with pytest.raises(procroot.NotHere), procroot.open_root(0, "abc"):
        pass
