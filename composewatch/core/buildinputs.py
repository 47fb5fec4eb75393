"""What a service's build asks of the engine, decided from the compose model alone.

`parse_build_request` turns a service's `build:` section into a `BuildRequest`: every key is
either applied (a parameter of the engine's build API), or refused before anything is built
with one paragraph that names the key and the way out. Nothing read from a build key is
silently dropped: `IGNORED_BUILD_KEYS` lists the few that have no effect on a local build, and
a test checks that every key compose knows is in one of the three tables.

Pure: no file system, no engine. The request's `key()` feeds the rebuild-skip digest, so any
change to a build input (args, target, the Dockerfile's name...) forces a rebuild.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composewatch.compose.model import Project
from composewatch.compose.units import UnitError, parse_size
from composewatch.errors import BuildContextError

__all__ = [
    "APPLIED_BUILD_KEYS",
    "IGNORED_BUILD_KEYS",
    "REFUSED_BUILD_KEYS",
    "BuildRequest",
    "parse_build_request",
]

# Build keys passed to the engine (the Dockerfile-related ones shape the context instead).
APPLIED_BUILD_KEYS = frozenset(
    {
        "context", "dockerfile", "dockerfile_inline", "args", "target", "labels", "no_cache",
        "pull", "network", "extra_hosts", "shm_size", "cache_from", "platforms", "ulimits",
        "isolation", "additional_contexts", "secrets", "ssh",
    }
)  # fmt: skip
# Keys that change nothing in a local build of one platform, and why.
IGNORED_BUILD_KEYS = {
    "cache_to": "exporting a cache is not needed to serve the image locally",
    "tags": "extra tags are for publishing; the service runs from its own image name",
    "privileged": "only used by bake for entitlements",
    "entitlements": "only used by bake",
    "provenance": "attestations are only made when pushing",
    "sbom": "attestations are only made when pushing",
}
# Keys refused whatever their value, and why (none since the BuildKit session: `secrets` and
# `ssh` reach the build through it, see engine/session.py).
REFUSED_BUILD_KEYS: dict[str, str] = {}


@dataclass(frozen=True)
class BuildRequest:
    """One image build: the context on disk and every parameter the engine gets."""

    service: str
    context: Path
    dockerfile: str  # as written (relative to the context) or absolute
    dockerfile_inline: str | None
    args: tuple[tuple[str, str], ...]
    target: str | None
    labels: tuple[tuple[str, str], ...]
    no_cache: bool
    pull: bool
    network: str | None
    extra_hosts: tuple[str, ...]  # "host:ip", as the engine wants them
    shm_size: int | None
    cache_from: tuple[str, ...]
    platform: str | None
    ulimits: tuple[tuple[str, int, int], ...]
    isolation: str | None
    config_file: str  # named in errors
    named_images: tuple[tuple[str, str], ...] = ()  # additional_contexts naming images
    # build.secrets as (id, "file" | "environment", path or variable name): never the value
    secrets: tuple[tuple[str, str, str], ...] = ()
    ssh: tuple[tuple[str, str], ...] = ()  # (id, agent socket path; "" = $SSH_AUTH_SOCK)
    # additional_contexts naming directories, as (name, directory, image): each is built into
    # `image` (FROM scratch, COPY . /) first, and `named_images` maps the name to it.
    context_dirs: tuple[tuple[str, str, str], ...] = ()

    @property
    def needs_session(self) -> bool:
        """Whether the build cannot run without a BuildKit session's services."""
        return bool(self.secrets or self.ssh)

    @property
    def dockerfile_path(self) -> Path:
        return self.context / self.dockerfile

    def key(self) -> str:
        """Every parameter that changes the image, as one stable string (for the digest and
        to find services whose builds are the same)."""
        fields = {k: v for k, v in self.__dict__.items() if k not in ("service", "config_file")}
        return json.dumps(fields, sort_keys=True, default=str)

    def for_context_dir(self, directory: str) -> BuildRequest:
        """The build that turns an additional context directory into an image holding its
        files, which BuildKit's named contexts give a Dockerfile (`FROM`, `COPY --from`,
        `RUN --mount=from=`). The directory's own `.dockerignore` applies."""
        return BuildRequest(
            service=self.service, context=Path(directory), dockerfile="Dockerfile",
            dockerfile_inline="FROM scratch\nCOPY . /\n", args=(), target=None, labels=(),
            no_cache=False, pull=False, network=None, extra_hosts=(), shm_size=None,
            cache_from=(), platform=self.platform, ulimits=(), isolation=None,
            config_file=self.config_file,
        )  # fmt: skip

    def engine_params(self) -> dict[str, str]:
        """The query parameters of `POST /build` for these inputs (not the Dockerfile's name,
        which depends on how the context is packed)."""
        params: dict[str, str] = {}
        if self.args:
            params["buildargs"] = json.dumps(dict(self.args))
        if self.target:
            params["target"] = self.target
        if self.labels:
            params["labels"] = json.dumps(dict(self.labels))
        if self.no_cache:
            params["nocache"] = "1"
        if self.pull:
            params["pull"] = "1"
        if self.network:
            params["networkmode"] = self.network
        if self.extra_hosts:
            params["extrahosts"] = ",".join(self.extra_hosts)
        if self.shm_size is not None:
            params["shmsize"] = str(self.shm_size)
        if self.cache_from:
            params["cachefrom"] = json.dumps(list(self.cache_from))
        if self.platform:
            params["platform"] = self.platform
        if self.ulimits:
            params["ulimits"] = json.dumps(
                [{"Name": n, "Soft": s, "Hard": h} for n, s, h in self.ulimits]
            )
        if self.isolation:
            params["isolation"] = self.isolation
        return params


