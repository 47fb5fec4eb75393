"""Builds that need the BuildKit session, against real parts the tests start themselves: a
private registry with htpasswd auth (Debian's `docker-registry`) for `FROM`, build secrets
from a file and from the environment, and a real `ssh-agent` forwarded into a `RUN`.

The tools come from Debian (`scripts/ensure-test-tools` installs them); without them these
tests skip locally and fail in CI, like every Docker test.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from conftest import in_ci

from composewatch.compose.model import LoadedProject, Project
from composewatch.engine.builder import build_image, check_build_inputs
from composewatch.errors import BuildContextError, BuildError


def run_out(client: docker.DockerClient, image: str, command: list[str]) -> bytes:
    """What `command` prints in a container of `image`. The engine copies a container's output
    to its log after `wait` may return, so an empty log is read again for a moment (docker-py's
    `containers.run` reads it once: an empty answer now and then)."""
    container = client.containers.create(image, command)
    try:
        container.start()
        container.wait()
        deadline = time.monotonic() + 5
        while True:
            out = container.logs(stdout=True, stderr=False)
            if out or time.monotonic() > deadline:
                return bytes(out)
            time.sleep(0.05)
    finally:
        container.remove(force=True)


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        msg = f"{', '.join(missing)} not installed; run scripts/ensure-test-tools"
        if in_ci():
            pytest.fail(f"CI=true: {msg}", pytrace=False)
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    username: str
    password: str


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's docker-registry on 127.0.0.1, htpasswd (bcrypt) auth, storage in tmp."""
    _need("docker-registry", "htpasswd")
    root = tmp_path_factory.mktemp("registry")
    user, password = "cwuser", "cw-" + hashlib.sha256(str(root).encode()).hexdigest()[:12]
    htpasswd = subprocess.run(
        ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True
    ).stdout
    (root / "htpasswd").write_text(htpasswd)
    port = _free_port()
    (root / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: cw-test\n    path: {root / 'htpasswd'}\n"
    )
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen(
        ["docker-registry", "serve", str(root / "config.yml")], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    break  # up, and asking for credentials
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not start: {(root / 'registry.log').read_text()}")
            time.sleep(0.1)
        yield Registry(f"127.0.0.1:{port}", user, password)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _docker_config(directory: Path, auths: dict[str, tuple[str, str]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    entries = {
        host: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()}
        for host, (u, p) in auths.items()
    }
    (directory / "config.json").write_text(json.dumps({"auths": entries}))
    return directory


@pytest.fixture
def private_base(
    docker_client: docker.DockerClient, registry: Registry, project_name: str
) -> Iterator[str]:
    """busybox pushed (with auth) to the registry as a new repository; no local copy."""
    repository = f"{registry.host}/{project_name}/base"
    docker_client.images.get("busybox:latest").tag(repository, "1")
    auth = {"username": registry.username, "password": registry.password}
    try:
        for message in docker_client.api.push(
            repository, tag="1", auth_config=auth, stream=True, decode=True
        ):
            assert "error" not in message, message
    finally:
        docker_client.images.remove(f"{repository}:1")
    yield f"{repository}:1"
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(f"{repository}:1", force=True)


def _loaded(
    name: str,
    context: Path,
    environment: dict[str, str] | None = None,
    top_secrets: dict[str, object] | None = None,
    **build: object,
) -> LoadedProject:
    document: dict[str, object] = {
        "name": name,
        "services": {"app": {"build": {"context": str(context), **build}}},
    }
    if top_secrets:
        document["secrets"] = top_secrets
    return LoadedProject(
        project=Project.model_validate(document), working_dir=str(context),
        config_files=["compose.yaml"], environment=environment or {},
    )  # fmt: skip


@pytest.fixture
def tag(docker_client: docker.DockerClient, project_name: str) -> Iterator[str]:
    name = f"{project_name}-app"
    yield name
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(name, force=True)


def test_private_base_image_is_pulled_with_the_docker_config_credentials(
    docker_client: docker.DockerClient,
    registry: Registry,
    private_base: str,
    tag: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {private_base}\nRUN echo private > /from\n")
    loaded = _loaded(tag, context)

    # Without a login the registry says 401: the session is what carries the credentials.
    monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(tmp_path / "nologin", {})))
    with pytest.raises(BuildError) as info:
        build_image(docker_client, loaded, "app", tag=tag, on_log=lambda _: None)
    assert "401" in str(info.value)
    assert f"registry {registry.host} are not in the docker config" in str(info.value)
    wrong = {registry.host: (registry.username, "wrong-password")}
    monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(tmp_path / "wrong", wrong)))
    with pytest.raises(BuildError) as info:
        build_image(docker_client, loaded, "app", tag=tag, on_log=lambda _: None)
    assert f"registry {registry.host} were refused" in str(info.value)
    assert "wrong-password" not in str(info.value)

    login = {registry.host: (registry.username, registry.password)}
    monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(tmp_path / "login", login)))
    lines: list[str] = []
    image_id = build_image(docker_client, loaded, "app", tag=tag, on_log=lines.append)
    out = run_out(docker_client, image_id, ["cat", "/from"])
    assert out == b"private\n"
    assert not any(registry.password in line for line in lines)


