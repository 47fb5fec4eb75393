"""The shell's small pieces around `up`, with fakes: which files reload the project, where
git's lock is, and the Ctrl-C handling of `run_up`."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from composewatch.app import load_env_file_paths
from composewatch.compose import ProjectOptions, load_project
from composewatch.watcher import git_locks


def test_env_file_paths_are_the_dot_env_and_each_services_env_file(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  web: {image: busybox, env_file: [conf/web.env, {path: opt.env, required: false}]}\n"
        "  api: {image: busybox, env_file: api.env}\n"
    )
    (tmp_path / "conf").mkdir()
    for name in ("conf/web.env", "api.env"):
        (tmp_path / name).write_text("A=1\n")
    loaded = load_project(ProjectOptions(working_dir=str(tmp_path), environ={}))
    assert load_env_file_paths(loaded) == {
        tmp_path / ".env",
        tmp_path / "conf" / "web.env",
        tmp_path / "opt.env",
        tmp_path / "api.env",
    }


def test_git_locks_are_found_above_the_watched_roots(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "web" / "src").mkdir(parents=True)
    assert git_locks([tmp_path / "web" / "src"]) == {tmp_path / ".git" / "index.lock"}
    assert git_locks([Path("/")]) == set()


def test_the_first_signal_cancels_up_and_says_so() -> None:
    from composewatch import events as ev
    from composewatch.app import Interrupted, run_up

    class Up:
        def __init__(self) -> None:
            self.events: list[ev.Event] = []
            self.cancelled = False

        def ui(self, event: ev.Event) -> None:
            self.events.append(event)

        async def up(self, *, watch: bool) -> bool:
            os.kill(os.getpid(), signal.SIGINT)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
            return True

    session = Up()
    try:
        run_up(session, watch=True)  # type: ignore[arg-type]
    except Interrupted:
        pass
    else:
        raise AssertionError("not interrupted")
    assert session.cancelled
    assert [type(e) for e in session.events] == [ev.Note]
