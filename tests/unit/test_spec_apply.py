"""container_spec for the keys beyond the basics: resources, security, logging, secrets and
configs, links, shared namespaces, image naming (the real-engine check is test_equivalence)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from composewatch.compose.model import LoadedProject, Project
from composewatch.errors import ComposeFileError, EngineError
from composewatch.spec import Peer, container_spec

BASE = {"command": None, "entrypoint": None, "image": "busybox:latest"}


def _loaded(
    services: dict[str, Any],
    workdir: str = "/src",
    env: dict[str, str] | None = None,
    **top: Any,
) -> LoadedProject:
    data = {"name": "demo", "networks": {"default": {"name": "demo_default"}}, **top}
    data["services"] = {n: {**BASE, **s} for n, s in services.items()}
    return LoadedProject(
        project=Project.model_validate(data),
        working_dir=workdir,
        config_files=[f"{workdir}/compose.yaml"],
        environment=env or {},
    )


def test_service_level_resources_then_deploy_over_them() -> None:
    web = {
        "mem_limit": "67108864",
        "mem_reservation": "33554432",
        "memswap_limit": "134217728",
        "mem_swappiness": "10",
        "cpus": 0.5,
        "cpu_shares": 512,
        "cpu_quota": 50000,
        "cpu_period": 100000,
        "cpuset": "0",
        "pids_limit": 50,
        "oom_kill_disable": True,
        "devices": [{"source": "/dev/null", "target": "/dev/n", "permissions": "rwm"}],
        "blkio_config": {"weight": 300, "device_read_bps": [{"Path": "/dev/sda", "Rate": "10"}]},
        "deploy": {
            "resources": {
                "limits": {"memory": "1048576", "pids": 7},
                "reservations": {"memory": "2048", "devices": [{"capabilities": ["gpu"]}]},
            }
        },
    }
    host = container_spec(_loaded({"web": web}), "web", "busybox:latest").host_config
    assert {k: host[k] for k in ("Memory", "MemoryReservation", "MemorySwap", "PidsLimit")} == {
        "Memory": 1048576,
        "MemoryReservation": 2048,
        "MemorySwap": 134217728,
        "PidsLimit": 7,
    }
    assert host["NanoCpus"] == 500_000_000 and host["CpuShares"] == 512
    assert host["CpuQuota"] == 50000 and host["CpuPeriod"] == 100000
    assert host["CpusetCpus"] == "0" and host["MemorySwappiness"] == 10
    assert host["OomKillDisable"] is True
    assert host["Devices"] == [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rwm"}
    ]
    assert host["BlkioWeight"] == 300
    assert host["BlkioDeviceReadBps"] == [{"Path": "/dev/sda", "Rate": 10}]
    assert host["DeviceRequests"][0]["Capabilities"] == [["gpu"]]


def test_security_logging_and_the_rest_of_host_config(tmp_path: Path) -> None:
    (tmp_path / "seccomp.json").write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n')
    web = {
        "read_only": True,
        "security_opt": [
            "no-new-privileges:true",
            "seccomp=seccomp.json",
            "systempaths=unconfined",
        ],
        "logging": {"driver": "json-file", "options": {"max-size": "1m"}},
        "sysctls": {"net.core.somaxconn": "1024"},
        "oom_score_adj": 100,
        "dns_search": ["example.com"],
        "dns_opt": ["ndots:2"],
        "group_add": ["100"],
        "tmpfs": ["/tmp:size=1m", "/run"],
        "ipc": "shareable",
        "mac_address": "02:42:ac:11:00:99",
    }
    spec = container_spec(_loaded({"web": web}, str(tmp_path)), "web", "busybox:latest")
    host = spec.host_config
    assert host["ReadonlyRootfs"] is True
    assert host["SecurityOpt"] == [
        "no-new-privileges:true",
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',
    ]
    assert host["MaskedPaths"] == [] and host["ReadonlyPaths"] == []
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"} and host["OomScoreAdj"] == 100
    assert host["DnsSearch"] == ["example.com"] and host["DnsOptions"] == ["ndots:2"]
    assert host["GroupAdd"] == ["100"] and host["IpcMode"] == "shareable"
    assert host["Tmpfs"] == {"/tmp": "size=1m", "/run": ""}
    assert spec.config["MacAddress"] == "02:42:ac:11:00:99"
    bad = {"web": {"security_opt": ["seccomp=missing.json"]}}
    with pytest.raises(ComposeFileError, match="seccomp"):
        container_spec(_loaded(bad, str(tmp_path)), "web", "busybox:latest")


def test_file_secrets_and_configs_are_read_only_binds() -> None:
    web = {
        "secrets": [{"source": "s", "target": "/run/secrets/s"}, {"source": "s", "target": "x"}],
        "configs": [{"source": "c"}, {"source": "c", "target": "/etc/c.conf"}],
        "volumes": [{"type": "bind", "source": "/data", "target": "/etc/c.conf"}],
    }
    loaded = _loaded(
        {"web": web},
        secrets={"s": {"name": "demo_s", "file": "/src/s.txt"}},
        configs={"c": {"name": "demo_c", "file": "/src/c.conf"}},
    )
    spec = container_spec(loaded, "web", "busybox:latest")
    mounts = {m["Target"]: m for m in spec.host_config["Mounts"] or []}
    assert mounts["/run/secrets/s"] == {
        "Type": "bind",
        "Source": "/src/s.txt",
        "Target": "/run/secrets/s",
        "ReadOnly": True,
        "BindOptions": {},
    }
    assert mounts["/run/secrets/x"]["Source"] == "/src/s.txt"
    assert mounts["/c"] == {
        "Type": "bind",
        "Source": "/src/c.conf",
        "Target": "/c",
        "ReadOnly": True,
    }
    assert "/etc/c.conf" not in mounts  # a service volume on the same target wins
    assert spec.files == ()


def test_environment_secrets_and_inline_configs_are_injected() -> None:
    job = {
        "secrets": [{"source": "e"}, {"source": "e", "target": "named", "mode": "0400"}],
        "configs": [{"source": "i", "target": "etc/rel.conf"}],
    }
    top: dict[str, Any] = {
        "secrets": {"e": {"name": "demo_e", "environment": "TOKEN"}},
        "configs": {"i": {"name": "demo_i", "content": "inline"}},
    }
    spec = container_spec(_loaded({"job": job}, env={"TOKEN": "t0p"}, **top), "job", "b")
    assert [(f.target, f.content, oct(f.mode)) for f in spec.files] == [
        ("/run/secrets/e", b"t0p", "0o444"),
        ("/run/secrets/named", b"t0p", "0o400"),
        ("etc/rel.conf", b"inline", "0o444"),
    ]
    assert "t0p" not in repr(spec)  # a secret value is never printed
    with pytest.raises(ComposeFileError, match="TOKEN"):
        container_spec(_loaded({"job": job}, **top), "job", "b")
    read_only = {"job": {**job, "read_only": True}}
    with pytest.raises(ComposeFileError, match="read-only service job"):
        container_spec(_loaded(read_only, env={"TOKEN": "t"}, **top), "job", "b")
    external: dict[str, Any] = {
        "secrets": {"e": {"name": "e", "external": True}},
        "configs": top["configs"],
    }
    with pytest.raises(ComposeFileError, match="unsupported external secret"):
        container_spec(_loaded({"job": job}, **external), "job", "b")


def test_service_references_become_container_ids_in_the_spec_and_hash() -> None:
    services = {
        "db": {"networks": {"default": None}},
        "side": {"network_mode": "service:db"},
        "job": {"ipc": "service:db", "pid": "service:db", "volumes_from": ["db:ro"]},
        "web": {
            "links": ["db:database"],
            "external_links": ["other:alias"],
            "networks": {"default": None},
        },
    }
    loaded = _loaded(services)
    peers = {"db": [Peer("a" * 64, "demo-db-1")]}
    side = container_spec(loaded, "side", "b", peers=peers)
    assert side.host_config["NetworkMode"] == f"container:{'a' * 64}"
    assert "MacAddress" not in side.config
    other = container_spec(loaded, "side", "b", peers={"db": [Peer("b" * 64, "demo-db-1")]})
    assert side.config_hash != other.config_hash  # compose hashes the resolved mode
    job = container_spec(loaded, "job", "b", peers=peers).host_config
    assert job["IpcMode"] == job["PidMode"] == f"container:{'a' * 64}"
    assert job["VolumesFrom"] == ["a" * 64]  # compose drops the mode too
    web = container_spec(loaded, "web", "b", peers=peers)
    assert web.host_config["Links"] == [
        "demo-db-1:database",
        "demo-db-1:db-1",
        "demo-db-1:demo-db-1",
        "other:alias",
    ]
    assert (
        web.networking_config["EndpointsConfig"]["demo_default"]["Links"]
        == (web.host_config["Links"])
    )
    with pytest.raises(EngineError, match="container missing"):
        container_spec(loaded, "side", "b")


def test_config_image_is_the_name_compose_uses_and_the_id_a_label() -> None:
    loaded = _loaded({"app": {"image": None, "build": {"context": "/src"}}})
    spec = container_spec(loaded, "app", "sha256:" + "c" * 64)
    assert spec.image == spec.config["Image"] == "demo-app"
    assert spec.image_id == "sha256:" + "c" * 64
    assert spec.config["Labels"]["com.docker.compose.image"] == spec.image_id
    named = container_spec(_loaded({"db": {}}), "db", "sha256:" + "d" * 64)
    assert named.config["Image"] == "busybox:latest"


def test_network_endpoint_extras() -> None:
    nets = {
        "front": {
            "link_local_ips": ["169.254.10.10"],
            "driver_opts": {"k": "v"},
            "mac_address": "02:42:ac:11:00:02",
        }
    }
    loaded = _loaded({"web": {"networks": nets}}, networks={"front": {"name": "demo_front"}})
    spec = container_spec(loaded, "web", "b")
    endpoint = spec.networking_config["EndpointsConfig"]["demo_front"]
    assert endpoint["IPAMConfig"] == {"LinkLocalIPs": ["169.254.10.10"]}
    assert endpoint["DriverOpts"] == {"k": "v"}
    assert "MacAddress" not in endpoint  # API 1.41 has only the container-wide one
    assert spec.config["MacAddress"] == "02:42:ac:11:00:02"
    assert json.dumps(spec.create_body())  # the body is plain JSON
