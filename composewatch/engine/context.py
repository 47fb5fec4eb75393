"""Which Docker engine to talk to, resolved as the docker CLI resolves it.

    DOCKER_HOST set                  -> that host (context "default"), TLS from the environment
    DOCKER_CONTEXT set               -> that context from the context store; unknown: an error
    config.json `currentContext`     -> that context (`docker context use` writes it); unknown:
                                        an error
    otherwise                        -> unix:///var/run/docker.sock

The config directory is $DOCKER_CONFIG or ~/.docker; a context's metadata lives in
`contexts/meta/<sha256(name)>/meta.json` and its TLS material in
`contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem`. For the default context the TLS
variables apply as they do for the CLI: DOCKER_TLS_VERIFY (any non-empty value) verifies the
engine's certificate, DOCKER_TLS (non-empty) uses TLS without verifying, DOCKER_CERT_PATH
(default: the config directory) holds the PEM files.

`choose_context` and `parse_context_meta` are pure; `load_endpoint` reads the files;
`open_client` is the one place a DockerClient is made from an Endpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.tls

from composewatch.compose.textfile import read_input_bytes
from composewatch.engine.sshconn import open_ssh_client
from composewatch.errors import ComposeFileError, EngineContextError

__all__ = [
    "DEFAULT_HOST",
    "Endpoint",
    "choose_context",
    "config_dir",
    "load_endpoint",
    "open_client",
    "parse_context_meta",
]

DEFAULT_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Endpoint:
    host: str  # unix:///..., tcp://host:port, ssh://user@host, npipe://...
    context: str  # "default" or the context's name
    source: str  # what chose it, for messages: "DOCKER_HOST", "DOCKER_CONTEXT", ...
    tls: bool = False
    tls_verify: bool = False
    cert_dir: Path | None = None  # holds ca.pem, cert.pem, key.pem

    @property
    def scheme(self) -> str:
        return urlsplit(self.host).scheme or "unix"

    @property
    def local(self) -> bool:
        """The engine shares this machine's kernel: its /proc, its network namespace.
        Only a unix socket (or a Windows named pipe) says so; a tcp or ssh engine may be
        anywhere, so local-only tricks are skipped."""
        return self.scheme in ("unix", "npipe")

    @property
    def probe_host(self) -> str:
        """Where the containers' published ports answer: the engine's host."""
        if self.local:
            return "127.0.0.1"
        return urlsplit(self.host).hostname or "127.0.0.1"


def config_dir(env: Mapping[str, str]) -> Path:
    configured = env.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path.home() / ".docker"


def choose_context(env: Mapping[str, str], current_context: str | None) -> tuple[str, str]:
    """(context name, what chose it), in the docker CLI's order."""
    if env.get("DOCKER_HOST"):
        return "default", "DOCKER_HOST"
    if env.get("DOCKER_CONTEXT"):
        return env["DOCKER_CONTEXT"], "DOCKER_CONTEXT"
    if current_context:
        return current_context, "currentContext"
    return "default", "default"


def parse_context_meta(name: str, meta: Any, *, meta_file: Path, tls_dir: Path | None) -> Endpoint:
    """The endpoint a context's meta.json describes; `tls_dir` when its TLS folder exists."""
    try:
        docker_endpoint = meta["Endpoints"]["docker"]
        host = str(docker_endpoint["Host"])
    except (KeyError, TypeError):
        raise EngineContextError(
            f"{meta_file}: context {name!r} has no Endpoints.docker.Host; recreate it with "
            "`docker context create`"
        ) from None
    skip_verify = bool(docker_endpoint.get("SkipTLSVerify"))
    return Endpoint(
        host=host,
        context=name,
        source="context",
        tls=tls_dir is not None or skip_verify,
        tls_verify=tls_dir is not None and not skip_verify,
        cert_dir=tls_dir,
    )