def test_build_secrets_reach_the_mount_and_stay_out_of_the_image(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path
) -> None:
    file_value, env_value = "file-secret-7f3a", "env-secret-91bc"
    (tmp_path / "token.txt").write_text(file_value)
    context = tmp_path / "app"
    context.mkdir()
    # The build records only the secrets' digests; the test compares them with its own.
    # ENV makes this test's RUN its own: BuildKit keys a RUN's cache without the secrets'
    # values, so another run's layer (another value) would otherwise be reused.
    (context / "Dockerfile").write_text(
        f"FROM busybox:latest\nENV RUN_OF={tag}\n"
        "RUN --mount=type=secret,id=token --mount=type=secret,id=api_key "
        "sha256sum /run/secrets/token /run/secrets/api_key | cut -d' ' -f1 > /sums && "
        "ls /run/secrets > /listed\n"
        "RUN test ! -e /run/secrets/token && echo gone > /after\n"
    )
    loaded = _loaded(
        tag, context, environment={"API_KEY": env_value},
        top_secrets={"token": {"file": str(tmp_path / "token.txt")},
                     "api": {"environment": "API_KEY"}},
        secrets=[{"source": "token"}, {"source": "api", "target": "api_key"}],
    )  # fmt: skip
    check_build_inputs(loaded, ["app"])
    lines: list[str] = []
    image_id = build_image(docker_client, loaded, "app", tag=tag, on_log=lines.append)
    out = run_out(docker_client, image_id, ["cat", "/sums", "/listed", "/after"]).decode()
    expected = [hashlib.sha256(v.encode()).hexdigest() for v in (file_value, env_value)]
    assert out.split() == [*expected, "api_key", "token", "gone"]
    assert not any(file_value in line or env_value in line for line in lines)
    history = json.dumps(docker_client.images.get(image_id).history())
    assert file_value not in history and env_value not in history


def test_a_missing_secret_source_is_refused_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\n")
    loaded = _loaded("p", tmp_path, top_secrets={"s": {"environment": "NOT_SET_ANYWHERE"}},
                     secrets=["s"])  # fmt: skip
    with pytest.raises(BuildContextError, match=r"services\.app\.build\.secrets: .*NOT_SET"):
        check_build_inputs(loaded, ["app"])


_AGENT_PROBE = """\
import os, socket, struct
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["SSH_AUTH_SOCK"])
s.sendall(struct.pack(">IB", 1, 11))  # SSH_AGENTC_REQUEST_IDENTITIES
def read(n):
    data = b""
    while len(data) < n:
        data += s.recv(n - len(data))
    return data
(size,) = struct.unpack(">I", read(4))
body = read(size)
assert body[0] == 12, body[0]  # SSH_AGENT_IDENTITIES_ANSWER
(count,) = struct.unpack(">I", body[1:5])
pos, comments = 5, []
for _ in range(count):
    (n,) = struct.unpack(">I", body[pos:pos + 4]); pos += 4 + n
    (n,) = struct.unpack(">I", body[pos:pos + 4]); comments.append(body[pos + 4:pos + 4 + n])
    pos += 4 + n
print(count, b",".join(comments).decode())
"""


