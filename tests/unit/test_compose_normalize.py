"""Short syntaxes, units and the printed form of a project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from composewatch.compose import ProjectOptions, load_project, render_config
from composewatch.compose.shortsyntax import ShortSyntaxError, parse_port, parse_volume
from composewatch.compose.units import format_duration, parse_duration, parse_size


def test_port_ranges_expand() -> None:
    ports = parse_port("127.0.0.1:9090-9091:8080-8081/udp")
    common = {"mode": "ingress", "host_ip": "127.0.0.1", "protocol": "udp"}
    assert ports == [
        {**common, "target": 8080, "published": "9090"},
        {**common, "target": 8081, "published": "9091"},
    ]
    assert [p["target"] for p in parse_port("6000-6002")] == [6000, 6001, 6002]
    assert parse_port("7000-7010:80")[0]["published"] == "7000-7010"


def test_port_out_of_range() -> None:
    with pytest.raises(ShortSyntaxError, match="invalid hostPort: 70000"):
        parse_port("70000:80")


def test_volume_short_syntax() -> None:
    assert parse_volume("./src:/app:ro,z") == {
        "type": "bind",
        "source": "./src",
        "target": "/app",
        "read_only": True,
        "bind": {"selinux": "z", "create_host_path": True},
    }
    assert parse_volume("data:/d:nocopy") == {
        "type": "volume",
        "source": "data",
        "target": "/d",
        "volume": {"nocopy": True},
    }
    assert parse_volume("/anon") == {"type": "volume", "target": "/anon", "volume": {}}
    with pytest.raises(ShortSyntaxError, match="empty section"):
        parse_volume(":/x")


@pytest.mark.parametrize(
    ("text", "printed"),
    [("90s", "1m30s"), ("1h", "1h0m0s"), ("1500ms", "1.5s"), ("0", "0s"), ("2m3.5s", "2m3.5s")],
)
def test_durations_print_like_go(text: str, printed: str) -> None:
    assert format_duration(parse_duration(text)) == printed


@pytest.mark.parametrize(
    ("text", "size"), [("512m", 536870912), ("1gb", 1 << 30), ("64k", 65536), ("100", 100)]
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_canonical_service(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "x-composewatch: {debounce: 1}\n"
        "services:\n"
        "  web:\n"
        "    build: .\n"
        "    command: sh -c 'echo $$HOME'\n"
        "    environment: [A=1, B]\n"
        "    depends_on: [db]\n"
        "    volumes: [./src:/app]\n"
        "    mem_limit: 512m\n"
        "  db:\n"
        "    image: postgres\n"
        "    volumes: [data:/var/lib/postgresql/data]\n"
        "volumes:\n  data: {}\n  unused: {}\n"
    )
    options = ProjectOptions(working_dir=str(tmp_path), environ={"B": "from-shell"})
    loaded = load_project(options)
    assert loaded.extensions == {"x-composewatch": {"debounce": 1}}
    printed = loaded.project.to_compose_dict()
    web = printed["services"]["web"]
    assert web["build"] == {"context": str(tmp_path), "dockerfile": "Dockerfile"}
    assert web["command"] == ["sh", "-c", "echo $$HOME"]
    assert loaded.project.services["web"].command == ["sh", "-c", "echo $HOME"]
    assert web["environment"] == {"A": "1", "B": "from-shell"}
    assert web["depends_on"] == {"db": {"condition": "service_started", "required": True}}
    assert web["volumes"][0]["source"] == str(tmp_path / "src")
    assert web["mem_limit"] == "536870912"
    assert web["networks"] == {"default": None}
    assert printed["volumes"] == {"data": {"name": f"{tmp_path.name.lower()}_data"}}
    assert printed["networks"]["default"]["name"].endswith("_default")
    # top-level extensions are printed too, as compose prints them
    assert json.loads(render_config(loaded, "json")) == {**printed, **loaded.extensions}
    as_yaml = yaml.safe_load(render_config(loaded, "yaml"))
    assert as_yaml["services"]["web"]["command"] == web["command"]
    assert "entrypoint" not in as_yaml["services"]["web"]  # YAML leaves nil commands out
    assert as_yaml["x-composewatch"] == {"debounce": 1}
    assert render_config(loaded, services_only=True).split() == [
        "db",
        "web",
    ]  # db first: web needs it
