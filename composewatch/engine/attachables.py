"""The services a BuildKit session offers a build: registry credentials, build secrets, the
ssh agent. Each is a `session.Service` built from plain inputs, with the message layouts of
BuildKit's `.proto` files (field numbers in the comments).

- `auth_service`: `moby.filesync.v1.Auth`. Only `Credentials` answers: the engine then runs
  the registry's token flow itself (BuildKit's `authorizer` does when `GetTokenAuthority` is
  Unimplemented, as here), exactly as with the docker CLI's provider minus its token
  signing. Credentials come from the docker config (`$DOCKER_CONFIG/config.json`: `auths`,
  `credsStore`, `credHelpers`), read afresh at each request, so a `docker login` made while
  composewatch runs is used by the next build.
- `secrets_service`: `moby.buildkit.secrets.v1.Secrets`: a secret's value is read when the
  build asks for it and goes nowhere else: never logged, never in an error.
- `ssh_service`: `moby.sshforward.v1.SSH`: each connection the build makes to its
  `SSH_AUTH_SOCK` becomes a `ForwardAgent` stream, copied to and from the agent's socket.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker.auth
import docker.errors

from composewatch.engine import protowire as pw
from composewatch.engine.session import Call, GrpcError, Service, StatusCode, unary

__all__ = [
    "SecretSource",
    "auth_service",
    "credentials_for",
    "secrets_service",
    "ssh_service",
]

_SSH_ID_KEY = "buildkit.ssh.id"


def credentials_for(host: str, config_dir: str | None = None) -> tuple[str, str]:
    """(username, secret) for registry `host` from the docker config; ("", "") when there is
    none (the engine then tries anonymously). An identity token is returned as the secret
    with no username, as BuildKit expects."""
    # BuildKit asks for Docker Hub by its API host; the config keys it by the index URL.
    registry = None if host in ("registry-1.docker.io", "docker.io", "index.docker.io") else host
    config_path = os.path.join(config_dir, "config.json") if config_dir else None
    try:
        with warnings.catch_warnings():
            # docker-py warns of a missing helper, then fails: the failure says it all.
            warnings.simplefilter("ignore")
            config = docker.auth.load_config(config_path)
            entry = config.resolve_authconfig(registry) or {}
    except docker.errors.DockerException as exc:
        # The message names the helper and the host, never a credential.
        raise GrpcError(StatusCode.UNAVAILABLE, f"docker credentials for {host}: {exc}") from None
    lowered = {str(k).lower(): str(v) for k, v in entry.items() if v}
    if lowered.get("identitytoken"):
        return "", lowered["identitytoken"]
    return lowered.get("username", ""), lowered.get("password", "")


def auth_service(config_dir: str | None = None) -> Service:
    """`moby.filesync.v1.Auth`; `config_dir` overrides $DOCKER_CONFIG (~/.docker)."""

    def credentials(request: bytes, _metadata: Mapping[str, str]) -> bytes:
        # CredentialsRequest{Host = 1} -> CredentialsResponse{Username = 1, Secret = 2}
        host = pw.first_str(pw.parse_fields(request), 1)
        username, secret = credentials_for(host, config_dir)
        return pw.str_field(1, username) + pw.str_field(2, secret)

    def unimplemented(call: Call) -> None:
        raise GrpcError(StatusCode.UNIMPLEMENTED, f"{call.path} is not offered")

    return Service(
        "moby.filesync.v1.Auth",
        {
            "Credentials": unary(credentials),
            "FetchToken": unimplemented,
            "GetTokenAuthority": unimplemented,
            "VerifyTokenAuthority": unimplemented,
        },
    )


@dataclass(frozen=True)
class SecretSource:
    """Where a build secret's value is: a file, or an environment variable."""

    file: Path | None = None
    environment: str | None = None


def secrets_service(
    sources: Mapping[str, SecretSource], environment: Mapping[str, str] | None = None
) -> Service:
    """`moby.buildkit.secrets.v1.Secrets` for the secrets `sources` name by id;
    `environment` (default os.environ) holds the variables of `environment:` sources."""
    env = os.environ if environment is None else environment

    def get_secret(request: bytes, _metadata: Mapping[str, str]) -> bytes:
        # GetSecretRequest{ID = 1, annotations = 2} -> GetSecretResponse{data = 1}
        secret_id = pw.first_str(pw.parse_fields(request), 1)
        source = sources.get(secret_id)
        if source is None:
            raise GrpcError(StatusCode.NOT_FOUND, f"secret {secret_id} not found")
        if source.file is not None:
            try:
                value = source.file.read_bytes()
            except OSError as exc:
                raise GrpcError(
                    StatusCode.NOT_FOUND,
                    f"secret {secret_id}: cannot read {source.file}: {exc.strerror}",
                ) from None
        else:
            name = source.environment or ""
            if name not in env:
                raise GrpcError(
                    StatusCode.NOT_FOUND,
                    f"secret {secret_id}: environment variable {name} is not set",
                )
            value = env[name].encode()
        return pw.bytes_field(1, value)

    return Service("moby.buildkit.secrets.v1.Secrets", {"GetSecret": unary(get_secret)})


def ssh_service(agents: Mapping[str, str]) -> Service:
    """`moby.sshforward.v1.SSH` forwarding each id of `agents` to that agent socket path."""

    def socket_of(ssh_id: str) -> str:
        path = agents.get(ssh_id or "default")
        if path is None:
            raise GrpcError(StatusCode.NOT_FOUND, f"no ssh agent with id {ssh_id!r}")
        return path

    def check_agent(request: bytes, _metadata: Mapping[str, str]) -> bytes:
        # CheckAgentRequest{ID = 1} -> CheckAgentResponse{}
        ssh_id = pw.first_str(pw.parse_fields(request), 1)
        path = socket_of(ssh_id)
        try:
            if not stat.S_ISSOCK(os.stat(path).st_mode):
                raise GrpcError(StatusCode.NOT_FOUND, f"ssh agent {path} is not a socket")
        except OSError as exc:
            raise GrpcError(StatusCode.NOT_FOUND, f"ssh agent {path}: {exc.strerror}") from None
        return b""

    def forward_agent(call: Call) -> None:
        # stream BytesMessage{data = 1} both ways, the id in the call's metadata.
        path = socket_of(call.metadata.get(_SSH_ID_KEY, ""))
        agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            agent.connect(path)
        except OSError as exc:
            agent.close()
            raise GrpcError(StatusCode.UNAVAILABLE, f"ssh agent {path}: {exc.strerror}") from None
        replies = threading.Thread(target=_agent_to_call, args=(agent, call.send), daemon=True)
        replies.start()
        try:
            for message in call.messages():
                agent.sendall(pw.first_bytes(pw.parse_fields(message), 1))
            agent.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            replies.join(timeout=30)
            agent.close()

    return Service(
        "moby.sshforward.v1.SSH",
        {"CheckAgent": unary(check_agent), "ForwardAgent": forward_agent},
    )


def _agent_to_call(agent: socket.socket, send: Callable[[bytes], None]) -> None:
    try:
        while data := agent.recv(65536):
            send(pw.bytes_field(1, data))
    except (OSError, GrpcError):
        pass
