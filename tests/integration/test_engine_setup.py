"""Proves the engine and base images are real (see scripts/ensure-engine)."""

from __future__ import annotations

import time
import urllib.request

import docker
import pytest

BASE_IMAGES = ("python:3.11-slim", "busybox:latest")
# Outside the fixtures' 18000-18099 so it can run beside them.
HOST_PORT = 18990


@pytest.mark.parametrize("image", BASE_IMAGES)
def test_base_image_exists(docker_client: docker.DockerClient, image: str) -> None:
    docker_client.images.get(image)


def test_busybox_httpd_serves_on_loopback(
    docker_client: docker.DockerClient, project_name: str
) -> None:
    # Labelled with the project so the project_name fixture removes it.
    container = docker_client.containers.run(
        "busybox:latest",
        [
            "sh",
            "-c",
            "mkdir -p /www && echo engine-ok > /www/index.html && exec httpd -f -p 8080 -h /www",
        ],
        detach=True,
        labels={"com.docker.compose.project": project_name},
        ports={"8080/tcp": ("127.0.0.1", HOST_PORT)},
    )
    url = f"http://127.0.0.1:{HOST_PORT}/"
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                assert resp.read().decode().strip() == "engine-ok"
                return
        except OSError:
            if time.monotonic() > deadline:
                logs = container.logs().decode(errors="replace")
                raise AssertionError(f"{url} did not answer; container logs:\n{logs}") from None
            time.sleep(0.2)
