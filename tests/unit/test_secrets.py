"""No value read from `.env`, `--env-file`, `env_file`, an include's `env_file` or the shell
environment is ever printed by an error: a distinctive secret is planted in each source and
interpolated into every field whose validation quotes what it rejects; each run goes through
the real entry point (`composewatch.cli.main`, `config` and `up`) and its whole output is
searched for the secret and for every word of it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from composewatch.cli import main

# Separators inside, so that a parser quoting a fragment of it (`a:b` split on `:`) is caught.
SECRET = "Kx9Tq2Wm-Pd4Rz8Vn:Hb6Yc3Lf@Jg5Ws7Qe/Zt1"
WORDS = [w for w in re.findall(r"[A-Za-z0-9]+", SECRET) if len(w) >= 3]
REF = "${SECRET_TOKEN}"

SERVICE = "services:\n  web:\n    image: busybox:latest\n"

# Fields that fail validation and would quote their value, with the secret interpolated.
FIELDS: dict[str, str] = {
    "ports": SERVICE + f"    ports: ['{REF}']\n",
    "ports-host": SERVICE + f"    ports: ['{REF}:80']\n",
    "ports-ip": SERVICE + f"    ports: ['{REF}:80:80']\n",
    "volumes": SERVICE + f"    volumes: ['{REF}::/data']\n",
    "volumes-named": SERVICE + f"    volumes: ['{REF}x:/data']\n",
    "cpus": SERVICE + f"    cpus: '{REF}'\n",
    "cpu_count": SERVICE + f"    cpu_count: '{REF}'\n",
    "privileged": SERVICE + f"    privileged: '{REF}'\n",
    "stop_grace_period": SERVICE + f"    stop_grace_period: '{REF}'\n",
    "healthcheck": SERVICE + f"    healthcheck: {{interval: '{REF}'}}\n",
    "mem_limit": SERVICE + f"    mem_limit: '{REF}'\n",
    "shm_size": SERVICE + f"    shm_size: '{REF}'\n",
    "tmpfs-size": SERVICE
    + f"    volumes: [{{type: tmpfs, target: /t, tmpfs: {{size: '{REF}'}}}}]\n",
    "healthcheck-test": SERVICE + f"    healthcheck: {{test: ['{REF}']}}\n",
    "devices": SERVICE + f"    devices: ['{REF}:a:b:c']\n",
    "command": SERVICE + f"    command: '\"{REF}'\n",
    "depends_on": SERVICE + f"    depends_on: ['{REF}']\n",
    "networks": SERVICE + f"    networks: ['{REF}']\n",
    "container_name": SERVICE + f"    container_name: '{REF}'\n    scale: 2\n",
    "ulimits": SERVICE + f"    ulimits: {{nofile: '{REF}'}}\n",
    "restart": SERVICE + f"    restart: '{REF}'\n    deploy: {{replicas: '{REF}'}}\n",
    "env_file-path": SERVICE + f"    env_file: ['{REF}.env']\n",
    "extends-file": SERVICE + f"    extends: {{file: '{REF}.yml', service: web}}\n",
    "include-path": f"include: ['{REF}.yml']\n" + SERVICE,
    "label_file-path": SERVICE + f"    label_file: ['{REF}.labels']\n",
    "required": SERVICE + f"    x-a: '${{UNSET:?{REF}}}'\n",
    "required-nested": SERVICE + f"    x-a: '${{UNSET:?${{UNSET2:-{REF}}}}}'\n",
    "volume-source": SERVICE + f"    volumes: ['{REF}:/data']\n",
    "secret-source": SERVICE + f"    secrets: ['{REF}']\n",
    "health-url": SERVICE
    + f"x-composewatch:\n  services:\n    web:\n      health: {{url: 'http://{REF}:99999/'}}\n",
    "health-url-port": SERVICE
    + f"x-composewatch:\n  services:\n    web:\n      health: {{url: 'http://127.0.0.1:{REF}/'}}\n",
    "health-path": SERVICE
    + f"x-composewatch:\n  services:\n    web:\n      health: {{path: '{REF}'}}\n",
    "health-timeout": SERVICE
    + f"x-composewatch:\n  services:\n    web:\n      health: {{timeout_s: '{REF}'}}\n",
    # x-composewatch settings are checked after the load (settings_of): an error there
    # quotes the interpolated value, and the one redaction (composewatch/hiding.py) hides it
    "commands-re": SERVICE
    + f"x-composewatch:\n  commands:\n    - {{ext: .py, re: '({REF}', run: 'true'}}\n",
    "commands-service": SERVICE
    + f"x-composewatch:\n  commands:\n    - {{ext: .py, run: 'true', service: '{REF}'}}\n",
    "commands-glob": SERVICE + f"x-composewatch:\n  commands:\n    - {{ext: '{REF}', run: ''}}\n",
    "settings-builder": SERVICE + f"x-composewatch:\n  builder: '{REF}'\n",
    "settings-quiet": SERVICE + f"x-composewatch:\n  quiet_ms: '{REF}'\n",
    "settings-unknown": SERVICE + f"x-composewatch:\n  commands: '{REF}'\n",
}
# Valid for `config` (which prints the resolved model, secrets included, as compose does);
# `up` checks them before touching anything.
UP_FIELDS: dict[str, str] = {
    "dockerfile": f"services:\n  web:\n    build: {{context: ., dockerfile: '{REF}'}}\n",
    "context": f"services:\n  web:\n    build: {{context: './{REF}'}}\n",
}


@dataclass(frozen=True)
class Source:
    """Where the secret comes from: extra files to write, CLI options, environment."""

    files: dict[str, str]
    options: tuple[str, ...] = ()
    environ: tuple[tuple[str, str], ...] = ()
    compose_extra: str = ""  # appended to the service (env_file) or the top level (include)


SOURCES: dict[str, Source] = {
    "dotenv": Source({".env": f"SECRET_TOKEN='{SECRET}'\n"}),
    "env-file-option": Source(
        {"secrets.env": f"SECRET_TOKEN={SECRET}\n"}, ("--env-file", "secrets.env")
    ),
    "shell": Source({}, environ=(("SECRET_TOKEN", SECRET),)),
}

# Lines an env file fails to parse, each holding the secret.
BROKEN_LINES = {
    "unclosed-double": f'SECRET_TOKEN="{SECRET}\nOTHER=1\n',
    "unclosed-single": f"SECRET_TOKEN='{SECRET}\n",
    "after-quote": f'SECRET_TOKEN="{SECRET}" {SECRET}\n',
    "no-name": f"={SECRET}\n",
    "bad-template": f"SECRET_TOKEN=${{{SECRET}\n",
    "required": f"SECRET_TOKEN=${{UNSET:?{SECRET}}}\n",
}
NOT_UTF8 = f"SECRET_TOKEN={SECRET}".encode() + b"\xff\n"


def _write(directory: Path, files: dict[str, str | bytes]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)


class Run(Protocol):
    def __call__(
        self, directory: Path, *args: str, environ: tuple[tuple[str, str], ...] = ()
    ) -> str: ...


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    def invoke(directory: Path, *args: str, environ: tuple[tuple[str, str], ...] = ()) -> str:
        monkeypatch.chdir(directory)
        for key in list(os.environ):
            monkeypatch.delenv(key)
        monkeypatch.setenv("PATH", "/usr/bin:/bin")
        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # never an engine
        for key, value in environ:
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", ["composewatch", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        out, err = capsys.readouterr()
        assert exit_info.value.code == 2, (args, out, err)
        assert err.startswith("error: ") and "Traceback" not in err, err
        return out + err

    yield invoke


def assert_no_secret(output: str) -> None:
    assert SECRET not in output, output
    for word in WORDS:
        assert word not in output, (word, output)


CASES = [
    *((f, c) for f in FIELDS for c in ("config", "up")),
    *((f, "up") for f in UP_FIELDS),
]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("field", "command"), CASES)
def test_interpolated_secret_is_never_printed(
    tmp_path: Path, run: Run, field: str, source: str, command: str
) -> None:
    plan = SOURCES[source]
    compose = FIELDS.get(field) or UP_FIELDS[field]
    _write(tmp_path, {"compose.yaml": compose, "Dockerfile": "FROM busybox\n", **plan.files})
    output = run(tmp_path, *plan.options, command, environ=plan.environ)
    assert_no_secret(output)
    if "required" not in field and field != "container_name":
        assert "SECRET_TOKEN" in output or "compose.yaml" in output, output


@pytest.mark.parametrize("broken", [*BROKEN_LINES, "not-utf8"])
@pytest.mark.parametrize("where", ["dotenv", "env-file-option", "env_file", "include-env_file"])
def test_unparsable_env_line_names_the_file_not_the_value(
    tmp_path: Path, run: Run, broken: str, where: str
) -> None:
    compose = SERVICE
    options: tuple[str, ...] = ()
    env_name = {"dotenv": ".env"}.get(where, "secrets.env")
    if where == "env-file-option":
        options = ("--env-file", env_name)
    elif where == "env_file":
        compose += f"    env_file: [{env_name}]\n"
    elif where == "include-env_file":
        compose = f"include: [{{path: inc/compose.yaml, env_file: {env_name}}}]\n"
        _write(tmp_path, {"inc/compose.yaml": SERVICE})
    _write(tmp_path, {"compose.yaml": compose, env_name: BROKEN_LINES.get(broken, NOT_UTF8)})
    output = run(tmp_path, *options, "config")
    assert_no_secret(output)
    assert env_name in output, output


def test_env_file_values_are_hidden_in_later_errors(tmp_path: Path, run: Run) -> None:
    """A value of a service's `env_file` never reaches a message, even quoted by a parser."""
    _write(
        tmp_path,
        {
            "compose.yaml": SERVICE + "    env_file: [app.env]\n" + f"    ports: ['{REF}']\n",
            "app.env": f"OTHER={SECRET}\n",
            ".env": f"SECRET_TOKEN={SECRET}\n",
        },
    )
    assert_no_secret(run(tmp_path, "config"))


def test_the_variable_is_named_instead(tmp_path: Path, run: Run) -> None:
    _write(tmp_path, {"compose.yaml": FIELDS["ports"], ".env": f"SECRET_TOKEN={SECRET}\n"})
    output = run(tmp_path, "config")
    assert "services.web.ports[0]" in output and "${SECRET_TOKEN}" in output, output
