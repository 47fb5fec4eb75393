"""A `docker init`-style project (a Dockerfile that only BuildKit builds: cache mount, bind
mount of requirements.txt, non-root user) through the real CLI: up, edit, the edit served."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from test_sample_app import REPO, fetch, free_port, wait_for_event, watching


def test_buildkit_only_project_edit_is_served(tmp_path: Path, project_name: str) -> None:
    app = tmp_path / "app"
    shutil.copytree(REPO / "fixtures" / "docker-init-python", app)
    port = free_port()
    compose = app / "compose.yaml"
    compose.write_text(compose.read_text().replace("127.0.0.1:18061:", f"127.0.0.1:{port}:"))
    url = f"http://127.0.0.1:{port}/"
    try:
        with watching(app, project_name) as proc:
            assert proc.stdout is not None
            assert fetch(url) == "Hello from docker init!"
            source = app / "app.py"
            saved = time.time()
            source.write_text(source.read_text().replace("from docker init", "after a save"))
            live = wait_for_event(proc.stdout, "Live", timeout_s=60)
            assert fetch(url) == "Hello after a save!"
            print(f"docker init app, save to served: {live['t'] - saved:.2f} s; {live['timings']}")
    finally:
        subprocess.run(
            [sys.executable, "-m", "composewatch", "-p", project_name, "down"],
            cwd=app, capture_output=True, timeout=60,
        )  # fmt: skip
        subprocess.run(["docker", "rmi", "-f", f"{project_name}-server"], capture_output=True)
