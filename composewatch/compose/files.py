"""Where a project comes from: compose file discovery, COMPOSE_FILE, the `.env` /
`--env-file` environment, and the project name."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from composewatch.compose.envfile import env_lookup, load_env_file
from composewatch.errors import ComposeFileError

__all__ = [
    "DEFAULT_FILES",
    "OVERRIDE_FILES",
    "compose_files_from_env",
    "discover_files",
    "load_environment",
    "normalize_project_name",
    "pick_project_name",
]

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)


def discover_files(start: Path) -> list[Path]:
    """The first default compose file in `start` or its nearest parent, plus its override."""
    directory = start
    while True:
        found = [directory / n for n in DEFAULT_FILES if (directory / n).is_file()]
        if found:
            overrides = [directory / n for n in OVERRIDE_FILES if (directory / n).is_file()]
            return found[:1] + overrides[:1]
        if directory.parent == directory:
            return []
        directory = directory.parent


def compose_files_from_env(env: Mapping[str, str], cwd: Path) -> list[Path]:
    """The files named by COMPOSE_FILE (split on COMPOSE_PATH_SEPARATOR or `:`)."""
    value = env.get("COMPOSE_FILE")
    if value is None:
        return []
    separator = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
    return [Path(os.path.normpath(cwd / p)) for p in value.split(separator) if p]


def load_environment(
    directory: Path, env_files: Sequence[str], shell: Mapping[str, str], cwd: Path
) -> dict[str, str]:
    """The shell environment over the `--env-file` files (or `directory/.env`)."""
    if env_files:
        paths = [Path(os.path.normpath(cwd / f)) for f in env_files]
        for path in paths:
            if not path.is_file():
                raise ComposeFileError(f"couldn't find env file: {path}", file=path)
    else:
        default = directory / ".env"
        paths = [default] if default.is_file() else []
    from_files: dict[str, str] = {}
    for path in paths:
        load_env_file(path, env_lookup(shell), from_files)
    return {**from_files, **shell}


def normalize_project_name(name: str) -> str:
    """Lowercase, only `[a-z0-9_-]`, not starting with `_` or `-` (compose's rule)."""
    return "".join(re.findall(r"[a-z0-9_-]", name.lower())).lstrip("_-")


def _imperative(name: str, source: str) -> str:
    if normalize_project_name(name) != name:
        raise ComposeFileError(
            f"invalid project name {name!r} (from {source}): must consist only of lowercase "
            "alphanumeric characters, hyphens, and underscores as well as start with a letter "
            "or number"
        )
    return name


def pick_project_name(
    explicit: str | None, env: Mapping[str, str], from_file: str | None, project_dir: Path
) -> str:
    """-p, else COMPOSE_PROJECT_NAME, else `name:` from the files, else the directory name."""
    if explicit:
        return _imperative(explicit, "-p")
    if env.get("COMPOSE_PROJECT_NAME"):
        return _imperative(env["COMPOSE_PROJECT_NAME"], "COMPOSE_PROJECT_NAME")
    name = normalize_project_name(from_file or "")
    if not name:
        name = normalize_project_name(project_dir.name)
    if not name:
        raise ComposeFileError("project name must not be empty", file=project_dir)
    return name