def parse_build_request(project: Project, service: str, config_file: str) -> BuildRequest:
    """The build of `service`; BuildContextError names the key that cannot be honoured."""
    model = project.services[service]
    build = model.build
    if build is None:
        raise BuildContextError(
            f"{config_file}: services.{service}.build: the service has no build"
        )
    extra: dict[str, Any] = dict(build.model_extra or {})
    where = f"{config_file}: services.{service}.build"

    for key, why in REFUSED_BUILD_KEYS.items():
        if extra.get(key):
            raise BuildContextError(
                f"{where}.{key}: {why}. Way out: build this image with `docker compose build "
                f"{service}` and run it without `build:` (an override file with `image:` "
                "only), or remove the key."
            )
    secrets = _build_secrets(extra.get("secrets") or [], project, where)
    ssh = _build_ssh(extra.get("ssh") or [], where)
    named_images, context_dirs = _named_contexts(
        extra.get("additional_contexts") or {}, where, f"{project.name}-{service}"
    )
    if context_dirs and build.pull:
        raise BuildContextError(
            f"{where}.pull: `pull: true` makes the engine look every image up in a registry, "
            f"and the directory of additional_contexts.{context_dirs[0][0]} reaches the build "
            "as a local image (the engine's Dockerfile frontend has no named contexts). Way "
            "out: remove `pull: true` (pull the base images with `docker pull` instead)."
        )

    platform = _platform(model.model_extra or {}, extra, where)
    shm_size = _shm_size(build.shm_size, where)
    return BuildRequest(
        service=service,
        context=Path(build.context),
        dockerfile=build.dockerfile or "Dockerfile",
        dockerfile_inline=build.dockerfile_inline,
        args=tuple(sorted((k, v) for k, v in (build.args or {}).items() if v is not None)),
        target=build.target,
        labels=tuple(sorted((build.labels or {}).items())),
        no_cache=bool(build.no_cache),
        pull=bool(build.pull),
        network=build.network,
        extra_hosts=tuple(_host_entry(h) for h in build.extra_hosts or []),
        shm_size=shm_size,
        cache_from=_cache_from(build.cache_from or [], where),
        platform=platform or None,
        ulimits=_ulimits(extra.get("ulimits") or {}),
        isolation=extra.get("isolation"),
        config_file=config_file,
        named_images=named_images,
        secrets=secrets,
        ssh=ssh,
        context_dirs=context_dirs,
    )


def _platform(service_extra: dict[str, Any], extra: dict[str, Any], where: str) -> str | None:
    """The service's `platform`, else the build's only one of `platforms`."""
    platform: str | None = service_extra.get("platform")
    platforms = list(extra.get("platforms") or [])
    if not platform and len(platforms) == 1:
        platform = platforms[0]
    elif not platform and len(platforms) > 1:
        raise BuildContextError(
            f"{where}.platforms: a multi-platform build ({', '.join(platforms)}) cannot be "
            "loaded into the local image store; set the service's `platform` to the one to run."
        )
    return platform


