"""container_spec from canonical dicts (what `docker compose config --format json` prints)."""

from __future__ import annotations

from typing import Any

import pytest

from composewatch.compose.model import LoadedProject, Project
from composewatch.compose.units import parse_duration
from composewatch.errors import ComposeFileError
from composewatch.spec import (
    config_hash,
    container_spec,
    image_name,
    replica_count,
    startup_order,
    unsupported_keys,
)


def _loaded(services: dict[str, Any], **extra: Any) -> LoadedProject:
    data = {
        "name": "demo",
        "networks": {"default": {"name": "demo_default", "ipam": {}}},
        "services": services,
        **extra,
    }
    return LoadedProject(
        project=Project.model_validate(data),
        working_dir="/src",
        config_files=["/src/compose.yaml", "/src/compose.override.yaml"],
        environment={},
    )


WEB = {
    "command": ["httpd", "-f"],
    "entrypoint": None,
    "image": "busybox:latest",
    "environment": {"A": "1", "EMPTY": None},
    "labels": {"team": "web", "com.docker.compose.project": "spoofed"},
    "depends_on": {"db": {"condition": "service_healthy", "required": True, "restart": True}},
    "networks": {"default": None},
    "ports": [
        {
            "mode": "ingress",
            "host_ip": "127.0.0.1",
            "target": 80,
            "published": "8080",
            "protocol": "tcp",
        },
        {"mode": "ingress", "target": 53, "published": "5353", "protocol": "udp"},
        {"mode": "ingress", "target": 81, "protocol": "tcp"},
    ],
    "expose": ["7000"],
    "healthcheck": {
        "test": ["CMD", "true"],
        "interval": "1m30s",
        "timeout": "500ms",
        "retries": 3,
        "start_period": "2s",
    },
    "stop_grace_period": "3s",
    "extra_hosts": ["foo=1.2.3.4"],
    "cap_add": ["net_admin"],
    "deploy": {"resources": {"limits": {"cpus": 0.5, "memory": "67108864", "pids": 100}}},
}
DB = {"command": None, "entrypoint": None, "image": "busybox:latest", "networks": {"default": None}}


def test_names_labels_and_config() -> None:
    spec = container_spec(
        _loaded({"web": WEB, "db": DB}), "web", "busybox:latest", number=2, image_id="sha256:abc"
    )
    assert spec.name == "demo-web-2"
    labels = spec.config["Labels"]
    assert labels["team"] == "web"
    assert labels["com.docker.compose.project"] == "demo"  # compose's labels win
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "2"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.project.working_dir"] == "/src"
    assert labels["com.docker.compose.project.config_files"] == (
        "/src/compose.yaml,/src/compose.override.yaml"
    )
    assert labels["com.docker.compose.depends_on"] == "db:service_healthy:true"
    assert labels["com.docker.compose.image"] == "sha256:abc"
    assert labels["com.docker.compose.config-hash"] == spec.config_hash
    assert spec.config["Env"] == ["A=1", "EMPTY"]
    assert spec.config["Cmd"] == ["httpd", "-f"] and spec.config["Entrypoint"] is None
    assert spec.config["StopTimeout"] == 3


def test_ports_healthcheck_and_host_config() -> None:
    spec = container_spec(_loaded({"web": WEB, "db": DB}), "web", "busybox:latest")
    assert spec.config["ExposedPorts"] == {"7000": {}, "80/tcp": {}, "53/udp": {}, "81/tcp": {}}
    assert spec.host_config["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "", "HostPort": "5353"}],
        "81/tcp": [{"HostIp": "", "HostPort": ""}],
    }
    assert spec.config["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Interval": 90 * 10**9,
        "Timeout": 500 * 10**6,
        "StartPeriod": 2 * 10**9,
        "Retries": 3,
    }
    host = spec.host_config
    assert host["ExtraHosts"] == ["foo:1.2.3.4"]
    assert host["CapAdd"] == ["CAP_NET_ADMIN"]
    assert (host["NanoCpus"], host["Memory"], host["PidsLimit"]) == (500_000_000, 2**26, 100)
    assert host["NetworkMode"] == "demo_default"
    assert spec.networking_config == {
        "EndpointsConfig": {"demo_default": {"Aliases": ["demo-web-1", "web"]}}
    }


