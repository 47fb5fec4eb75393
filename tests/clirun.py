"""The installed CLI's entry point run as a subprocess, kept away from any engine; and what a
child that a test will Ctrl-C needs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def cw(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m composewatch ARGS` in `cwd`, with DOCKER_HOST on a socket that is not there."""
    environ = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock", **env}
    return subprocess.run(
        [sys.executable, "-m", "composewatch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )


def sigint_default() -> None:
    """`preexec_fn` (or the child's side of a fork) for a process a test will send SIGINT:
    SIGINT back to its default disposition, so the child is interrupted as from a terminal.

    A suite started from a non-interactive background job (`cmd &`, nohup, CI runners) runs
    with SIGINT ignored, children inherit that through exec, and a Python child that starts
    with SIGINT ignored never raises KeyboardInterrupt. subprocess's `restore_signals` does
    not cover SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