def _shm_size(value: int | str | None, where: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except UnitError as exc:
        raise BuildContextError(f"{where}.shm_size: {exc}") from None


def _cache_from(entries: list[str], where: str) -> tuple[str, ...]:
    cache_from: list[str] = []
    for entry in entries:
        ref = _cache_ref(entry)
        if ref is None:
            raise BuildContextError(
                f"{where}.cache_from: {entry!r} is a cache exported elsewhere (type=local, gha, "
                "s3...), which needs a BuildKit session; name an image (`image:tag` or "
                "`type=registry,ref=image:tag`) or remove the entry."
            )
        cache_from.append(ref)
    return tuple(cache_from)


def _ulimits(entries: dict[str, Any]) -> tuple[tuple[str, int, int], ...]:
    ulimits: list[tuple[str, int, int]] = []
    for name, value in sorted(entries.items()):
        if isinstance(value, dict):
            ulimits.append((name, int(value.get("soft", 0)), int(value.get("hard", 0))))
        else:
            ulimits.append((name, int(value), int(value)))
    return tuple(ulimits)


def _build_secrets(entries: Any, project: Project, where: str) -> tuple[tuple[str, str, str], ...]:
    """`build.secrets` as compose passes them to BuildKit: the id is the entry's `target`,
    else its `source`; the value comes from the top-level secret's `file` or `environment`."""
    found: list[tuple[str, str, str]] = []
    for entry in entries if isinstance(entries, list) else []:
        source = str(entry.get("source", "")) if isinstance(entry, dict) else str(entry)
        target = str(entry.get("target") or "") if isinstance(entry, dict) else ""
        definition = (project.secrets or {}).get(source)
        if definition is None:
            raise BuildContextError(
                f"{where}.secrets: secret {source!r} is not defined in the top-level "
                "`secrets:` section; define it there with `file:` or `environment:`."
            )
        if definition.get("file"):
            found.append((target or source, "file", str(definition["file"])))
        elif definition.get("environment"):
            found.append((target or source, "environment", str(definition["environment"])))
        else:
            raise BuildContextError(
                f"{where}.secrets: secret {source!r} has neither `file:` nor `environment:` "
                "(an `external` secret lives in a swarm and cannot reach a build); give it "
                "one of the two."
            )
    return tuple(sorted(set(found)))


def _build_ssh(entries: Any, where: str) -> tuple[tuple[str, str], ...]:
    """`build.ssh`: `default` (the agent of $SSH_AUTH_SOCK), or `id=path` (compose's model
    prints it `id: path`)."""
    agents: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        text = str(entry).strip()
        ssh_id, sep, path = text.partition("=")
        if not sep:
            ssh_id, sep, path = text.partition(":")
        ssh_id, path = ssh_id.strip(), path.strip()
        if not ssh_id:
            raise BuildContextError(f"{where}.ssh: {text!r} names no id (`default` or `id=path`)")
        agents[ssh_id] = path
    return tuple(sorted(agents.items()))


def _named_contexts(
    contexts: Any, where: str, prefix: str
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, str], ...]]:
    """Named contexts: those naming images, and the directories (each given the image it is
    built into, named after the project and service). URLs and other sources are refused."""
    if not isinstance(contexts, dict):
        return (), ()
    images: list[tuple[str, str]] = []
    directories: list[tuple[str, str, str]] = []
    for name, value in sorted(contexts.items()):
        source = str(value)
        if source.startswith("docker-image://") and len(source) > len("docker-image://"):
            images.append((str(name), source.removeprefix("docker-image://")))
        elif "://" in source or source.startswith(("git@", "target:")):
            raise BuildContextError(
                f"{where}.additional_contexts.{name}: {source!r} is a URL or other remote "
                "source; composewatch builds with directories and `docker-image://IMAGE`. Way "
                "out: clone or download it into a directory and name that directory."
            )
        else:
            image = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-context-{name}".lower()).strip("-")
            directories.append((str(name), source, image))
            images.append((str(name), image))
    return tuple(images), tuple(directories)


def _cache_ref(entry: str) -> str | None:
    if "=" not in entry:
        return entry
    fields = dict(part.split("=", 1) for part in entry.split(",") if "=" in part)
    if fields.get("type", "registry") == "registry" and fields.get("ref"):
        return fields["ref"]
    return None


def _host_entry(entry: str) -> str:
    # compose prints "host=ip" (and accepts "host:ip"); the engine wants "host:ip".
    host, sep, ip = entry.partition("=")
    return f"{host}:{ip}" if sep else entry