def test_volumes_split_between_binds_and_mounts() -> None:
    svc = {
        **DB,
        "volumes": [
            {
                "type": "bind",
                "source": "/src/www",
                "target": "/www",
                "read_only": True,
                "bind": {"create_host_path": True},
            },
            {"type": "bind", "source": "/src/conf", "target": "/conf"},
            {"type": "bind", "source": "/src/strict", "target": "/strict", "bind": {}},
            {"type": "volume", "source": "data", "target": "/data", "volume": {}},
            {"type": "volume", "target": "/anon"},
            {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": "1000"}},
        ],
    }
    spec = container_spec(
        _loaded({"db": svc}, volumes={"data": {"name": "demo_data"}}), "db", "busybox:latest"
    )
    assert spec.host_config["Binds"] == [
        "/src/www:/www:ro",
        "/src/conf:/conf:rw",
        "demo_data:/data:rw",
    ]
    assert spec.host_config["Mounts"] == [
        {"Type": "bind", "Source": "/src/strict", "Target": "/strict", "BindOptions": {}},
        {"Type": "volume", "Target": "/anon"},
        {"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1000}},
    ]


def test_networks_aliases_priority_and_modes() -> None:
    svc = {
        **DB,
        "container_name": "fixed",
        "networks": {"front": {"aliases": ["x"]}, "back": {"priority": 5}},
    }
    loaded = _loaded(
        {"db": svc}, networks={"front": {"name": "demo_front"}, "back": {"name": "custom-back"}}
    )
    spec = container_spec(loaded, "db", "busybox:latest")
    assert spec.name == "fixed"
    assert spec.host_config["NetworkMode"] == "custom-back"
    assert spec.networking_config["EndpointsConfig"] == {
        "custom-back": {"Aliases": ["fixed", "db"], "IPAMConfig": {}}
    }
    assert spec.extra_networks == (
        ("demo_front", {"Aliases": ["fixed", "db", "x"], "IPAMConfig": {}}),
    )
    none = container_spec(_loaded({"db": {**DB, "network_mode": "none"}}), "db", "b")
    assert none.host_config["NetworkMode"] == "none" and none.networking_config == {}


def test_config_hash_matches_compose() -> None:
    # Written by `docker compose up` (v2.40.3) for this exact service.
    db = {
        "command": ["sleep", "1000"],
        "entrypoint": None,
        "image": "busybox:latest",
        "networks": {"default": None},
    }
    assert config_hash(
        Project.model_validate({"name": "p", "services": {"db": db}}).services["db"]
    ) == ("126567149759fa64c895e7875fd061c6f66564802c227cedd2910f420fefc5b9")
    # Build, depends_on, profiles and scale do not count.
    extra = {
        **db,
        "build": {"context": "/x"},
        "depends_on": {"a": {"condition": "service_started", "required": True}},
        "profiles": ["p"],
        "scale": 1,
    }
    assert config_hash(
        Project.model_validate({"name": "p", "services": {"db": extra}}).services["db"]
    ) == config_hash(Project.model_validate({"name": "p", "services": {"db": db}}).services["db"])


def test_image_name_and_durations() -> None:
    project = Project.model_validate(
        {"name": "demo", "services": {"a": {"build": {"context": "/a"}}, "b": DB}}
    )
    assert image_name(project, "a") == "demo-a"
    assert image_name(project, "b") == "busybox:latest"
    assert parse_duration("1h2m3.5s") == (3723 * 10**9 + 5 * 10**8)
    assert parse_duration("250us") == 250_000
    with pytest.raises(ValueError):
        parse_duration("3 seconds")


def test_startup_order_and_cycles() -> None:
    dep = {"condition": "service_started", "required": True}
    project = Project.model_validate(
        {
            "name": "p",
            "services": {
                "web": {**DB, "depends_on": {"api": dep}},
                "api": {**DB, "depends_on": {"db": dep, "cache": dep}},
                "db": DB,
                "cache": DB,
                "lone": DB,
            },
        }
    )
    assert startup_order(project) == [["cache", "db", "lone"], ["api"], ["web"]]
    cyclic = Project.model_validate(
        {
            "name": "p",
            "services": {
                "a": {**DB, "depends_on": {"b": dep}},
                "b": {**DB, "depends_on": {"a": dep}},
            },
        }
    )
    with pytest.raises(ComposeFileError, match="cycle"):
        startup_order(cyclic)


def test_unsupported_keys_are_reported() -> None:
    service = Project.model_validate(
        {
            "name": "p",
            "services": {
                "s": {
                    **DB,
                    "secrets": [{"source": "x"}],
                    "read_only": True,
                    "x-note": 1,
                    "annotations": {"a": "b"},
                    "post_start": [{"command": ["true"]}],
                    "networks": {
                        "front": {"gw_priority": 1, "mac_address": "02:42:ac:11:00:02"},
                        "back": {"aliases": ["a"]},
                    },
                    "deploy": {
                        "replicas": 2,
                        "placement": {},
                        "resources": {"reservations": {"memory": "1", "cpus": 0.5}},
                    },
                    "healthcheck": {"test": ["CMD", "true"], "start_interval": "1s"},
                    "volumes": [{"type": "image", "source": "busybox", "target": "/i"}],
                    "pull_policy": "always",
                    "some_future_key": 1,
                }
            },
        }
    ).services["s"]
    assert sorted(unsupported_keys(service)) == [
        "annotations",
        "deploy.resources.reservations.cpus",
        "healthcheck.start_interval",
        "networks.front.gw_priority",
        "networks.front.mac_address",
        "post_start",
        "pull_policy",
        "some_future_key",
        "volumes",
    ]
    assert (
        unsupported_keys(
            Project.model_validate({"name": "p", "services": {"web": WEB}}).services["web"]
        )
        == []
    )


def test_config_hash_covers_label_file_paths_as_compose_up() -> None:
    # `docker compose up` (v2.40.3) wrote this for the service below with `label_file: l.txt`
    # in /tmp/spec-h (l.txt: a=1): `config` drops label_file, `up` hashes its path.
    service = {
        "command": ["sleep", "1"],
        "entrypoint": None,
        "image": "busybox:latest",
        "labels": {"a": "1"},
        "networks": {"default": None},
        "label_file": ["/tmp/spec-h/l.txt"],
    }
    project = Project.model_validate({"name": "spech", "services": {"s": service}})
    assert config_hash(project.services["s"]) == (
        "bb213c3bc27cd27aabb3bd007880380098a2ff47f14d09d4e9105020439a7fe6"
    )
    assert "label_file" not in project.to_compose_dict()["services"]["s"]


def test_replica_count_as_compose_reads_it() -> None:
    def count(**keys: Any) -> int:
        data = {"name": "p", "services": {"s": {**DB, **keys}}}
        return replica_count(Project.model_validate(data).services["s"])

    assert count() == 1
    assert count(scale=3) == 3
    assert count(deploy={"replicas": 2}) == 2
    assert count(scale=0, deploy={"replicas": 2}) == 0  # scale wins, as compose-go's GetScale
    loaded = _loaded({"web": WEB, "db": DB})
    assert container_spec(loaded, "db", "busybox:latest", number=3).name == "demo-db-3"
