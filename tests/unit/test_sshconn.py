"""The ssh transport: the docker CLI's URL rules and command, and a connection's behaviour
against a stand-in `ssh` on PATH that speaks HTTP on its stdin and stdout (no sshd, no engine:
tests/integration/test_ssh_engine.py runs the real ones)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import docker
import pytest
import requests

from composewatch.engine.sshconn import (
    SshTarget,
    _Dialled,
    _SshAdapter,
    control_dir,
    dial_command,
    open_ssh_client,
    parse_ssh_url,
)
from composewatch.errors import EngineContextError, EngineUnavailable


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("ssh://host", SshTarget("host")),
        ("ssh://me@host", SshTarget("host", "me")),
        ("ssh://me@host:2222", SshTarget("host", "me", 2222)),
        ("ssh://host/", SshTarget("host")),
        (
            "ssh://me@10.0.0.2/run/user/1000/docker.sock",
            SshTarget("10.0.0.2", "me", None, "/run/user/1000/docker.sock"),
        ),
    ],
)
def test_parse_ssh_url(url: str, target: SshTarget) -> None:
    assert parse_ssh_url(url) == target


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ssh://me:hunter2@host", "a password in the URL is not supported"),
        ("ssh://host?x=1", "query parameters and fragments are not allowed"),
        ("ssh://host#frag", "query parameters and fragments are not allowed"),
        ("ssh://", "no host name"),
        ("ssh://host:99999", "the port is not a number"),
    ],
)
def test_parse_ssh_url_refuses_what_the_docker_cli_refuses(url: str, problem: str) -> None:
    with pytest.raises(EngineContextError, match=problem) as caught:
        parse_ssh_url(url)
    assert "hunter2" not in str(caught.value)


def test_dial_command_is_the_docker_clis() -> None:
    assert dial_command(SshTarget("host", "me", 2222)) == [
        "ssh", "-l", "me", "-p", "2222", "-o", "ConnectTimeout=30", "-o", "BatchMode=yes",
        "-T", "--", "host", "docker system dial-stdio",
    ]  # fmt: skip
    with_socket = dial_command(SshTarget("h", socket_path="/run/my docker.sock"))
    remote = "docker '--host=unix:///run/my docker.sock' system dial-stdio"
    assert with_socket[-3:] == ["--", "h", remote]
    shared = dial_command(SshTarget("h"), Path("/tmp/cw"))
    assert shared[shared.index("-T") - 6 :shared.index("-T")] == [
        "-o", "ControlMaster=auto", "-o", "ControlPath=/tmp/cw/%C", "-o", "ControlPersist=60",
    ]  # fmt: skip


def test_control_dir_is_private_or_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    folder = control_dir()
    assert folder is not None and folder.parent == tmp_path
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o777)  # someone else could reach our control sockets
    assert control_dir() is None


FAKE_SSH = """\
#!{python}
import os, sys
with open({log!r}, "a") as log:
    log.write("%d\\n" % os.getpid())
if "--" not in sys.argv or sys.argv[-1] != "docker system dial-stdio":
    sys.exit("wrong command: %r" % sys.argv)
if {refuse!r}:
    sys.stderr.write("root@127.0.0.1: Permission denied (publickey).\\n")
    sys.exit(255)
inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    line = inp.readline()
    if not line:
        break
    path, length = line.split()[1].decode(), 0
    while (header := inp.readline()) not in (b"\\r\\n", b""):
        if header.lower().startswith(b"content-length:"):
            length = int(header.split(b":")[1])
    inp.read(length)
    if path == "/version":
        body = b'{{"ApiVersion": "1.41"}}'
        out.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(body), body))
        out.flush()
    else:  # a stream the server ends by closing, as the engine ends an exec's output
        out.write(b"HTTP/1.1 200 OK\\r\\nX-Pid: %d\\r\\n" % os.getpid())
        out.write(b"Content-Type: application/vnd.docker.raw-stream")
        out.write(b"\\r\\n\\r\\n")
        for n in range(3):
            out.write(b"part %d\\n" % n)
            out.flush()
        break
"""


def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, refuse: bool = False) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "ssh"
    log = tmp_path / "dialled"
    script.write_text(FAKE_SSH.format(python=sys.executable, refuse=refuse, log=str(log)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))


def test_a_stream_ended_by_closing_arrives_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ssh(tmp_path, monkeypatch)
    client = open_ssh_client("ssh://root@127.0.0.1:2222", timeout_s=10)
    api = client.api
    assert api.api_version == "1.41"
    with api.post(f"{api.base_url}/v1.41/exec/x/start", json={}, stream=True) as response:
        assert response.raw.read() == b"part 0\npart 1\npart 2\n"
    with api.post(f"{api.base_url}/v1.41/exec/y/start", json={}, stream=True) as response:
        assert response.raw.read() == b"part 0\npart 1\npart 2\n"  # a new connection
    client.close()


def spares(client: docker.DockerClient) -> list[int]:
    """The pids of the connections dialled ahead, once the dialling threads are done."""
    for thread in threading.enumerate():
        if thread.name == "ssh-spare":
            thread.join()
    adapter = client.api.get_adapter("http+docker://localhost")
    assert isinstance(adapter, _SshAdapter)
    return [spare.process.pid for spare in adapter._pool.spares._ready]


def test_once_connections_are_used_up_the_next_one_is_dialled_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ssh(tmp_path, monkeypatch)
    client = open_ssh_client("ssh://root@127.0.0.1:2222", timeout_s=10)
    api = client.api

    def served_by() -> int:
        with api.post(f"{api.base_url}/v1.41/exec/x/start", json={}, stream=True) as response:
            assert response.raw.read() == b"part 0\npart 1\npart 2\n"
            return int(response.headers["X-Pid"])

    first = served_by()  # on the connection `/version` opened: no spare for a single one
    assert spares(client) == []
    second = served_by()  # dialled then, and a spare with it
    ahead = spares(client)
    assert len(ahead) == 1 and ahead[0] not in (first, second)
    assert served_by() == ahead[0]  # taken ready
    after = spares(client)  # and the next is dialled ahead
    assert len(after) == 1 and after[0] not in (first, second, ahead[0])
    client.close()  # the spare ends with the client
    assert spares(client) == []


def test_a_dialled_connection_that_ended_is_not_usable() -> None:
    target = SshTarget("host")
    waiting = _Dialled([sys.executable, "-c", "import sys; sys.stdin.read()"], target)
    assert waiting.usable()
    waiting.sock.close()
    ended = _Dialled(["true"], target)
    ended._done.join()  # reaped
    assert not ended.usable()


def test_what_ssh_said_is_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ssh(tmp_path, monkeypatch, refuse=True)
    with pytest.raises(requests.ConnectionError, match=r"Permission denied \(publickey\)"):
        open_ssh_client("ssh://root@127.0.0.1:2222", timeout_s=10)


def test_no_ssh_client_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailable, match="no `ssh` client is installed"):
        open_ssh_client("ssh://root@127.0.0.1:2222", timeout_s=10)
    assert os.environ["PATH"] == str(tmp_path)