@pytest.fixture
def ssh_agent(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real ssh-agent holding one new key: (socket path, the key's comment)."""
    _need("ssh-agent", "ssh-add", "ssh-keygen")
    sock = tmp_path / "agent.sock"
    comment = f"cw-test-{tmp_path.name}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(tmp_path / "key")], check=True)  # fmt: skip
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert agent.poll() is None and time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": "/usr/bin:/bin"}
        subprocess.run(["ssh-add", "-q", str(tmp_path / "key")], env=env, check=True)
        yield str(sock), comment
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_build_ssh_forwards_the_agent_into_run(
    docker_client: docker.DockerClient,
    tag: str,
    tmp_path: Path,
    ssh_agent: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sock, comment = ssh_agent
    monkeypatch.setenv("SSH_AUTH_SOCK", sock)
    context = tmp_path / "app"
    context.mkdir()
    (context / "probe.py").write_text(_AGENT_PROBE)
    (context / "Dockerfile").write_text(
        "FROM python:3.11-slim\nCOPY probe.py /probe.py\n"
        "RUN --mount=type=ssh python3 /probe.py > /agent.txt\n"
    )
    loaded = _loaded(tag, context, ssh=["default"])
    check_build_inputs(loaded, ["app"])
    image_id = build_image(docker_client, loaded, "app", tag=tag, on_log=lambda _: None)
    out = run_out(docker_client, image_id, ["cat", "/agent.txt"])
    assert out.decode().split() == ["1", comment]


def _agents_started_for_builds() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if b"composewatch-ssh-" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
    return found


def test_build_ssh_key_files_go_through_a_private_agent_stopped_after_the_build(
    docker_client: docker.DockerClient,
    tag: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _need("ssh-agent", "ssh-add", "ssh-keygen")
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    comment = f"cw-key-{tmp_path.name}"
    key = tmp_path / "deploy_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(key)], check=True)  # fmt: skip
    context = tmp_path / "app"
    context.mkdir()
    (context / "probe.py").write_text(_AGENT_PROBE)
    (context / "Dockerfile").write_text(
        "FROM python:3.11-slim\nCOPY probe.py /probe.py\n"
        "RUN --mount=type=ssh,id=deploy python3 /probe.py > /agent.txt\n"
    )
    loaded = _loaded(tag, context, ssh=[f"deploy={key}"])
    check_build_inputs(loaded, ["app"])
    before = _agents_started_for_builds()
    image_id = build_image(docker_client, loaded, "app", tag=tag, on_log=lambda _: None)
    out = run_out(docker_client, image_id, ["cat", "/agent.txt"])
    assert out.decode().split() == ["1", comment]
    assert _agents_started_for_builds() == before  # the private agent is gone

    locked = tmp_path / "locked_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase",
                    "-f", str(locked)], check=True)  # fmt: skip
    with pytest.raises(BuildContextError, match=r"ssh-add could not load the key .*locked_key"):
        build_image(docker_client, _loaded(tag, context, ssh=[f"deploy={locked}"]), "app",
                    tag=tag, on_log=lambda _: None)  # fmt: skip
    assert _agents_started_for_builds() == before


def test_build_ssh_without_an_agent_is_refused_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\n")
    with pytest.raises(BuildContextError, match=r"services\.app\.build\.ssh: 'default'"):
        check_build_inputs(_loaded("p", tmp_path, ssh=["default"]), ["app"])
    loaded = _loaded("p", tmp_path, ssh=[f"deploy={tmp_path / 'no_such_key'}"])
    with pytest.raises(BuildContextError, match="neither an agent socket nor a readable key"):
        check_build_inputs(loaded, ["app"])


def test_additional_context_directories_reach_copy_mount_and_from(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path, project_name: str
) -> None:
    shared = tmp_path / "shared"
    (shared / "lib").mkdir(parents=True)
    (shared / "lib" / "greeting.txt").write_text("from the shared directory\n")
    (shared / "skipped.txt").write_text("ignored")
    (shared / ".dockerignore").write_text("skipped.txt\n")
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM shared AS files\n"
        "FROM busybox:latest\n"
        "COPY --from=shared /lib/greeting.txt /copied.txt\n"
        "RUN --mount=from=shared,target=/mnt cat /mnt/lib/greeting.txt > /mounted.txt && "
        "ls /mnt > /listed.txt\n"
        "COPY --from=files /lib /stage-lib\n"
    )
    loaded = _loaded(project_name, context, additional_contexts={"shared": str(shared)})
    check_build_inputs(loaded, ["app"])
    helper = f"{project_name}-app-context-shared"
    try:
        image_id = build_image(docker_client, loaded, "app", tag=tag, on_log=lambda _: None)
        out = run_out(
            docker_client,
            image_id,
            ["cat", "/copied.txt", "/mounted.txt", "/stage-lib/greeting.txt", "/listed.txt"],
        ).decode()
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(helper, force=True)
    assert out.split("\n") == ["from the shared directory"] * 3 + ["lib", ""]


def test_a_missing_additional_context_directory_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\n")
    loaded = _loaded("p", tmp_path, additional_contexts={"shared": str(tmp_path / "nope")})
    with pytest.raises(BuildContextError, match=r"build\.additional_contexts\.shared: .*nope"):
        check_build_inputs(loaded, ["app"])


@pytest.mark.parametrize(
    ("dockerfile", "named"),
    [
        ("FROM busybox:latest\nRUN <<EOF\necho hi > /x\nEOF\n", "a heredoc (`<<EOF`)"),
        ("FROM busybox:latest\nCOPY --link Dockerfile /d\n", "`COPY --link`"),
    ],
)
def test_syntax_newer_than_the_engine_frontend_is_named_with_its_line(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path, dockerfile: str, named: str
) -> None:
    if docker_client.version().get("Version", "").split(".")[0] not in ("19", "20"):
        pytest.skip("this engine's frontend knows heredocs and --link")  # engines 23+
    (tmp_path / "Dockerfile").write_text(dockerfile)
    with pytest.raises(BuildError) as info:
        build_image(docker_client, _loaded(tag, tmp_path), "app", tag=tag, on_log=lambda _: None)
    text = str(info.value)
    assert "Dockerfile, line 2:" in text and named in text and "Way out" in text, text


def test_a_save_sends_only_the_changed_file_through_the_session(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path
) -> None:
    context = tmp_path / "app"
    (context / "data").mkdir(parents=True)
    for i in range(20):
        (context / "data" / f"f{i}.bin").write_bytes(bytes([i]) * 50_000)
    (context / "main.txt").write_text("v1\n")
    (context / "secret.env").write_text("never sent\n")
    (context / ".dockerignore").write_text("secret.env\n")
    (context / "Dockerfile").write_text("FROM busybox:latest\nCOPY . /app\n")
    loaded = _loaded(tag, context)

    def build() -> tuple[str, str]:
        lines: list[str] = []
        image_id = build_image(docker_client, loaded, "app", tag=tag, on_log=lines.append)
        return image_id, next(line for line in lines if line.startswith("context: "))

    _, first = build()
    assert first.startswith("context: 23 of 23 files sent"), first  # 20 + main, ignore, Dockerfile
    (context / "main.txt").write_text("v2\n")
    image_id, second = build()
    assert second.startswith("context: 1 of 23 files sent") and "(3 bytes;" in second, second
    out = run_out(docker_client, image_id, ["sh", "-c", "cat /app/main.txt; ls /app"]).decode()
    assert out.split() == ["v2", "Dockerfile", "data", "main.txt"]


@pytest.fixture
def engine_over_tcp(docker_client: docker.DockerClient) -> Iterator[docker.DockerClient]:
    """A client reaching the engine by TCP on 127.0.0.1, through a relay to its unix socket
    made here, so the session's dialer is tried on the TCP transport too."""
    path = docker_client.api.get_adapter(docker_client.api.base_url).__dict__.get("socket_path")
    if not path:
        pytest.skip("the engine is not on a unix socket here")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def relay() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                engine = socket.socket(socket.AF_UNIX)
                engine.connect(path)
                threading.Thread(target=pump, args=(client, engine), daemon=True).start()
                threading.Thread(target=pump, args=(engine, client), daemon=True).start()

    threading.Thread(target=relay, daemon=True).start()
    client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{port}", version="auto")
    try:
        yield client
    finally:
        client.close()
        listener.close()


def test_the_session_works_over_a_tcp_engine(
    engine_over_tcp: docker.DockerClient,
    docker_client: docker.DockerClient,
    tag: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "token.txt").write_text("over-tcp")
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM busybox:latest\nENV RUN_OF={tag}\n"  # this run's RUN, not a cached one
        "RUN --mount=type=secret,id=token cp /run/secrets/token /got\n"
    )
    loaded = _loaded(tag, context, top_secrets={"token": {"file": str(tmp_path / "token.txt")}},
                     secrets=["token"])  # fmt: skip
    lines: list[str] = []
    image_id = build_image(engine_over_tcp, loaded, "app", tag=tag, on_log=lines.append)
    assert any(line.startswith("context: ") for line in lines), lines  # not a tar
    out = run_out(engine_over_tcp, image_id, ["cat", "/got"])
    direct = run_out(docker_client, image_id, ["cat", "/got"])
    assert (out, direct) == (b"over-tcp", b"over-tcp")


