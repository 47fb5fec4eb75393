"""An engine at `ssh://[user@]host[:port][/socket]`, reached as the docker CLI reaches it: each
connection is the system `ssh` client running `docker system dial-stdio` on the host.

Not docker-py's own ssh support, for two reasons. It imports paramiko even when told to
use the ssh client (`use_ssh_client=True`), so without paramiko every command fails. And
both of its transports lose a response the engine ends by closing the connection (the
output of `exec/start`, which the in-container probe reads): http.client hands such a
response the socket and closes the connection, which for a socket only drops a reference
but for its paramiko channel or its ssh subprocess ends the stream at once, so the probe
saw no output and a command still running.

Here the ssh process holds one end of a `socketpair` as its stdin and stdout and the HTTP
client the other: to docker-py it is a socket like a unix one (timeouts, half-closes, the
raw socket of a hijacked stream, reference-counted close). The ssh process ends on its
own once our end is closed (dial-stdio sees end of input, the engine closes, ssh exits);
a thread per connection keeps the tail of its stderr, for the error when ssh fails, and
reaps it. Connections share one ssh connection to the host when they can (OpenSSH's
multiplexing, in a private folder of ours, kept 60 s after the last use): an exec's stream
ends its connection, and a new ssh handshake for each would cost a probe most of a second.
Even a new session on the shared connection takes 0.07 s (ssh's session set-up and the
host's `docker` starting), so once connections are being used up (a second one dialled),
one is always dialled ahead and kept as a spare: the next exec or build session takes it
ready, and another is dialled in the background.
ssh runs in its own process group, so Ctrl-C reaches composewatch, which still
needs the engine to settle what is in flight, and not the connections; and in batch mode,
so it never waits on a password or host-key prompt it cannot show: key or agent auth.

`parse_ssh_url` and `dial_command` are pure; `open_ssh_client` makes the DockerClient.
"""

from __future__ import annotations

import os
import shlex
import socket
import stat
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool
import urllib3.util

from composewatch.errors import EngineContextError, EngineUnavailable

__all__ = [
    "SshFailed",
    "SshTarget",
    "control_dir",
    "dial_command",
    "open_ssh_client",
    "parse_ssh_url",
]

CONNECT_TIMEOUT_S = 30  # the docker CLI's `-o ConnectTimeout=30`
CONTROL_PERSIST_S = 60  # how long the shared ssh connection outlives its last use
_STDERR_TAIL = 2000  # characters of ssh's stderr kept for an error
_SAID_WAIT_S = 2.0  # how long a failed connection's ssh gets to exit and say why
# docker-py needs a base URL to make its client; the adapter mounted over it is what is
# used, so this socket is never dialled.
_UNUSED_BASE_URL = "unix:///nonexistent/composewatch-talks-ssh"


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str | None = None
    port: int | None = None
    socket_path: str | None = None  # the engine's socket on the host; None: its default

    def __str__(self) -> str:
        where = f"{self.user}@{self.host}" if self.user else self.host
        return f"{where}:{self.port}" if self.port else where


def parse_ssh_url(url: str) -> SshTarget:
    """Pure: `ssh://[user@]host[:port][/socket/path]`, refused as the docker CLI refuses
    it (a password, a query or a fragment, no host) with an EngineContextError."""
    parts = urlsplit(url)
    problem = None
    if parts.scheme != "ssh":
        problem = "not an ssh:// URL"
    elif parts.password is not None:
        problem = "a password in the URL is not supported: use a key or ssh-agent"
    elif not parts.hostname:
        problem = "no host name"
    elif parts.query or parts.fragment:
        problem = "query parameters and fragments are not allowed"
    try:
        port = parts.port
    except ValueError:
        problem, port = "the port is not a number from 1 to 65535", None
    if problem is not None:
        shown = url.replace(f":{parts.password}@", ":***@") if parts.password else url
        raise EngineContextError(f"invalid ssh engine address {shown!r}: {problem}")
    assert parts.hostname is not None
    path = parts.path if parts.path.strip("/") else None
    return SshTarget(parts.hostname, parts.username or None, port, path)


