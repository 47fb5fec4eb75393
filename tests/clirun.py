"""The installed CLI's entry point run as a subprocess, kept away from any engine."""

from __future__ import annotations

import os
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
