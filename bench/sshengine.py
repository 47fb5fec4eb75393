"""An ssh engine on this machine for `bench.remote`, with every byte on the wire counted.

Debian's sshd (`openssh-server`, installed by scripts/ensure-engine) on a free loopback port,
with keys made in a temporary folder, root login with that key only; the client side never
touches ~/.ssh: an `ssh` wrapper first on PATH adds `-F` with a config naming the key and the
server's host key. composewatch (as the docker CLI, and so compose) runs `ssh ... docker
system dial-stdio` for each connection, so putting the wrapper first on PATH is all it takes.

The clients do not reach sshd directly: `DOCKER_HOST` names the port of a relay in this
process that copies each TCP connection to sshd and counts the bytes each way. That is what
crossed the network to the engine, encryption and ssh framing included, whichever client
(composewatch's shared connection, compose's one connection per call, the docker CLI) sent it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from composewatch.engine.sshconn import control_dir

__all__ = ["Relay", "SshEngine", "ssh_engine"]

SSHD = Path("/usr/sbin/sshd")
_CHUNK = 256 * 1024


class Relay:
    """127.0.0.1:`port` -> 127.0.0.1:`target`, one pair of pump threads per connection;
    `sent` counts client -> server bytes (to the engine), `received` the other way."""

    def __init__(self, target: int) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._counts = {"sent": 0, "received": 0}
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def counts(self) -> tuple[int, int]:
        """(sent, received) bytes so far."""
        with self._lock:
            return self._counts["sent"], self._counts["received"]

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(("127.0.0.1", self._target), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            for sock in (client, server):
                # ssh's own packets are small and interactive: no Nagle delay added here.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
            pumps = [
                threading.Thread(target=self._pump, args=(client, server, "sent"), daemon=True),
                threading.Thread(target=self._pump, args=(server, client, "received"), daemon=True),
            ]
            for pump in pumps:
                pump.start()
            threading.Thread(
                target=self._close_after, args=(pumps, client, server), daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, way: str) -> None:
        try:
            while data := source.recv(_CHUNK):
                with self._lock:  # counted before it arrives: a reader never sees it uncounted
                    self._counts[way] += len(data)
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)  # pass the end of input on, as TCP would

    @staticmethod
    def _close_after(pumps: list[threading.Thread], *socks: socket.socket) -> None:
        for pump in pumps:
            pump.join()
        for sock in socks:
            sock.close()


@dataclass(frozen=True)
class SshEngine:
    docker_host: str  # ssh://root@127.0.0.1:RELAY_PORT
    bin_dir: Path  # holds the `ssh` wrapper
    relay: Relay
    sshd_port: int  # sshd itself, behind the relay

    def env(self) -> dict[str, str]:
        """The environment of a client of this engine: `DOCKER_HOST` and the wrapper on PATH."""
        path = f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "DOCKER_HOST": self.docker_host, "PATH": path}


def missing() -> list[str]:
    """What this machine lacks for the ssh engine (empty: nothing)."""
    lacking = []
    if not os.access(SSHD, os.X_OK):
        lacking.append(f"{SSHD} (apt-get install openssh-server; scripts/ensure-engine does)")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        lacking.append("the ssh client (openssh-client)")
    if shutil.which("docker") is None:
        lacking.append("the docker CLI (`docker system dial-stdio` on the ssh side)")
    if os.geteuid() != 0:
        lacking.append("root (sshd logs in as root)")
    return lacking


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keygen(path: Path) -> None:
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)]
    subprocess.run(argv, check=True, capture_output=True)


def _configure(folder: Path, port: int, relay_port: int) -> Path:
    """Keys, sshd_config, known_hosts, ssh_config and the wrapper; returns the wrapper."""
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\n"
    )
    host_key = " ".join((folder / "host_key.pub").read_text().split()[:2])
    (folder / "known_hosts").write_text(
        f"[127.0.0.1]:{relay_port} {host_key}\n[127.0.0.1]:{port} {host_key}\n"
    )
    (folder / "ssh_config").write_text(
        f"Host 127.0.0.1\n  IdentityFile {folder / 'client_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {folder / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
    )
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {folder / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@contextlib.contextmanager
def ssh_engine(folder: Path) -> Iterator[SshEngine]:
    """sshd on 127.0.0.1:<free port> behind a counting relay, until the block ends."""
    lacking = missing()
    if lacking:
        raise SystemExit("bench.remote needs " + ", ".join(lacking))
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    relay = Relay(port)
    wrapper = _configure(folder, port, relay.port)
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
                raise SystemExit(f"sshd did not start: {(folder / 'sshd.log').read_text()}")
            time.sleep(0.05)
        yield SshEngine(f"ssh://root@127.0.0.1:{relay.port}", wrapper.parent, relay, port)
    finally:
        _end_shared_connection(wrapper, relay.port)
        server.terminate()
        server.wait(10)
        relay.close()
        log.close()


def _end_shared_connection(wrapper: Path, port: int) -> None:
    """composewatch's shared ssh connection outlives its last use by a minute: end it now
    (its control socket is in composewatch's private folder, named by ssh's %C hash)."""
    folder = control_dir()
    if folder is None:
        return  # composewatch could not multiplex either: nothing outlives it
    stop = ["-o", f"ControlPath={folder}/%C", "-O", "exit", "-p", str(port), "-l", "root"]
    subprocess.run([str(wrapper), *stop, "127.0.0.1"], capture_output=True, check=False, timeout=10)
