"""composewatch's own settings, read from the `x-composewatch:` key of the compose file.

x-composewatch:
  quiet_ms: 30              # react after this much quiet following the last save
  max_parallel_builds: 3
  builder: auto             # buildkit | classic | auto (BuildKit when the engine has it)
  in_place: true            # false: every save rebuilds and swaps (docs/speed.md)
  services:
    web:
      health: {path: /healthz, expected_status: 200, timeout_s: 30}
      stop_timeout_s: 2     # used only when the service sets no stop_grace_period
      watch: false          # never rebuild this service on save
      in_place: false       # always rebuild and swap this one
    worker:                 # expose: ["8000"] only: probed inside the container
      health: {port: 8000, via: auto}   # auto | host | engine (docs/health-probe.md)
  commands:                 # run on save, gaze's way (see composewatch/core/commands.py)
    - ext: .py
      cmd: python -m pyflakes "{{file}}"
    - glob: "tests/*.py"
      cmd: pytest {{file}}
      service: web          # inside web's container instead of on the host
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from composewatch.core.commands import (
    CommandRule,
    PlaceholderError,
    check_template,
    compile_path_regex,
)
from composewatch.errors import ConfigError

__all__ = [
    "CommandSettings",
    "HealthSettings",
    "ServiceSettings",
    "Settings",
    "parse_settings",
    "settings_schema",
]

SETTINGS_KEY = "x-composewatch"


MAX_WAIT_S = 3600.0  # the longest health timeout or stop timeout accepted


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf` or `.nan` would be accepted here and fail at the engine
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _printable(text: str) -> bool:
    return text.isprintable() and not any(c.isspace() for c in text)


class HealthSettings(_Strict):
    """How to tell that a service's new container serves.

    `probe` "auto" means: HTTP on the first published port when there is one, else the
    container's own HEALTHCHECK, else "running". `via` says where an HTTP probe runs: from
    this machine to the published port ("host"), or inside the container through the engine's
    exec API ("engine"); "auto" picks host for a published port and engine otherwise, and with
    a remote engine falls back to engine when its host cannot be reached from here.
    """

    probe: Literal["auto", "http", "docker", "running"] = Field(
        default="auto",
        description="auto: HTTP on the first published port, else the HEALTHCHECK, else running",
    )
    url: str | None = Field(
        default=None, description="full URL on this machine; overrides path and port"
    )
    path: str = Field(default="/", description="HTTP path to probe")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="container port to probe (default: first published); unpublished: via engine",
    )
    expected_status: int | None = Field(
        default=None, ge=100, le=599, description="HTTP status to expect (default: any below 500)"
    )
    timeout_s: float = Field(
        default=60.0, gt=0, le=MAX_WAIT_S, description="give up (and roll back) after this"
    )
    via: Literal["auto", "host", "engine"] = Field(
        default="auto",
        description=(
            "where the HTTP probe runs: host (the published port, from here), engine (inside "
            "the container, by exec); auto: host when published, else engine, and engine once "
            "a remote engine's host proves unreachable"
        ),
    )

    # The messages below do not repeat the value: it may have been interpolated from a secret.
    @field_validator("url")
    @classmethod
    def _loopback_only(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if not _printable(url):
            raise ValueError("the URL holds spaces or control characters")
        try:
            parts = urlsplit(url)
            port = parts.port  # raises for a port outside 0-65535
        except ValueError:
            raise ValueError("not a valid URL (is the port between 1 and 65535?)") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http:// or https:// URL")
        if port == 0:
            raise ValueError("the port must be between 1 and 65535")
        try:
            loopback = parts.hostname == "localhost" or ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError("the URL is not on this machine (use 127.0.0.1 or localhost)")
        return url

    @model_validator(mode="after")
    def _url_is_probed_from_here(self) -> HealthSettings:
        if self.url is not None and self.via == "engine":
            raise ValueError(
                "url is probed from this machine, so it cannot go with via: engine; "
                "set port (and path) to probe inside the container instead"
            )
        return self

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("the path must start with '/'")
        if not _printable(path):
            raise ValueError("the path holds spaces or control characters")
        return path


class ServiceSettings(_Strict):
    health: HealthSettings = Field(
        default=HealthSettings(), description="how to tell that a new container serves"
    )
    stop_timeout_s: float | None = Field(
        default=None,
        ge=0,
        le=MAX_WAIT_S,
        description="stop timeout when the service sets no stop_grace_period",
    )
    watch: bool = Field(default=True, description="false: never rebuild this service on save")
    in_place: bool | None = Field(
        default=None,
        description=(
            "false: always rebuild and swap; default: the project's in_place (update the "
            "running container when its Dockerfile proves it safe)"
        ),
    )


class CommandSettings(_Strict):
    """A command run when a matching file is saved (gaze's `commands:` entries).

    Match by `ext`, `glob` and/or `re` (all given must hold); the command is shell text with
    gaze's placeholders {{file}} {{ext}} {{base}} {{base0}} {{base1}} {{base2}} {{dir}}
    {{abs}}, whose values reach `sh -c` as parameters, never as shell text
    (core/template.py). It runs on the host in the project directory, or with `service`
    inside that service's serving container. gaze's older `run:` is read as `cmd:`.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )

    cmd: str = Field(
        min_length=1,
        validation_alias=AliasChoices("cmd", "run"),
        description="shell command; gaze placeholders reach it as parameters, never as shell text",
    )
    ext: str | None = Field(default=None, description="file extension, with its dot: .py")
    glob: str | None = Field(default=None, description="glob on the project-relative path or name")
    re: str | None = Field(default=None, description="regular expression searched in the path")
    service: str | None = Field(
        default=None, description="run inside this service's container (default: on the host)"
    )
    timeout_s: float = Field(
        default=300.0, gt=0, le=MAX_WAIT_S, description="kill the command after this"
    )

    @field_validator("re")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            compile_path_regex(pattern)  # RE2, as gaze's Go regexp: ValueError when invalid
        return pattern

    @field_validator("cmd")
    @classmethod
    def _known_placeholders(cls, cmd: str) -> str:
        try:
            check_template(cmd)
        except PlaceholderError as err:
            raise ValueError(str(err)) from None
        return cmd

    @model_validator(mode="after")
    def _has_pattern(self) -> CommandSettings:
        if not (self.ext or self.glob or self.re):
            raise ValueError("a command needs ext, glob or re to say which files trigger it")
        return self

    def rule(self, source: str) -> CommandRule:
        return CommandRule(
            self.cmd, self.ext, self.glob, self.re, self.service, source, self.timeout_s
        )