def dial_command(target: SshTarget, control_dir: Path | None = None) -> list[str]:
    """Pure: the docker CLI's command for one connection: `ssh [-l user] [-p port] -o
    ConnectTimeout=30 -T -- host docker system dial-stdio` (with `--host=unix://PATH` for a
    socket path), plus batch mode and, with a `control_dir`, multiplexing (see the module's
    docstring)."""
    argv = ["ssh"]
    if target.user:
        argv += ["-l", target.user]
    if target.port:
        argv += ["-p", str(target.port)]
    argv += ["-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "-o", "BatchMode=yes"]
    if control_dir is not None:
        # %C: a hash of host, port and user, so short enough for a socket's path.
        argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir}/%C"]
        argv += ["-o", f"ControlPersist={CONTROL_PERSIST_S}"]
    argv += ["-T"]
    remote = ["docker", "system", "dial-stdio"]
    if target.socket_path:
        remote[1:1] = [f"--host=unix://{target.socket_path}"]
    # ssh hands the remote command to the user's shell: each word quoted, as the CLI does.
    return [*argv, "--", target.host, " ".join(shlex.quote(word) for word in remote)]


def control_dir() -> Path | None:
    """Our folder for ssh's control sockets, only ours (0700, owned by us): whoever can
    reach a control socket uses the connection. None (no multiplexing) when it cannot be."""
    folder = Path(tempfile.gettempdir()) / f"composewatch-ssh-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = folder.lstat()
    except OSError:
        return None
    private = stat.S_ISDIR(found.st_mode) and not found.st_mode & 0o077
    return folder if private and found.st_uid == os.getuid() else None


class SshFailed(ConnectionError):
    """The ssh client ended the connection before the engine answered; says what ssh said."""


class _Dialled:
    """One `ssh … dial-stdio` process and our end of its socket pair."""

    def __init__(self, argv: list[str], target: SshTarget) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=subprocess.PIPE,
                process_group=0,
            )
        except FileNotFoundError:
            ours.close()
            raise EngineUnavailable(
                f"the engine is at ssh://{target} but no `ssh` client is installed: install "
                "OpenSSH's client (the docker CLI uses it too), e.g. `apt-get install "
                "openssh-client`"
            ) from None
        finally:
            theirs.close()
        self.sock = ours
        self._said: list[bytes] = []
        self._done = threading.Thread(target=self._drain, name="ssh-stderr", daemon=True)
        self._done.start()

    def _drain(self) -> None:
        """Keep the tail of ssh's stderr (never let it fill the pipe), then reap ssh."""
        stderr = self.process.stderr
        assert stderr is not None
        kept = 0
        for chunk in iter(lambda: os.read(stderr.fileno(), 4096), b""):
            self._said.append(chunk)
            kept += len(chunk)
            while kept - len(self._said[0]) >= _STDERR_TAIL and len(self._said) > 1:
                kept -= len(self._said.pop(0))
        stderr.close()
        self.process.wait()

    def said(self) -> str:
        """What ssh printed, once it has ended (waits a little for that)."""
        self._done.join(_SAID_WAIT_S)
        text = b"".join(self._said).decode(errors="replace").strip()
        return text[-_STDERR_TAIL:]

    def usable(self) -> bool:
        """Still connected and quiet: ssh runs and nothing (an end, an error) came."""
        if self.process.poll() is not None:
            return False
        try:
            return not urllib3.util.wait_for_read(self.sock, timeout=0.0)
        except OSError:
            return False