@pytest.mark.parametrize("where", ["inline", "outside", "subfolder"])
def test_the_dockerfile_reaches_the_session_wherever_it_lives(
    docker_client: docker.DockerClient, tag: str, tmp_path: Path, where: str
) -> None:
    context = tmp_path / "app"
    (context / "sub").mkdir(parents=True)
    (context / "hello.txt").write_text("hello\n")
    text = f"FROM busybox:latest\nCOPY . /app\nRUN echo {where} > /where\n"
    build: dict[str, Any] = {}
    if where == "inline":
        build["dockerfile_inline"] = text
    elif where == "outside":
        (tmp_path / "docker").mkdir()
        (tmp_path / "docker" / "app.Dockerfile").write_text(text)
        build["dockerfile"] = "../docker/app.Dockerfile"
    else:
        (context / "sub" / "app.Dockerfile").write_text(text)
        build["dockerfile"] = "sub/app.Dockerfile"
    loaded = _loaded(tag, context, **build)
    image_id = build_image(docker_client, loaded, "app", tag=tag, on_log=lambda _: None)
    out = run_out(docker_client, image_id, ["sh", "-c", "cat /where; ls -A /app /app/sub"]).decode()
    # The Dockerfile travels apart from the context: `COPY . .` sees only the context's files.
    expected_sub = ["app.Dockerfile"] if where == "subfolder" else []
    assert out.split() == [where, "/app:", "hello.txt", "sub", "/app/sub:", *expected_sub]