class Settings(_Strict):
    quiet_ms: int = Field(
        default=30, ge=1, le=10_000, description="react this long after the last file event"
    )
    max_parallel_builds: int = Field(
        default=3, ge=1, le=32, description="builds beyond this wait, and say for whom"
    )
    builder: Literal["auto", "buildkit", "classic"] = Field(
        default="auto",
        description="auto: BuildKit wherever the engine offers it (DOCKER_BUILDKIT=0: classic)",
    )
    in_place: bool = Field(
        default=True,
        description=(
            "update a running container in place (copy the saved files, restart it) when its "
            "Dockerfile proves that equals a rebuild; false: always rebuild and swap"
        ),
    )
    services: dict[str, ServiceSettings] = Field(
        default_factory=dict, description="per-service settings, by service name"
    )
    commands: tuple[CommandSettings, ...] = Field(
        default=(), description="commands run on save, gaze's way"
    )

    def command_rules(self) -> list[CommandRule]:
        return [c.rule(f"{SETTINGS_KEY}.commands[{i}]") for i, c in enumerate(self.commands)]

    def for_service(self, name: str) -> ServiceSettings:
        return self.services.get(name, _DEFAULT_SERVICE)

    def updates_in_place(self, name: str) -> bool:
        own = self.for_service(name).in_place
        return self.in_place if own is None else own


_DEFAULT_SERVICE = ServiceSettings()


def parse_settings(raw: Any, *, file: str, service_names: set[str]) -> Settings:
    """Validate the `x-composewatch` value; errors name the file and the key path."""
    try:
        settings = Settings.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _key_path(first["loc"])
        raise ConfigError(f"{file}: {key}: {_describe(first)}") from None
    for index, command in enumerate(settings.commands):
        if command.service is not None and command.service not in service_names:
            raise ConfigError(
                f"{file}: {SETTINGS_KEY}.commands[{index}].service: no service named "
                f"{command.service!r} in the project"
            )
    unknown = sorted(set(settings.services) - service_names)
    if unknown:
        raise ConfigError(
            f"{file}: {SETTINGS_KEY}.services.{unknown[0]}: no service named {unknown[0]!r} "
            f"in the project (services: {', '.join(sorted(service_names)) or 'none'})"
        )
    return settings


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = SETTINGS_KEY
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (see the x-composewatch section of the README for the known keys)"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def settings_schema() -> dict[str, Any]:
    """The JSON Schema of the `x-composewatch` value (`composewatch schema`)."""
    schema = Settings.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/composewatch/composewatch/x-composewatch.schema.json",
        **schema,
        "title": "x-composewatch",
        "description": "composewatch's settings, under the x-composewatch key of a compose file",
    }
