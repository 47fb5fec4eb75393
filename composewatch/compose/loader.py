"""`load_project`: from command-line style options to a validated `LoadedProject`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from composewatch.compose.envfile import env_lookup, load_env_file
from composewatch.compose.files import (
    compose_files_from_env,
    discover_files,
    load_environment,
    pick_project_name,
)
from composewatch.compose.interpolation import expansion_budget, interpolate_tree
from composewatch.compose.model import LoadedProject, Project
from composewatch.compose.normalize import (
    normalize_resource,
    normalize_service,
    resolve_environment,
    string_map,
)
from composewatch.compose.paths import format_path
from composewatch.compose.project import (
    check_consistency,
    normalize_project,
    prune_resources,
    select_profiles,
)
from composewatch.compose.redaction import redacting
from composewatch.compose.treeload import load_model, read_text
from composewatch.compose.yamlload import parse_documents
from composewatch.errors import ComposeFileError, ComposewatchError

__all__ = ["ProjectOptions", "load_project"]


class ProjectOptions(BaseModel):
    """What `docker compose` reads from its global options and the shell."""

    model_config = ConfigDict(frozen=True)

    files: tuple[str, ...] = ()  # -f, in order; empty = discovery (or COMPOSE_FILE)
    project_name: str | None = None  # -p
    profiles: tuple[str, ...] = ()  # --profile
    env_files: tuple[str, ...] = ()  # --env-file (replaces the default .env when given)
    working_dir: str | None = None  # where discovery starts; default os.getcwd()
    environ: Mapping[str, str] | None = None  # the shell environment; default os.environ


def _name_in_files(files: list[Path], env: Mapping[str, str]) -> str | None:
    """The last `name:` set by the files, interpolated (compose reads it before loading)."""
    name: str | None = None
    for file in files:
        for doc in parse_documents(read_text(file), file):
            if isinstance(doc, dict) and isinstance(doc.get("name"), str) and doc["name"]:
                name = doc["name"]
    if name is None:
        return None
    return str(interpolate_tree(name, env, file=str(files[0]), path=("name",)))


def _service_environment(name: str, service: dict[str, Any], env: Mapping[str, str]) -> None:
    """Merge `env_file` contents under `environment` (in place); environment wins."""
    own = resolve_environment(service.get("environment"), env)
    merged: dict[str, str | None] = {}
    for entry in service.get("env_file") or []:
        path = Path(entry["path"])
        if not path.is_file():
            if entry.get("required", True) in (False, "false"):
                continue
            raise ComposeFileError(
                f"env file {path} not found: stat {path}: no such file or directory",
                file=path,
                key=f"services.{name}.env_file",
            )
        from_file: dict[str, str] = {k: v for k, v in merged.items() if v is not None}
        lookup = env_lookup(env, {k: v for k, v in own.items() if v is not None})
        raw = entry.get("format") == "raw"
        merged.update(load_env_file(path, lookup, from_file, raw=raw))
    if merged or "environment" in service:
        service["environment"] = {**merged, **own}


def _service_labels(name: str, service: dict[str, Any]) -> None:
    """Merge `label_file` contents under `labels` (in place); `labels` wins. A label file's
    `${VAR}` reads only labels of the files before it, as compose reads them."""
    from_files: dict[str, str] = {}
    for entry in service.get("label_file") or []:
        path = Path(entry)
        if not path.is_file():
            raise ComposeFileError(
                f"label file {path} not found", file=path, key=f"services.{name}.label_file"
            )
        load_env_file(path, env_lookup(from_files), from_files)
    if from_files:
        service["labels"] = {**from_files, **string_map(service.get("labels"))}


def _files(options: ProjectOptions, cwd: Path, env: Mapping[str, str]) -> list[Path]:
    if options.files:
        return [Path(os.path.normpath(cwd / f)) for f in options.files]
    files = compose_files_from_env(env, cwd) or discover_files(cwd)
    if not files:
        raise ComposeFileError(
            f"no configuration file provided: not found (searched {cwd} and its parents)",
            file=cwd,
        )
    return files


def _inputs(options: ProjectOptions) -> tuple[list[Path], dict[str, str], str]:
    """The compose files, the interpolation environment and the project name."""
    cwd = Path(os.path.abspath(options.working_dir or os.getcwd()))
    shell = dict(os.environ if options.environ is None else options.environ)
    first_dir = Path(os.path.normpath(cwd / options.files[0])).parent if options.files else cwd
    env = load_environment(first_dir, options.env_files, shell, cwd)
    files = _files(options, cwd, env)
    project_dir = files[0].parent
    if not options.env_files and project_dir != first_dir:
        # files found via COMPOSE_FILE or a parent directory: their own .env applies too
        env = {**load_environment(project_dir, (), env, cwd), **env}
    name_env = {**env, "COMPOSE_PROJECT_NAME": env.get("COMPOSE_PROJECT_NAME", "")}
    name = pick_project_name(
        options.project_name, env, _name_in_files(files, name_env), project_dir
    )
    env["COMPOSE_PROJECT_NAME"] = name
    return files, env, name


def load_project(options: ProjectOptions) -> LoadedProject:
    """Load a compose project as `docker compose config` would; raises ComposeFileError,
    whose message names the variables whose values it would otherwise show."""
    with redacting() as redaction, expansion_budget():
        try:
            loaded = _load_project(options)
        except ComposewatchError as exc:
            raise redaction.scrub(exc) from None
    loaded._redaction = redaction  # for errors raised later while using the project
    return loaded


def _load_project(options: ProjectOptions) -> LoadedProject:
    files, env, name = _inputs(options)
    project_dir = files[0].parent
    model = load_model(files, project_dir, env)
    if not model:
        raise ComposeFileError("empty compose file", file=files[0])
    model["name"] = name
    model.setdefault("services", {})
    normalize_project(model, name)
    profiles = options.profiles or tuple(p for p in env.get("COMPOSE_PROFILES", "").split(",") if p)
    enabled, disabled = select_profiles(model["services"], profiles)
    model["services"] = enabled
    try:
        check_consistency(model, disabled)
    except ComposeFileError as exc:
        raise ComposeFileError(exc.reason, file=files[0], key=exc.key) from None
    prune_resources(model)
    try:
        for service_name, service in enabled.items():
            _service_environment(service_name, service, env)
            _service_labels(service_name, service)
        model["services"] = {n: normalize_service(n, s, env) for n, s in enabled.items()}
    except ComposeFileError as exc:
        raise ComposeFileError(exc.reason, file=exc.file or files[0], key=exc.key) from None
    for kind in ("networks", "volumes", "secrets", "configs"):
        if kind in model:
            model[kind] = {k: normalize_resource(v) for k, v in model[kind].items()}
    extensions = {k: v for k, v in model.items() if k.startswith("x-")}
    model.pop("include", None)
    try:
        project = Project.model_validate(model)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = format_path(tuple(error["loc"]))
        raise ComposeFileError(error["msg"], file=files[0], key=key) from None
    return LoadedProject(
        project=project,
        working_dir=str(project_dir),
        config_files=[str(f) for f in files],
        environment=env,
        extensions=extensions,
        # Made absolute as compose does (filepath.Abs against the current directory).
        env_files=[
            os.path.abspath(Path(options.working_dir or os.getcwd(), f)) for f in options.env_files
        ],
    )
