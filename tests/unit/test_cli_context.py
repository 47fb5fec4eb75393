"""Engine resolution as the docker CLI does it: DOCKER_HOST, DOCKER_CONTEXT, currentContext,
TLS variables; an unknown context is an error, never the default socket."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from composewatch.engine.context import (
    DEFAULT_HOST,
    Endpoint,
    choose_context,
    load_endpoint,
)
from composewatch.errors import EngineContextError


@pytest.mark.parametrize(
    ("env", "current", "expected"),
    [
        ({}, None, ("default", "default")),
        ({}, "remote", ("remote", "currentContext")),
        ({"DOCKER_CONTEXT": "ci"}, "remote", ("ci", "DOCKER_CONTEXT")),
        ({"DOCKER_HOST": "tcp://h:2375", "DOCKER_CONTEXT": "ci"}, "x", ("default", "DOCKER_HOST")),
        ({"DOCKER_HOST": ""}, "remote", ("remote", "currentContext")),
    ],
)
def test_choose_context_follows_the_cli_order(
    env: dict[str, str], current: str | None, expected: tuple[str, str]
) -> None:
    assert choose_context(env, current) == expected


def write_context(config: Path, name: str, host: str, *, tls: bool = False) -> Path:
    context_id = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / context_id
    meta.mkdir(parents=True)
    body = {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host}}}
    (meta / "meta.json").write_text(json.dumps(body))
    if tls:
        (config / "contexts" / "tls" / context_id / "docker").mkdir(parents=True)
    return meta


def test_no_config_file_is_the_default_socket(tmp_path: Path) -> None:
    endpoint = load_endpoint({"DOCKER_CONFIG": str(tmp_path / "none")})
    assert endpoint == Endpoint(DEFAULT_HOST, "default", "default")
    assert endpoint.local and endpoint.probe_host == "127.0.0.1"


def test_docker_context_use_is_read_from_config_json(tmp_path: Path) -> None:
    write_context(tmp_path, "remote", "tcp://10.1.2.3:2376", tls=True)
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    endpoint = load_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert endpoint.host == "tcp://10.1.2.3:2376"
    assert endpoint.source == "currentContext"
    assert endpoint.tls and endpoint.tls_verify
    assert not endpoint.local and endpoint.probe_host == "10.1.2.3"


def test_docker_context_env_beats_config_json(tmp_path: Path) -> None:
    write_context(tmp_path, "remote", "tcp://10.1.2.3:2376")
    write_context(tmp_path, "ssh-box", "ssh://me@build.example")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    endpoint = load_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "ssh-box"})
    assert (endpoint.host, endpoint.scheme, endpoint.probe_host) == (
        "ssh://me@build.example",
        "ssh",
        "build.example",
    )
    assert not endpoint.tls


def test_docker_host_beats_every_context(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "gone"}))
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "tcp://127.0.0.1:2375"}
    endpoint = load_endpoint(env)
    assert (endpoint.host, endpoint.context, endpoint.source) == (
        "tcp://127.0.0.1:2375",
        "default",
        "DOCKER_HOST",
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DOCKER_TLS_VERIFY": "1"}, (True, True, "certs")),
        ({"DOCKER_TLS_VERIFY": "0"}, (True, True, "certs")),  # any non-empty value, as the CLI
        ({"DOCKER_TLS": "1"}, (True, False, "certs")),
        ({"DOCKER_TLS_VERIFY": ""}, (False, False, None)),
    ],
)
def test_tls_variables(
    tmp_path: Path, env: dict[str, str], expected: tuple[bool, bool, str | None]
) -> None:
    endpoint = load_endpoint(
        {"DOCKER_HOST": "tcp://h:2376", "DOCKER_CERT_PATH": str(tmp_path / "certs"), **env}
    )
    cert_dir = endpoint.cert_dir.name if endpoint.cert_dir else None
    assert (endpoint.tls, endpoint.tls_verify, cert_dir) == expected


def test_unknown_docker_context_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EngineContextError, match=r"'nope' \(from DOCKER_CONTEXT\) does not exist"):
        load_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "nope"})


def test_unknown_current_context_is_an_error_naming_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "gone"}))
    with pytest.raises(EngineContextError, match=r"config\.json") as caught:
        load_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert caught.value.exit_code == 2


def test_broken_meta_names_the_file(tmp_path: Path) -> None:
    meta = write_context(tmp_path, "bad", "unused")
    (meta / "meta.json").write_text(json.dumps({"Name": "bad", "Endpoints": {}}))
    with pytest.raises(EngineContextError, match=r"meta\.json: context 'bad' has no"):
        load_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "bad"})
