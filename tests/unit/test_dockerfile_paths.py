"""A Dockerfile wherever it lives: beside the context (`../docker/api.Dockerfile`), at an
absolute path, through a symlinked folder. Its path is resolved as compose resolves it (no
`..`, the folder's symlinks followed), its folder is watched, a save of it rebuilds, and
`explain` says so. No Docker: the loader, the mapping and explain are pure or read files."""

from __future__ import annotations

from pathlib import Path

import pytest

from composewatch.compose import ProjectOptions, load_project
from composewatch.compose.model import LoadedProject
from composewatch.config import SETTINGS_KEY, parse_settings
from composewatch.core.action import Action
from composewatch.explain import explain_path
from composewatch.mapping import (
    load_watch_targets,
    locate_dockerfile,
    map_changes,
    watch_roots,
)


def project(folder: Path, dockerfile: str, *, rules: str = "") -> LoadedProject:
    (folder / "api").mkdir(parents=True, exist_ok=True)
    (folder / "api" / "main.py").write_text("print('hi')\n")
    (folder / "compose.yaml").write_text(
        f"services:\n  api:\n    build:\n      context: ./api\n      dockerfile: {dockerfile}\n"
        + rules
    )
    return load_project(ProjectOptions(working_dir=str(folder), project_name="paths"))


def explain(loaded: LoadedProject, path: Path) -> tuple[str | None, str]:
    settings = parse_settings(
        loaded.extensions.get(SETTINGS_KEY), file="compose.yaml", service_names={"api"}
    )
    [verdict] = [v for v in explain_path(loaded, settings, path, []) if v.subject == "api"]
    return verdict.action, verdict.reason


@pytest.mark.parametrize(
    ("context", "dockerfile", "expected"),
    [
        ("/p/api", None, "/p/api/Dockerfile"),
        ("/p/api", "../docker/api.Dockerfile", "/p/docker/api.Dockerfile"),
        ("/p/api", "./sub/../Dockerfile.dev", "/p/api/Dockerfile.dev"),
        ("/p/api", "/abs/x.Dockerfile", "/abs/x.Dockerfile"),
        ("/p/api", "/abs/../y.Dockerfile", "/y.Dockerfile"),
    ],
)
def test_locate_dockerfile_has_no_dotdot(
    context: str, dockerfile: str | None, expected: str
) -> None:
    # (no such folders: nothing to resolve, the normalised spelling stands)
    assert locate_dockerfile(Path(context), dockerfile) == (Path(expected), None)


def test_a_dockerfile_beside_the_context_is_watched_and_rebuilds(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    dockerfile = tmp_path / "docker" / "api.Dockerfile"
    dockerfile.write_text("FROM busybox\n")
    loaded = project(tmp_path, "../docker/api.Dockerfile")
    [target] = load_watch_targets(loaded)
    assert target.dockerfile == dockerfile and target.dockerfile_alias is None
    assert watch_roots([target]) == [tmp_path / "api", tmp_path / "docker"]
    assert map_changes([dockerfile], [target])["api"].action is Action.REBUILD
    assert map_changes([tmp_path / "docker" / "other.Dockerfile"], [target]) == {}
    action, reason = explain(loaded, dockerfile)
    assert action == "rebuild"
    assert (
        reason
        == f"its Dockerfile (outside its build context {tmp_path / 'api'}, watched there too)"
    )
    # As the user may type it, `..` and all.
    assert explain(loaded, tmp_path / "api" / ".." / "docker" / "api.Dockerfile")[0] == "rebuild"


def test_its_own_ignore_file_beside_it_rebuilds_too(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "api.Dockerfile").write_text("FROM busybox\n")
    ignore = tmp_path / "docker" / "api.Dockerfile.dockerignore"
    ignore.write_text("*.md\n")
    [target] = load_watch_targets(project(tmp_path, "../docker/api.Dockerfile"))
    assert map_changes([ignore], [target])["api"].action is Action.REBUILD


def test_an_absolute_dockerfile_path(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dockerfile = elsewhere / "api.Dockerfile"
    dockerfile.write_text("FROM busybox\n")
    loaded = project(tmp_path / "proj", str(dockerfile))
    [target] = load_watch_targets(loaded)
    assert target.dockerfile == dockerfile
    assert elsewhere in watch_roots([target])
    assert map_changes([dockerfile], [target])["api"].action is Action.REBUILD
    assert explain(loaded, dockerfile)[0] == "rebuild"


def test_a_dockerfile_in_a_symlinked_folder(tmp_path: Path) -> None:
    real = tmp_path / "shared-docker"
    real.mkdir()
    (real / "api.Dockerfile").write_text("FROM busybox\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "docker").symlink_to(real)
    loaded = project(proj, "../docker/api.Dockerfile")
    [target] = load_watch_targets(loaded)
    # compose's path: the folder's symlinks resolved; the spelling through the link is kept.
    assert target.dockerfile == real / "api.Dockerfile"
    assert target.dockerfile_alias == proj / "docker" / "api.Dockerfile"
    assert real in watch_roots([target])  # watched where the file is
    for seen_as in (real / "api.Dockerfile", proj / "docker" / "api.Dockerfile"):
        assert map_changes([seen_as], [target])["api"].action is Action.REBUILD
        assert explain(loaded, seen_as)[0] == "rebuild"


def test_with_develop_watch_rules_the_outside_dockerfile_still_rebuilds(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    dockerfile = tmp_path / "docker" / "api.Dockerfile"
    dockerfile.write_text("FROM busybox\n")
    rules = "    develop:\n      watch:\n        - {path: ./api, target: /app, action: sync}\n"
    [target] = load_watch_targets(project(tmp_path, "../docker/api.Dockerfile", rules=rules))
    assert tmp_path / "docker" in watch_roots([target])
    assert map_changes([dockerfile], [target])["api"].action is Action.REBUILD
    assert map_changes([tmp_path / "api" / "main.py"], [target])["api"].action is Action.SYNC
