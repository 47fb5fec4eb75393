"""Registry credentials for the session's Auth service, from a docker config made by the
test: `auths` entries, identity tokens, and a real credential helper program on PATH (the
`docker-credential-*` protocol: the host on stdin, JSON on stdout)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import cast

import pytest

from composewatch.engine import protowire as pw
from composewatch.engine.attachables import auth_service, credentials_for
from composewatch.engine.session import Call, GrpcError


def _config(directory: Path, document: dict[str, object]) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(document))
    return str(directory)


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_auths_entries_by_host_and_by_url(tmp_path: Path) -> None:
    config = _config(tmp_path, {"auths": {
        "127.0.0.1:5000": {"auth": _auth("alice", "pw1")},
        "https://registry.example.com/v1/": {"auth": _auth("bob", "pw2")},
        "https://index.docker.io/v1/": {"auth": _auth("hub", "pw3")},
        "tokens.example.com": {"identitytoken": "tok-123"},
    }})  # fmt: skip
    assert credentials_for("127.0.0.1:5000", config) == ("alice", "pw1")
    assert credentials_for("registry.example.com", config) == ("bob", "pw2")
    # BuildKit asks for Docker Hub by its API host; the config keys it by the index URL.
    assert credentials_for("registry-1.docker.io", config) == ("hub", "pw3")
    # An identity token goes as the secret with no username, as BuildKit expects.
    assert credentials_for("tokens.example.com", config) == ("", "tok-123")
    assert credentials_for("elsewhere.example.com", config) == ("", "")


def test_a_credential_helper_is_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-cwtest"
    helper.write_text(
        "#!/bin/sh\nread host\n"
        'if [ "$1" = get ] && [ "$host" = "private.example.com" ]; then\n'
        '  echo \'{"ServerURL": "private.example.com", "Username": "carol", "Secret": "pw4"}\'\n'
        "else echo 'credentials not found in native keychain'; exit 1; fi\n"
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = _config(tmp_path / "cfg", {"credHelpers": {"private.example.com": "cwtest"}})
    assert credentials_for("private.example.com", config) == ("carol", "pw4")
    broken = _config(tmp_path / "broken", {"credsStore": "missing-helper"})
    with pytest.raises(GrpcError) as info:
        credentials_for("x.example.com", broken)
    assert "x.example.com" in info.value.message


class OneCall:
    """Stands for a unary `Call`: one request in, the messages sent recorded."""

    def __init__(self, request: bytes) -> None:
        self.path = "/test"
        self.metadata: dict[str, str] = {}
        self.request = request
        self.sent: list[bytes] = []

    def receive(self) -> bytes | None:
        request, self.request = self.request, b""
        return request or None

    def send(self, message: bytes) -> None:
        self.sent.append(message)


def test_credentials_request_and_response_bytes(tmp_path: Path) -> None:
    config = _config(tmp_path, {"auths": {"127.0.0.1:45123": {"auth": _auth("u", "p")}}})
    service = auth_service(config)

    # CredentialsRequest{Host: "127.0.0.1:45123"} as dockerd 20.10 sent it.
    call = OneCall(b"\n\x0f127.0.0.1:45123")
    service.methods["Credentials"](cast(Call, call))
    assert call.sent == [pw.str_field(1, "u") + pw.str_field(2, "p")] == [b"\n\x01u\x12\x01p"]
    with pytest.raises(GrpcError) as info:
        service.methods["GetTokenAuthority"](cast(Call, OneCall(b"")))
    assert info.value.code == 12  # Unimplemented: the engine then fetches tokens itself
