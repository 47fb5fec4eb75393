"""The compose project in compose's canonical long form, as frozen pydantic models.

The loader produces a plain dict shaped exactly like `docker compose config --format json`
and validates it into `Project`. Fields composewatch acts on are typed; every other key is
kept as an extra so `composewatch config` can print the whole model unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from composewatch.compose.layout import GoFloat, shape_document
from composewatch.compose.redaction import Redaction
from composewatch.errors import ComposewatchError

#: The prefix of the labels compose writes on what it creates (project, service,
#: container-number, config-hash, ...) and reads back to find and adopt it: defined once here,
#: written by spec.py, read by engine/.
LABEL = "com.docker.compose."


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class BuildConfig(_Model):
    context: str  # absolute path (or a URL, which composewatch does not watch)
    dockerfile: str | None = None  # relative to context, as written
    dockerfile_inline: str | None = None
    args: dict[str, str] | None = None
    target: str | None = None
    labels: dict[str, str] | None = None
    network: str | None = None
    shm_size: int | str | None = None
    extra_hosts: list[str] | None = None
    cache_from: list[str] | None = None
    pull: bool | None = None
    no_cache: bool | None = None


class PortConfig(_Model):
    mode: str | None = None
    host_ip: str | None = None
    target: int
    published: str | None = None
    protocol: str | None = None
    app_protocol: str | None = None
    name: str | None = None


class BindOptions(_Model):
    propagation: str | None = None
    create_host_path: bool | None = None
    selinux: str | None = None


class VolumeOptions(_Model):
    nocopy: bool | None = None
    subpath: str | None = None


class TmpfsOptions(_Model):
    size: int | str | None = None
    mode: int | str | None = None


class ServiceVolume(_Model):
    type: Literal["bind", "volume", "tmpfs", "npipe", "cluster", "image"]
    source: str | None = None  # absolute host path for binds, volume name otherwise
    target: str
    read_only: bool | None = None
    consistency: str | None = None
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None


class ServiceNetwork(_Model):
    aliases: list[str] | None = None
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    priority: int | None = None


class DependsOn(_Model):
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = (
        "service_started"
    )
    required: bool = True
    restart: bool | None = None


class Healthcheck(_Model):
    test: list[str] | None = None
    interval: str | None = None  # Go-style durations, as compose prints them ("1m30s")
    timeout: str | None = None
    retries: int | None = None
    start_period: str | None = None
    start_interval: str | None = None
    disable: bool | None = None


class WatchRule(_Model):
    path: str  # absolute
    action: Literal["sync", "rebuild", "restart", "sync+restart", "sync+exec"]
    target: str | None = None
    ignore: list[str] | None = None
    include: list[str] | None = None
    initial_sync: bool | None = None
    exec_: dict[str, Any] | None = Field(default=None, alias="exec")


class Develop(_Model):
    watch: list[WatchRule] | None = None


class Ulimit(_Model):
    single: int | None = None
    soft: int | None = None
    hard: int | None = None


class Service(_Model):
    image: str | None = None
    build: BuildConfig | None = None
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str | None] | None = None
    ports: list[PortConfig] | None = None
    expose: list[str] | None = None
    volumes: list[ServiceVolume] | None = None
    networks: dict[str, ServiceNetwork | None] | None = None
    network_mode: str | None = None
    depends_on: dict[str, DependsOn] | None = None
    healthcheck: Healthcheck | None = None
    restart: str | None = None
    init: bool | None = None
    user: str | None = None
    working_dir: str | None = None
    labels: dict[str, str] | None = None
    # Merged into labels and not printed by `config`, but `docker compose up` hashes the paths.
    label_file: list[str] | None = Field(default=None, exclude=True)
    container_name: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    extra_hosts: list[str] | None = None
    stop_signal: str | None = None
    stop_grace_period: str | None = None
    tty: bool | None = None
    stdin_open: bool | None = None
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    privileged: bool | None = None
    shm_size: int | str | None = None
    ulimits: dict[str, Ulimit | int] | None = None  # a bare int is `single`
    dns: list[str] | None = None
    profiles: list[str] | None = None
    develop: Develop | None = None
    deploy: dict[str, Any] | None = None
    scale: int | None = None

    def networks_by_priority(self) -> list[str]:
        """The service's network keys, the primary one first (highest `priority`, then by
        name), as compose orders them."""
        nets = self.networks or {}

        def rank(key: str) -> tuple[int, str]:
            net = nets[key]
            return (-(net.priority or 0) if net else 0, key)

        return sorted(nets, key=rank)


class Project(_Model):
    """A loaded project. `name`, `services`, networks, volumes, secrets, configs are printed by
    `config`; the private fields below record where it came from and are never printed."""

    name: str
    services: dict[str, Service] = Field(default_factory=dict)
    networks: dict[str, dict[str, Any] | None] | None = None
    volumes: dict[str, dict[str, Any] | None] | None = None
    secrets: dict[str, dict[str, Any] | None] | None = None
    configs: dict[str, dict[str, Any] | None] | None = None

    def to_compose_dict(self) -> dict[str, Any]:
        """The project as `docker compose config --format json` prints it: compose-go's
        fields only, Go's zero values left out, literal `$` as `$$` (so the output is itself
        a valid compose file)."""
        dump = self.model_dump(mode="python", by_alias=True, exclude_unset=True)
        escaped: dict[str, Any] = _plain(shape_document(dump, {}, "json"))
        return escaped


def _plain(value: Any) -> Any:
    """A shaped tree as plain JSON values, `$` doubled in keys and strings."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, GoFloat):
        return value.value
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class LoadedProject(BaseModel):
    """A project plus what composewatch needs to know about its source files."""

    model_config = ConfigDict(frozen=True)

    project: Project
    working_dir: str  # the project directory (directory of the first compose file)
    config_files: list[str]  # absolute paths, in -f order
    environment: dict[str, str]  # the environment used for interpolation (.env + os.environ)
    env_files: list[str] = Field(default_factory=list)  # --env-file, absolute, in order
    extensions: dict[str, Any] = Field(default_factory=dict)  # top-level x-* keys, interpolated
    # the values this project's errors must not show (compose/redaction.py); set by the loader
    _redaction: Redaction = PrivateAttr(default_factory=Redaction)

    def scrub(self, exc: ComposewatchError) -> ComposewatchError:
        """`exc` (raised while using this project) with no variable's value in its message:
        each is shown as `${NAME}`, as the loader's own errors are."""
        return self._redaction.scrub(exc)

    def to_compose_dict(self) -> dict[str, Any]:
        """`docker compose config --format json` as data: the project's dict plus the
        top-level `x-*` keys, which compose prints too."""
        dump = self.project.model_dump(mode="python", by_alias=True, exclude_unset=True)
        document: dict[str, Any] = _plain(shape_document(dump, self.extensions, "json"))
        return document
