"""What composewatch writes itself is known by inode (its stdout and stderr, wherever they
point) and by folder (its state), whatever the names."""

from __future__ import annotations

import os
from pathlib import Path

from composewatch.watcher import OwnWrites


def test_its_output_file_is_known_by_inode_under_any_name(tmp_path: Path) -> None:
    log, other = tmp_path / "cw.log", tmp_path / "app.py"
    other.write_text("x")
    with log.open("w") as out:
        own = OwnWrites.load(fds=[out.fileno()])
        os.link(log, tmp_path / "same-file.txt")
        assert log in own and tmp_path / "same-file.txt" in own
        assert other not in own and tmp_path / "gone.txt" not in own


def test_a_terminal_a_pipe_or_a_closed_fd_is_no_file(tmp_path: Path) -> None:
    read, write = os.pipe()
    try:
        assert OwnWrites.load(fds=[write]).files == frozenset()
    finally:
        os.close(read)
        os.close(write)
    assert OwnWrites.load(fds=[write]).files == frozenset()  # closed now


def test_its_state_folder_is_known_by_path(tmp_path: Path) -> None:
    state = tmp_path / "cache" / "composewatch"
    own = OwnWrites.load([state], fds=[])
    assert state / "watchers" / "shop.log" in own
    assert tmp_path / "cache" / "other.json" not in own
