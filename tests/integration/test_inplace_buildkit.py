"""The in-place analysis agrees with BuildKit: each Dockerfile is built by the engine
(`/build?version=2`), and every copy `plan` proposes for a context file names the path where
the image holds that file, with its content, owner and mode. Stages after the build target
are not built (the `prod` stage below would fail). `--link` is left out: Engine 20.10's
built-in Dockerfile frontend does not know it (and a `# syntax=` line needs a registry)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import docker
import pytest

from composewatch.core.inplace import InPlace, analyse, plan

LABEL = "com.docker.compose.project"
FILES = {
    "app.py": "print('app')\n",
    "pkg/a.py": "A = 1\n",
    "my file.txt": "spaced\n",
    "notes.txt": "notes\n",
    "src/m.py": "M = 2\n",
    "src/deep/n.py": "N = 3\n",
    "static/css/site.css": "body {}\n",
    "config/prod.yaml": "prod: true\n",
    "a.py": "a\n",
    "b.py": "b\n",
    "site/index.html": "<p>hi</p>\n",
    "data/a1.txt": "a1\n",
    "data/c1.txt": "c1\n",
    "lib/l.py": "L = 4\n",
    "main.py": "main\n",
}
PRIVATE = "pkg/a.py"  # mode 0600 on the host, to see the host mode carried over

CASES = [
    ("whole-context", "FROM busybox:latest\nWORKDIR /app\nCOPY . .\n", None,
     set(FILES)),
    ("many-forms", """FROM busybox:latest
WORKDIR /srv
WORKDIR web
COPY --chown=1234:55 --chmod=640 src/ ./src/
COPY static ./public
COPY config/prod.yaml /etc/app/config.yaml
COPY *.txt /texts/
COPY ["my file.txt", "/data/"]
COPY a.py b.py /multi/
""", None, {"src/m.py", "src/deep/n.py", "static/css/site.css", "config/prod.yaml",
            "notes.txt", "my file.txt", "a.py", "b.py"}),
    ("args-env-link", """FROM busybox:latest
ARG D=/opt/x
ENV E=$D/sub
COPY app.py $E/
COPY --chown=7 site/ /www/
""", None, {"app.py", "site/index.html"}),
    ("target", """FROM busybox:latest AS base
WORKDIR /w
FROM base AS dev
COPY . ./
FROM dev AS prod
RUN false
""", "dev", set(FILES)),
    ("globs-and-known-dirs", """FROM busybox:latest
COPY data/[ab]?.txt /d/
COPY lib/ /opt/app/lib/
COPY main.py /opt/app
""", None, {"data/a1.txt", "lib/l.py", "main.py"}),
]  # fmt: skip


def write_context(root: Path, dockerfile: str) -> None:
    for rel, text in {**FILES, "Dockerfile": dockerfile}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.chmod(root / PRIVATE, 0o600)


def context_tar(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return buffer.getvalue()


def buildkit_build(client: docker.DockerClient, root: Path, tag: str, project: str,
                   target: str | None) -> None:  # fmt: skip
    api = client.api
    params = {"t": tag, "version": "2", "rm": "1", "labels": json.dumps({LABEL: project})}
    if target:
        params["target"] = target
    response = api.post(
        f"{api.base_url}/v{api.api_version}/build",
        params=params,
        data=context_tar(root),
        headers={"Content-Type": "application/x-tar"},
        stream=True,
    )
    errors = [
        message["error"]
        for line in response.iter_lines()
        if line and "error" in (message := json.loads(line))
    ]
    assert response.status_code == 200 and not errors, errors


def image_file(client: docker.DockerClient, image: str, project: str, dest: str) -> tarfile.TarInfo:
    container = client.containers.create(image, labels={LABEL: project})
    try:
        stream, _ = container.get_archive(dest)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.getmembers()[0]
            extracted = tar.extractfile(member)
            assert extracted is not None, dest
            member.pax_headers = {"content": extracted.read().decode()}
            return member
    finally:
        container.remove(force=True)


@pytest.mark.parametrize(("case", "dockerfile", "target", "in_place"), CASES,
                         ids=[case[0] for case in CASES])  # fmt: skip
def test_copies_name_where_buildkit_puts_each_file(
    case: str,
    dockerfile: str,
    target: str | None,
    in_place: set[str],
    tmp_path: Path,
    docker_client: docker.DockerClient,
) -> None:
    # Its own name, not the `project_name` fixture: that one's teardown lists every image on
    # the engine, which races with other test runs removing theirs (ImageNotFound). This test
    # removes the one image it builds and each container it creates.
    project_name = f"cwtest-{uuid.uuid4().hex[:8]}"
    write_context(tmp_path, dockerfile)
    tag = f"{project_name}-{case}:latest"
    buildkit_build(docker_client, tmp_path, tag, project_name, target)
    try:
        routes = analyse(dockerfile, target=target, build_args={})
        routed = set()
        for rel in [*FILES, "Dockerfile"]:
            decided = plan(routes, tmp_path, [tmp_path / rel], is_dir=Path.is_dir)
            if not isinstance(decided, InPlace) or not decided.copies:
                continue
            routed.add(rel)
            for copy in decided.copies:
                member = image_file(docker_client, tag, project_name, copy.dest)
                host = tmp_path / rel
                assert member.pax_headers["content"] == host.read_text(), (rel, copy)
                mode = copy.mode if copy.mode is not None else host.stat().st_mode & 0o7777
                assert member.mode & 0o7777 == mode, (rel, copy)
                uid, _, gid = (copy.owner or "0:0").partition(":")
                assert (member.uid, member.gid) == (int(uid), int(gid or uid)), (rel, copy)
        assert routed == in_place
    finally:
        docker_client.images.remove(tag, force=True)
