"""build.ssh entries checked before a build, without Docker: agent sockets, key files."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from composewatch.engine.sshagent import check_ssh_entry
from composewatch.errors import BuildContextError

WHERE = "compose.yaml: services.app.build"


def test_agent_sockets_and_key_files_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_UNIX) as agent:
        agent.bind(str(tmp_path / "agent.sock"))
        monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
        check_ssh_entry("default", "", WHERE)
        check_ssh_entry("other", str(tmp_path / "agent.sock"), WHERE)
    (tmp_path / "k1").write_text("key")
    (tmp_path / "k2").write_text("key")
    check_ssh_entry("deploy", f"{tmp_path / 'k1'},{tmp_path / 'k2'}", WHERE)


def test_what_cannot_be_forwarded_is_refused_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(BuildContextError, match=r"\.ssh: 'default' .*SSH_AUTH_SOCK"):
        check_ssh_entry("default", "", WHERE)
    with pytest.raises(BuildContextError, match=r"\.ssh: 'x': .*missing is neither"):
        check_ssh_entry("x", str(tmp_path / "missing"), WHERE)
    (tmp_path / "key").write_text("key")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(BuildContextError, match="ssh-agent and ssh-add cannot be found"):
        check_ssh_entry("x", str(tmp_path / "key"), WHERE)