def test_secrets_with_the_classic_builder_are_refused_naming_the_key(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    (tmp_path / "token.txt").write_text("x")
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\n")
    loaded = _loaded("p", tmp_path, top_secrets={"t": {"file": str(tmp_path / "token.txt")}},
                     secrets=["t"])  # fmt: skip
    with pytest.raises(BuildContextError, match=r"build\.secrets: the classic builder"):
        build_image(docker_client, loaded, "app", tag="p-app", on_log=lambda _: None,
                    builder="classic")  # fmt: skip


def test_the_cli_builds_a_private_base_with_a_secret_and_a_context_directory(
    docker_client: docker.DockerClient,
    registry: Registry,
    private_base: str,
    project_name: str,
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    (project / "shared").mkdir(parents=True)
    (project / "shared" / "greeting.txt").write_text("shared hello\n")
    (project / "Dockerfile").write_text(
        f"FROM {private_base}\nENV RUN_OF={project}\n"  # this run's RUN, not a cached one
        "RUN --mount=type=secret,id=token sha256sum /run/secrets/token | cut -d' ' -f1 > /sum\n"
        "COPY --from=shared greeting.txt /greeting.txt\n"
    )
    (project / "compose.yaml").write_text(
        "services:\n  app:\n    build:\n      context: .\n      secrets: [token]\n"
        "      additional_contexts:\n        shared: ./shared\n"
        "secrets:\n  token:\n    environment: CW_TOKEN\n"
    )
    login = {registry.host: (registry.username, registry.password)}
    env = {
        **os.environ,
        "DOCKER_CONFIG": str(_docker_config(tmp_path / "login", login)),
        "CW_TOKEN": "cli-token-5d2e",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "composewatch", "-p", project_name, "build"],
            cwd=project, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "cli-token-5d2e" not in done.stdout + done.stderr
        out = run_out(
            docker_client, f"{project_name}-app", ["cat", "/sum", "/greeting.txt"]
        ).decode()
        assert out.split("\n") == [
            hashlib.sha256(b"cli-token-5d2e").hexdigest(),
            "shared hello",
            "",
        ]
    finally:
        for image in (f"{project_name}-app", f"{project_name}-app-context-shared"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(image, force=True)
