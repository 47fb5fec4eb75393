"""Merging files the way compose-go does, including `!reset` / `!override`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from composewatch.compose import ProjectOptions, load_project
from composewatch.compose.merge import apply_resets, enforce_unicity, merge, strip_tags
from composewatch.compose.yamlload import Override, Reset
from composewatch.errors import ComposeFileError


def _load(tmp_path: Path, *files: tuple[str, str]) -> dict[str, Any]:
    for name, text in files:
        (tmp_path / name).write_text(text)
    options = ProjectOptions(
        files=tuple(name for name, _ in files),
        project_name="p",
        working_dir=str(tmp_path),
        environ={},
    )
    return load_project(options).project.to_compose_dict()


def test_maps_merge_and_scalars_replace() -> None:
    base = {"services": {"web": {"image": "a", "labels": {"x": "1"}}}}
    other = {"services": {"web": {"image": "b", "labels": {"y": "2"}}}}
    merged = merge(base, other)
    assert merged["services"]["web"]["image"] == "b"
    assert sorted(merged["services"]["web"]["labels"]) == ["x=1", "y=2"]


def test_command_is_replaced_not_appended() -> None:
    merged = merge({"services": {"w": {"command": ["a"]}}}, {"services": {"w": {"command": ["b"]}}})
    assert merged["services"]["w"]["command"] == ["b"]


def test_type_mismatch_is_an_error() -> None:
    with pytest.raises(ComposeFileError, match=r"cannot override services\.web\.ports"):
        merge({"services": {"web": {"ports": ["80:80"]}}}, {"services": {"web": {"ports": {}}}})


def test_unicity_later_entry_wins_in_place() -> None:
    tree = {
        "services": {"w": {"environment": ["A=1", "B=2", "A=3"], "volumes": ["./x:/d", "./y:/d"]}}
    }
    result = enforce_unicity(tree)["services"]["w"]
    assert result["environment"] == ["A=3", "B=2"]
    assert result["volumes"] == ["./y:/d"]


def test_strip_tags_records_reset_and_override_paths() -> None:
    doc = {"services": {"w": {"ports": Override(["80:80"]), "volumes": Reset()}}}
    clean, paths = strip_tags(doc)
    assert clean == {"services": {"w": {"ports": ["80:80"]}}}
    assert set(paths) == {("services", "w", "ports"), ("services", "w", "volumes")}
    base = {"services": {"w": {"ports": ["1:1"], "volumes": ["v:/v"], "image": "x"}}}
    apply_resets(base, paths)
    assert base == {"services": {"w": {"image": "x"}}}


def test_files_merge_end_to_end(tmp_path: Path) -> None:
    project = _load(
        tmp_path,
        ("a.yaml", "services:\n  w:\n    image: x\n    ports: ['80:80']\n    dns: 1.1.1.1\n"),
        ("b.yaml", "services:\n  w:\n    ports: ['80:80', '81:81']\n    dns: [8.8.8.8]\n"),
    )
    web = project["services"]["w"]
    assert [p["published"] for p in web["ports"]] == ["80", "81"]
    assert web["dns"] == ["1.1.1.1", "8.8.8.8"]


def test_reset_and_override_tags_end_to_end(tmp_path: Path) -> None:
    base = "services:\n  w:\n    image: x\n    ports: ['80:80']\n    environment: {A: a, B: b}\n"
    override = (
        "services:\n  w:\n    ports: !override ['90:90']\n    environment: {B: !reset null}\n"
    )
    project = _load(tmp_path, ("a.yaml", base), ("b.yaml", override))
    web = project["services"]["w"]
    assert [p["published"] for p in web["ports"]] == ["90"]
    assert web["environment"] == {"A": "a"}


def test_extends_cycle_is_reported(tmp_path: Path) -> None:
    text = "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: y\n    extends: a\n"
    with pytest.raises(ComposeFileError, match="cycle"):
        _load(tmp_path, ("compose.yaml", text))
