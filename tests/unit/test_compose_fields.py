"""The last fields compose sets that composewatch must set too: the networks' and volumes'
config-hash, `ExtraHosts` as `[]`, the `--env-file` label, and compose's refusal of
`healthcheck.start_interval` on engines before API 1.44."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from composewatch.compose import ProjectOptions, load_project
from composewatch.compose.model import LoadedProject, Project
from composewatch.confighash import network_hash, volume_hash
from composewatch.errors import ComposeFileError
from composewatch.spec import container_spec
from composewatch.spec_project import START_INTERVAL_REFUSED, check_engine_features

# What `docker compose up` (v2.40.3, project h19t) wrote on these, read with `docker inspect`.
COMPOSE_WROTE = [
    (
        network_hash,
        {"name": "h19t_default", "ipam": {}},
        "f4b0d4583b490d91a96854341cf74a8ebe111720230ce7c0a2dc8547e444efbe",
    ),
    (
        network_hash,
        {
            "name": "h19t_front",
            "driver_opts": {"com.docker.network.bridge.enable_icc": "true"},
            "ipam": {},
            "labels": {"z": "1"},
            "x-note": "extensions are not hashed",
        },
        "e4f24b0a9fdcc88668b5c01885bc0d3ea8aefc9a75fb2984ae4188dade5637a0",
    ),
    (
        volume_hash,
        {"name": "h19t_data", "labels": {"k": "v"}},
        "0a4868b5f32be6fc1f3bfbfe6581f713f038900e8d8aaf20c6cb6ebbd7e19d09",
    ),
]


@pytest.mark.parametrize(("hasher", "config", "expected"), COMPOSE_WROTE)
def test_resource_hashes_are_compose_s(hasher: Any, config: dict[str, Any], expected: str) -> None:
    assert hasher(config) == expected


def test_a_volume_without_driver_hashes_as_local() -> None:
    assert volume_hash({"name": "v"}) == volume_hash({"name": "v", "driver": "local"})
    assert volume_hash({"name": "v"}) != volume_hash({"name": "v", "driver": "other"})


def _loaded(services: dict[str, Any], env_files: list[str] | None = None) -> LoadedProject:
    return LoadedProject(
        project=Project.model_validate({"name": "demo", "services": services}),
        working_dir="/src",
        config_files=["/src/compose.yaml"],
        environment={},
        env_files=env_files or [],
    )


BOX = {"image": "busybox:latest", "command": None, "entrypoint": None}


def test_extra_hosts_is_an_empty_list_without_extra_hosts() -> None:
    loaded = _loaded({"a": BOX, "b": {**BOX, "extra_hosts": ["x=1.2.3.4"]}})
    assert container_spec(loaded, "a", "busybox:latest").host_config["ExtraHosts"] == []
    assert container_spec(loaded, "b", "busybox:latest").host_config["ExtraHosts"] == ["x:1.2.3.4"]


def test_env_files_are_labelled_as_compose_does() -> None:
    label = "com.docker.compose.project.environment_file"
    plain = container_spec(_loaded({"a": BOX}), "a", "busybox:latest")
    assert label not in plain.config["Labels"]
    given = _loaded({"a": BOX}, ["/tmp/h19t/my.env", "/tmp/h19t/sub/two.env"])
    labels = container_spec(given, "a", "busybox:latest").config["Labels"]
    assert labels[label] == "/tmp/h19t/my.env,/tmp/h19t/sub/two.env"


def test_start_interval_is_refused_before_api_1_44() -> None:
    check = {"test": ["CMD", "true"], "start_interval": "2s"}
    project = Project.model_validate(
        {"name": "demo", "services": {"a": BOX, "b": {**BOX, "healthcheck": check}}}
    )
    check_engine_features(project, ["a"], "1.41", "/src/compose.yaml")  # b not started
    check_engine_features(project, ["a", "b"], "1.44", "/src/compose.yaml")
    with pytest.raises(ComposeFileError) as raised:
        check_engine_features(project, ["a", "b"], "1.41", "/src/compose.yaml")
    assert raised.value.exit_code == 2
    assert raised.value.file == "/src/compose.yaml"
    assert raised.value.key == "services.b.healthcheck.start_interval"
    assert START_INTERVAL_REFUSED in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_loader_keeps_env_files_absolute_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: busybox:latest\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "one.env").write_text("A=1\n")
    (tmp_path / "sub" / "two.env").write_text("B=2\n")
    monkeypatch.chdir(tmp_path)
    options = ProjectOptions(
        files=("compose.yaml",), env_files=("one.env", "./sub/../sub/two.env"), environ={}
    )
    assert load_project(options).env_files == [
        str(tmp_path / "one.env"),
        str(tmp_path / "sub" / "two.env"),
    ]
    plain = ProjectOptions(files=("compose.yaml",), environ={})
    assert load_project(plain).env_files == []
