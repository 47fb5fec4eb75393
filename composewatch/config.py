"""composewatch's own settings, read from the `x-composewatch:` key of the compose file.

x-composewatch:
  quiet_ms: 50              # react after this much quiet following the last save
  max_parallel_builds: 3
  builder: auto             # buildkit | classic | auto (BuildKit when the engine has it)
  services:
    web:
      health: {path: /healthz, expected_status: 200, timeout_s: 30}
      stop_timeout_s: 2     # used only when the service sets no stop_grace_period
      watch: false          # never rebuild this service on save
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from composewatch.errors import ConfigError

__all__ = ["HealthSettings", "ServiceSettings", "Settings", "parse_settings"]

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
    container's own HEALTHCHECK, else "running".
    """

    probe: Literal["auto", "http", "docker", "running"] = "auto"
    url: str | None = None  # full URL on this machine; overrides path and port
    path: str = "/"
    port: int | None = Field(default=None, ge=1, le=65535)  # container port to probe
    expected_status: int | None = Field(default=None, ge=100, le=599)  # None: any status < 500
    timeout_s: float = Field(default=60.0, gt=0, le=MAX_WAIT_S)

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

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("the path must start with '/'")
        if not _printable(path):
            raise ValueError("the path holds spaces or control characters")
        return path


class ServiceSettings(_Strict):
    health: HealthSettings = HealthSettings()
    stop_timeout_s: float | None = Field(default=None, ge=0, le=MAX_WAIT_S)
    watch: bool = True


class Settings(_Strict):
    quiet_ms: int = Field(default=50, ge=1, le=10_000)
    max_parallel_builds: int = Field(default=3, ge=1, le=32)
    # "auto": BuildKit wherever the engine offers it (DOCKER_BUILDKIT=0 also asks for classic)
    builder: Literal["auto", "buildkit", "classic"] = "auto"
    services: dict[str, ServiceSettings] = Field(default_factory=dict)

    def for_service(self, name: str) -> ServiceSettings:
        return self.services.get(name, _DEFAULT_SERVICE)


_DEFAULT_SERVICE = ServiceSettings()


def parse_settings(raw: Any, *, file: str, service_names: set[str]) -> Settings:
    """Validate the `x-composewatch` value; errors name the file and the key path."""
    try:
        settings = Settings.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _key_path(first["loc"])
        raise ConfigError(f"{file}: {key}: {_describe(first)}") from None
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
