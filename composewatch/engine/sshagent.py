"""The ssh agents a build's `build.ssh` entries name, as sockets the session can forward.

An entry is `default` (the agent of `$SSH_AUTH_SOCK`), `id=/path/agent.sock` (another
agent), or `id=/path/key[,/path/key2]` (key files, as buildx takes them). Key files are
loaded into a private `ssh-agent` started for the one build (OpenSSH's own agent and
`ssh-add`, so no key is parsed here) and stopped with it; a key that `ssh-add` cannot load
without asking (a passphrase) fails the build naming the file, never prompting.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from composewatch.errors import BuildContextError

__all__ = ["agent_sockets", "check_ssh_entry"]

_START_S = 5.0


def _paths(value: str) -> list[str]:
    return [os.path.expanduser(p.strip()) for p in value.split(",") if p.strip()]


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def check_ssh_entry(ssh_id: str, value: str, where: str) -> None:
    """BuildContextError naming the key when the entry cannot be forwarded."""
    if not value and not os.environ.get("SSH_AUTH_SOCK"):
        raise BuildContextError(
            f"{where}.ssh: {ssh_id!r} forwards the ssh agent of $SSH_AUTH_SOCK, which is "
            "not set; start an agent (`eval $(ssh-agent)`, `ssh-add`) or give "
            f"`{ssh_id}=/path/to/agent.sock` or `{ssh_id}=/path/to/key`."
        )
    paths = _paths(value) or [os.environ["SSH_AUTH_SOCK"]]
    if len(paths) == 1 and _is_socket(paths[0]):
        return
    for path in paths:
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise BuildContextError(
                f"{where}.ssh: {ssh_id!r}: {path} is neither an agent socket nor a readable "
                "key file"
            )
    missing = [tool for tool in ("ssh-agent", "ssh-add") if shutil.which(tool) is None]
    if missing:
        raise BuildContextError(
            f"{where}.ssh: {ssh_id!r} names key files, which are loaded into an ssh-agent "
            f"for the build, and {' and '.join(missing)} cannot be found. Way out: install "
            "OpenSSH's client, or `ssh-add` the keys to your agent and use `default`."
        )


@contextlib.contextmanager
def agent_sockets(entries: Sequence[tuple[str, str]], service: str) -> Iterator[dict[str, str]]:
    """The agent socket for each ssh id, private agents started for key files and stopped
    on exit."""
    with contextlib.ExitStack() as stack:
        sockets: dict[str, str] = {}
        for ssh_id, value in entries:
            paths = _paths(value) or [os.environ.get("SSH_AUTH_SOCK", "")]
            if len(paths) == 1 and _is_socket(paths[0]):
                sockets[ssh_id] = paths[0]
            else:
                sockets[ssh_id] = stack.enter_context(_key_agent(ssh_id, paths, service))
        yield sockets


@contextlib.contextmanager
def _key_agent(ssh_id: str, keys: Sequence[str], service: str) -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="composewatch-ssh-"))
    sock = str(folder / "agent.sock")
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", sock],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + _START_S
        while not _is_socket(sock):
            if agent.poll() is not None or time.monotonic() > deadline:
                raise BuildContextError(
                    f"service {service!r}: build.ssh {ssh_id!r}: ssh-agent did not start"
                )
            time.sleep(0.02)
        # No terminal, no askpass: a key that needs a passphrase fails instead of asking.
        env = {**os.environ, "SSH_AUTH_SOCK": sock, "SSH_ASKPASS_REQUIRE": "never"}
        env.pop("DISPLAY", None)
        for key in keys:
            added = subprocess.run(
                ["ssh-add", "-q", key], env=env, stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            if added.returncode != 0:
                raise BuildContextError(
                    f"service {service!r}: build.ssh {ssh_id!r}: ssh-add could not load the key "
                    f"{key} ({added.stderr.strip() or f'exit {added.returncode}'}); a key with "
                    "a passphrase must be added to your own agent (`ssh-add`), then `default`."
                )
        yield sock
    finally:
        agent.terminate()
        try:
            agent.wait(timeout=5)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        shutil.rmtree(folder, ignore_errors=True)
