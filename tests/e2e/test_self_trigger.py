"""composewatch never triggers itself: `up > cw.log` in a project whose build context is its
own folder builds once, a log another process grows in the tree ten times a second is said
once and does not keep a save from being served, and a burst of ten saves 30 ms apart (no
storm) serves the last one."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from composewatch.core.storm import STORM_SPAN_S

REPO = Path(__file__).resolve().parents[2]
CLI = shutil.which("composewatch", path=str(REPO / ".venv" / "bin")) or "composewatch"


def wait_for(log: Path, pattern: str, timeout_s: float, after: int = 0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        found = re.search(pattern, text[after:])
        if found:
            return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} within {timeout_s} s:\n{log.read_text()[-3000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def served(url: str, text: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.read().decode() == text:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def test_its_own_output_and_a_log_in_the_context_never_keep_it_building(
    tmp_path: Path, project_name: str
) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    port = free_port()
    (root / "compose.yaml").write_text(
        f"services:\n  web:\n    build: .\n    ports: ['127.0.0.1:{port}:8000']\n"
        "    stop_grace_period: 1s\n"
    )
    (root / "Dockerfile").write_text(
        'FROM busybox:latest\nCOPY . /www\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n'
    )
    (root / "index.html").write_text("v1\n")
    env = {**os.environ, "COMPOSE_PROJECT_NAME": project_name,
           "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip
    log, err = root / "cw.log", root / "cw.err"
    stop_writing = threading.Event()

    def grow(path: Path) -> Callable[[], None]:
        def write() -> None:
            with path.open("a") as out:
                while not stop_writing.wait(0.1):
                    out.write(f"{time.time()} GET /\n")
                    out.flush()

        return write

    with log.open("w") as out, err.open("w") as errors:
        proc = subprocess.Popen([CLI, "up"], cwd=root, env=env, stdout=out, stderr=errors)
    try:
        wait_for(log, r" watching ", 180)
        time.sleep(3)  # each line printed meanwhile would have been a change in the context
        text = log.read_text()
        assert len(re.findall(r"web\S* building", text)) == 1, text
        assert "newer save" not in text

        writer = threading.Thread(target=grow(root / "access.log"), daemon=True)
        writer.start()
        note = wait_for(log, r"access\.log changed \d+ times in [\d.]+ s[^\n]*", 30)
        assert "/access.log to " in note and ".dockerignore" in note
        assert "x-composewatch.services.web.watch: false" in note
        time.sleep(2)
        mark = len(log.read_text())
        (root / "index.html").write_text("v2\n")
        wait_for(log, r"web live \d+\.\d\d s after the save", 120, after=mark)
        stop_writing.set()
        text = log.read_text()
        # Said once; before it, at most the storm's first batches started builds; after it
        # none did, while the log kept growing for 2 s more.
        assert len(re.findall(r"access\.log changed \d+ times", text)) == 1
        before, after = text.split("access.log changed ", 1)
        # (the Dockerfile copies the whole folder, with no RUN after: updated in place)
        acted = re.findall(r"(?:building|updating in place) \(access\.log changed\)", before)
        assert 1 <= len(acted) <= STORM_SPAN_S * 10 + 2, text
        # After it, at most the round already waiting when it was recognised, and the storm's
        # last state once it calms; never one round per batch again.
        assert after.count("(access.log changed)") <= 2 and "access.log," not in after, text

        # Ten saves 30 ms apart are a burst, not a storm: the last one is served.
        mark = len(log.read_text())
        for n in range(10):
            (root / "index.html").write_text(f"burst {n}\n")
            time.sleep(0.03)
        wait_for(log, r"web live \d+\.\d\d s after the save", 120, after=mark)
        assert served(f"http://127.0.0.1:{port}/", "burst 9\n", 30)
        assert "index.html changed " not in log.read_text()[mark:]  # never taken for a storm
    finally:
        stop_writing.set()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        subprocess.run([CLI, "down"], cwd=root, env=env, capture_output=True, timeout=120)
