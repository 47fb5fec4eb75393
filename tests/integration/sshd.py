"""A real OpenSSH server on 127.0.0.1 as an ssh engine (`DOCKER_HOST=ssh://root@127.0.0.1:PORT`),
started by the tests themselves: Debian's `openssh-server` (scripts/ensure-engine installs
it), a free port, keys made in a temporary folder, root login with that key only.

The client side never touches ~/.ssh: an `ssh` wrapper first on PATH adds `-F` with a config
naming the key and the server's host key, which is what composewatch (as the docker CLI)
runs for each connection.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import in_ci

from composewatch.engine.sshconn import control_dir

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class SshEngine:
    docker_host: str  # ssh://root@127.0.0.1:PORT
    bin_dir: Path  # holds the `ssh` wrapper: put it first on PATH

    def env(self) -> dict[str, str]:
        path = f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        return {"DOCKER_HOST": self.docker_host, "PATH": path}


def require_sshd() -> None:
    """Skip (locally) or fail (CI=true) without what the ssh engine needs."""
    missing = []
    if not os.access(SSHD, os.X_OK):
        missing.append(f"{SSHD} (apt-get install openssh-server; scripts/ensure-engine does)")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        missing.append("the ssh client (openssh-client)")
    if shutil.which("docker") is None:
        missing.append("the docker CLI on the ssh host (`docker system dial-stdio`)")
    if os.geteuid() != 0:
        missing.append("root (sshd logs in as root)")
    if missing:
        message = "the ssh engine test needs " + ", ".join(missing)
        if in_ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def ssh_engine(folder: Path) -> Iterator[SshEngine]:
    """sshd on 127.0.0.1:<free port> until the block ends."""
    require_sshd()
    folder.mkdir(parents=True, exist_ok=True)
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    port = _free_port()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\n"
    )
    host_key = (folder / "host_key.pub").read_text().split()[:2]
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_key)}\n")
    (folder / "ssh_config").write_text(
        f"Host 127.0.0.1\n  IdentityFile {folder / 'client_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {folder / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
    )
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    real_ssh = shutil.which("ssh")
    wrapper.write_text(f'#!/bin/sh\nexec {real_ssh} -F {folder / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    log = (folder / "sshd.log").open("wb")
    server = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(folder / "sshd_config")], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sshd did not start: {(folder / 'sshd.log').read_text()}")
            time.sleep(0.05)
        yield SshEngine(f"ssh://root@127.0.0.1:{port}", bin_dir)
    finally:
        # composewatch's shared ssh connection outlives its last use: end it now, and with it
        # the server's side of it, which outlives the listener.
        control = control_dir()
        if control is not None:
            stop = ["-o", f"ControlPath={control}/%C", "-O", "exit", "-p", str(port)]
            subprocess.run(
                [str(wrapper), *stop, "-l", "root", "127.0.0.1"],
                capture_output=True,
                check=False,
                timeout=10,
            )
        server.terminate()
        server.wait(10)
        log.close()
