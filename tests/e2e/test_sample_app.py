"""The whole loop as a user runs it: `composewatch up` on a copy of sample-flask-app, an edit
to app.py, and the new text served over HTTP. Real CLI, real engine, real Flask."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from clirun import sigint_default

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return None


def wait_for_event(stream: IO[str], name: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line.rstrip())
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == name:
            return dict(record)
    raise AssertionError(f"no {name} event within {timeout_s} s; output:\n" + "\n".join(seen))


@pytest.fixture
def sample_app(tmp_path: Path, project_name: str) -> Iterator[tuple[Path, int]]:
    app = tmp_path / "sample-flask-app"
    shutil.copytree(REPO / "sample-flask-app", app)
    port = free_port()
    compose = app / "docker-compose.yml"
    text = compose.read_text()
    text = text.replace("127.0.0.1:5000:5000", f"127.0.0.1:{port}:5000")
    text = text.replace("container_name: sample-flask-app", f"container_name: {project_name}-web")
    # The project's own image name, so the clean-up finds it (and the build a save replaced).
    text = text.replace("image: sample-flask-app:dev", f"image: {project_name}-web:dev")
    compose.write_text(text)
    yield app, port


@contextlib.contextmanager
def watching(app: Path, project_name: str) -> Iterator[subprocess.Popen[str]]:
    """`composewatch up --json` as a user runs it, until it watches; Ctrl-C at the end."""
    command = [sys.executable, "-m", "composewatch", "-p", project_name, "up", "--json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DOCKER_BUILDKIT", None)
    proc = subprocess.Popen(
        command,
        cwd=app,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=sigint_default,
    )
    assert proc.stdout is not None
    try:
        wait_for_event(proc.stdout, "Watching", timeout_s=240)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_save_to_served_with_the_real_cli(sample_app: tuple[Path, int], project_name: str) -> None:
    app, port = sample_app
    url = f"http://127.0.0.1:{port}/"
    with watching(app, project_name) as proc:
        assert proc.stdout is not None
        assert fetch(url) == "Hello, Docker!"

        source = app / "app.py"
        saved = time.time()
        source.write_text(source.read_text().replace("Hello, Docker!", "Hello, Flask!"))
        live = wait_for_event(proc.stdout, "Live", timeout_s=60)
        assert fetch(url) == "Hello, Flask!"
        assert live["service"] == "web"
        assert 0 < live["since_save_s"] < 30
        phases = [phase for phase, _ in live["timings"]]
        # app.py reaches the image only through the last COPY: updated in place
        assert live["how"] == "in place"
        assert phases == ["detect", "copy", "restart", "checking"]
        print(f"save to served: {live['t'] - saved:.2f} s; phases {live['timings']}")
    assert proc.returncode in (0, 130)
    # Ctrl-C stops watching, not serving.
    assert fetch(url) == "Hello, Flask!"
    down = subprocess.run(
        [sys.executable, "-m", "composewatch", "-p", project_name, "down"],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 0, down.stderr
    assert fetch(url) is None
