"""A host port another program holds: `up` says which compose file and key publish it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = shutil.which("composewatch", path=str(REPO / ".venv" / "bin")) or "composewatch"


def test_a_port_in_use_names_the_file_and_the_key(tmp_path: Path, project_name: str) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        compose = tmp_path / "compose.yaml"
        compose.write_text(
            "services:\n  web:\n    image: busybox:latest\n    command: [sleep, '3600']\n"
            f"    ports: ['127.0.0.1::81', '{port}:80']\n"
        )
        env = {**os.environ, "COMPOSE_PROJECT_NAME": project_name,
               "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip
        try:
            done = subprocess.run(
                [CLI, "up", "--no-watch"], cwd=tmp_path, env=env, capture_output=True,
                text=True, timeout=180,
            )  # fmt: skip
        finally:
            subprocess.run([CLI, "down"], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert f"{compose}: services.web.ports[1] publishes host port {port}" in " ".join(said.split())
    assert "Traceback" not in said