def _default_endpoint(env: Mapping[str, str], source: str) -> Endpoint:
    verify = bool(env.get("DOCKER_TLS_VERIFY"))
    tls = verify or bool(env.get("DOCKER_TLS"))
    cert_path = env.get("DOCKER_CERT_PATH")
    return Endpoint(
        host=env.get("DOCKER_HOST") or DEFAULT_HOST,
        context="default",
        source=source,
        tls=tls,
        tls_verify=verify,
        cert_dir=(Path(cert_path) if cert_path else config_dir(env)) if tls else None,
    )


def load_endpoint(env: Mapping[str, str] | None = None) -> Endpoint:
    """Read the docker CLI's configuration and context store; EngineContextError (exit 2)
    when the chosen context does not exist or a file is unreadable."""
    env = os.environ if env is None else env
    directory = config_dir(env)
    config_file = directory / "config.json"
    current: str | None = None
    if not env.get("DOCKER_HOST") and not env.get("DOCKER_CONTEXT") and config_file.is_file():
        try:
            config = json.loads(read_input_bytes(config_file))
        except ComposeFileError as err:  # special or over 4 MiB: never read
            raise EngineContextError(f"{config_file}: {err.reason}; fix or remove it") from None
        except ValueError as err:
            raise EngineContextError(
                f"{config_file}: not readable as JSON ({err}); fix or remove it"
            ) from None
        current = config.get("currentContext") if isinstance(config, dict) else None
    name, source = choose_context(env, current)
    if name == "default":
        return _default_endpoint(env, source)
    context_id = hashlib.sha256(name.encode()).hexdigest()
    meta_file = directory / "contexts" / "meta" / context_id / "meta.json"
    if not meta_file.is_file():
        where = (
            "DOCKER_CONTEXT"
            if source == "DOCKER_CONTEXT"
            else f"currentContext in {config_file} (set by `docker context use`)"
        )
        raise EngineContextError(
            f"docker context {name!r} (from {where}) does not exist: no {meta_file}. "
            "List the contexts with `docker context ls`, or pick another with "
            "`docker context use NAME`; composewatch does not fall back to the default socket."
        )
    try:
        meta = json.loads(read_input_bytes(meta_file))
    except ComposeFileError as err:
        raise EngineContextError(f"{meta_file}: {err.reason}") from None
    except ValueError as err:
        raise EngineContextError(f"{meta_file}: not readable as JSON ({err})") from None
    tls_dir = directory / "contexts" / "tls" / context_id / "docker"
    endpoint = parse_context_meta(
        name, meta, meta_file=meta_file, tls_dir=tls_dir if tls_dir.is_dir() else None
    )
    return Endpoint(
        endpoint.host,
        endpoint.context,
        source,
        endpoint.tls,
        endpoint.tls_verify,
        endpoint.cert_dir,
    )


def open_client(endpoint: Endpoint, *, timeout_s: float = 60.0) -> docker.DockerClient:
    """A client for the endpoint (not yet pinged; an ssh one has asked the engine's API
    version: see `sshconn`)."""
    if endpoint.scheme == "ssh":
        return open_ssh_client(endpoint.host, timeout_s=timeout_s)
    tls: docker.tls.TLSConfig | bool = False
    if endpoint.tls:
        files = endpoint.cert_dir or Path()
        cert, key, ca = files / "cert.pem", files / "key.pem", files / "ca.pem"
        tls = docker.tls.TLSConfig(
            client_cert=(str(cert), str(key)) if cert.is_file() and key.is_file() else None,
            ca_cert=str(ca) if endpoint.tls_verify and ca.is_file() else None,
            verify=endpoint.tls_verify,
        )
    host = endpoint.host
    if endpoint.tls and host.startswith("tcp://"):
        host = "https://" + host.removeprefix("tcp://")
    return docker.DockerClient(
        base_url=host,
        tls=tls,
        timeout=int(timeout_s),
    )
