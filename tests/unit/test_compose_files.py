"""File discovery, COMPOSE_FILE, the .env environment and the project name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from composewatch.compose import ProjectOptions, load_project
from composewatch.compose.files import discover_files, normalize_project_name
from composewatch.errors import ComposeFileError

SIMPLE = "services:\n  web:\n    image: nginx:${TAG:-latest}\n"


def _options(
    directory: Path,
    *,
    environ: Mapping[str, str] | None = None,
    env_files: tuple[str, ...] = (),
    project_name: str | None = None,
    profiles: tuple[str, ...] = (),
) -> ProjectOptions:
    """Options for a project in `directory`, with an empty shell environment by default."""
    return ProjectOptions(
        working_dir=str(directory),
        environ={} if environ is None else environ,
        env_files=env_files,
        project_name=project_name,
        profiles=profiles,
    )


def test_discovery_prefers_compose_yaml_and_adds_override(tmp_path: Path) -> None:
    for name in ("compose.yaml", "docker-compose.yml", "compose.override.yaml"):
        (tmp_path / name).write_text(SIMPLE)
    assert discover_files(tmp_path) == [
        tmp_path / "compose.yaml",
        tmp_path / "compose.override.yaml",
    ]


def test_discovery_searches_parent_directories(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(SIMPLE)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    loaded = load_project(_options(nested))
    assert loaded.config_files == [str(tmp_path / "docker-compose.yml")]
    assert loaded.working_dir == str(tmp_path)


def test_no_file_found_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(ComposeFileError, match="no configuration file provided"):
        load_project(_options(tmp_path))


def test_compose_file_from_dotenv_with_separator(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(SIMPLE)
    (tmp_path / "two.yaml").write_text("services:\n  web:\n    user: root\n")
    (tmp_path / ".env").write_text("COMPOSE_FILE=one.yaml;two.yaml\nCOMPOSE_PATH_SEPARATOR=;\n")
    web = load_project(_options(tmp_path)).project.services["web"]
    assert (web.image, web.user) == ("nginx:latest", "root")


def test_shell_environment_wins_over_dotenv(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(SIMPLE)
    (tmp_path / ".env").write_text("TAG=fromfile\n")
    assert load_project(_options(tmp_path)).project.services["web"].image == "nginx:fromfile"
    shell = load_project(_options(tmp_path, environ={"TAG": "shell"}))
    assert shell.project.services["web"].image == "nginx:shell"


def test_env_files_replace_dotenv_and_later_wins(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(SIMPLE)
    (tmp_path / ".env").write_text("TAG=dotenv\n")
    (tmp_path / "a.env").write_text("TAG=a\n")
    (tmp_path / "b.env").write_text("TAG=b-${TAG}\n")
    loaded = load_project(_options(tmp_path, env_files=("a.env", "b.env")))
    assert loaded.project.services["web"].image == "nginx:b-a"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("My_Project", "my_project"), ("-Web App!", "webapp"), ("__x.y", "xy"), ("ok-1", "ok-1")],
)
def test_normalize_project_name(raw: str, expected: str) -> None:
    assert normalize_project_name(raw) == expected


def test_project_name_precedence(tmp_path: Path) -> None:
    project_dir = tmp_path / "My Dir"
    project_dir.mkdir()
    (project_dir / "compose.yaml").write_text(SIMPLE)
    assert load_project(_options(project_dir)).project.name == "mydir"
    (project_dir / "compose.yaml").write_text("name: From_File\n" + SIMPLE)
    assert load_project(_options(project_dir)).project.name == "from_file"
    env = {"COMPOSE_PROJECT_NAME": "fromenv"}
    assert load_project(_options(project_dir, environ=env)).project.name == "fromenv"
    explicit = load_project(_options(project_dir, environ=env, project_name="cli"))
    assert explicit.project.name == "cli"


def test_invalid_explicit_project_name(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(SIMPLE)
    with pytest.raises(ComposeFileError, match="invalid project name"):
        load_project(_options(tmp_path, project_name="Bad Name"))


def test_profiles_from_flag_and_environment(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: a\n  debug:\n    image: b\n    profiles: [dev]\n"
    )
    assert set(load_project(_options(tmp_path)).project.services) == {"web"}
    flag = load_project(_options(tmp_path, profiles=("dev",)))
    assert set(flag.project.services) == {"web", "debug"}
    env = load_project(_options(tmp_path, environ={"COMPOSE_PROFILES": "x,dev"}))
    assert set(env.project.services) == {"web", "debug"}