class _Spares:
    """Connections dialled ahead. The first `take` dials for itself (a command that needs
    one connection, `ps`, pays for no spare); from the second on, each `take` gets the spare
    when there is one and dials the next in the background."""

    def __init__(self, argv: list[str], target: SshTarget) -> None:
        self._argv, self._target = argv, target
        self._lock = threading.Lock()
        self._ready: list[_Dialled] = []
        self._taken = 0
        self._closed = False

    def take(self) -> _Dialled:
        with self._lock:
            self._taken += 1
            ahead = self._taken > 1 and not self._closed
            found = self._ready.pop() if self._ready else None
        if found is not None and not found.usable():  # the engine or the host dropped it
            found.sock.close()
            found = None
        if ahead:
            threading.Thread(target=self._dial_spare, name="ssh-spare", daemon=True).start()
        return found if found is not None else _Dialled(self._argv, self._target)

    def _dial_spare(self) -> None:
        try:
            spare = _Dialled(self._argv, self._target)
        except (EngineUnavailable, OSError):
            return  # no ssh client, no process left: the next take dials and says why
        with self._lock:
            keep = not self._closed and not self._ready
            if keep:
                self._ready.append(spare)
        if not keep:
            spare.sock.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, []
        for spare in ready:
            spare.sock.close()  # ssh sees the end of its input and exits


class _SshConnection(urllib3.connection.HTTPConnection):
    def __init__(self, spares: _Spares, target: SshTarget, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._spares, self._target = spares, target
        self._dialled: _Dialled | None = None

    def connect(self) -> None:
        self._dialled = self._spares.take()
        self._dialled.sock.settimeout(self.timeout)
        self.sock = self._dialled.sock

    def getresponse(self) -> Any:
        try:
            return super().getresponse()
        except ConnectionError as exc:  # http.client.RemoteDisconnected, reset, broken pipe
            # The usual reason is ssh's (auth, host key, no docker on the host): say it.
            said = self._dialled.said() if self._dialled is not None else ""
            if said:
                raise SshFailed(f"ssh {self._target}: {said}") from exc
            raise


class _SshPool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, argv: list[str], target: SshTarget, timeout: float, maxsize: int) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=maxsize)
        self._target, self._timeout_s = target, timeout
        self.spares = _Spares(argv, target)

    def _new_conn(self) -> _SshConnection:
        return _SshConnection(self.spares, self._target, self._timeout_s)

    def close(self) -> None:
        super().close()
        self.spares.close()


class _SshAdapter(requests.adapters.HTTPAdapter):
    """One connection pool (as docker-py's unix adapter keeps), its connections over ssh."""

    def __init__(self, target: SshTarget, timeout_s: float, max_pool_size: int = 10) -> None:
        argv = dial_command(target, control_dir())
        self._pool = _SshPool(argv, target, timeout_s, max_pool_size)
        super().__init__()

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> urllib3.connectionpool.HTTPConnectionPool:
        return self._pool

    def get_connection(self, url: Any, proxies: Any = None) -> Any:  # requests before 2.32
        return self._pool

    def request_url(self, request: Any, proxies: Any) -> str:
        return str(request.path_url)  # no proxies: the URL's host is a placeholder

    def close(self) -> None:
        super().close()
        self._pool.close()


def open_ssh_client(url: str, *, timeout_s: float) -> docker.DockerClient:
    """A client for the engine at the ssh:// `url`; asks the engine its API version (as
    docker-py's default `version="auto"` does), so it fails here when ssh does."""
    target = parse_ssh_url(url)
    adapter = _SshAdapter(target, timeout_s)
    probe = requests.Session()
    probe.mount("http+docker://", adapter)
    response = probe.get("http+docker://localhost/version", timeout=timeout_s)
    response.raise_for_status()
    version = str(response.json()["ApiVersion"])
    # Made for a unix socket with the version known, so docker-py dials nothing itself;
    # our adapter then takes the unix one's place, and docker-py treats its connections
    # as the unix socket's (the raw socket of a hijacked stream included).
    client = docker.DockerClient(base_url=_UNUSED_BASE_URL, version=version, timeout=int(timeout_s))
    client.api.close()
    client.api.mount("http+docker://", adapter)
    return client
