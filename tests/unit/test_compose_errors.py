"""Every invalid input is a ComposeFileError naming the file and the key (or line/column)."""

from __future__ import annotations

from pathlib import Path

import pytest

from composewatch.compose import ProjectOptions, load_project
from composewatch.errors import ComposeFileError

WEB = "services:\n  web:\n    image: x\n"


def _error(tmp_path: Path, text: str, **files: str) -> ComposeFileError:
    (tmp_path / "compose.yaml").write_text(text)
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    options = ProjectOptions(
        files=("compose.yaml",), project_name="p", working_dir=str(tmp_path), environ={}
    )
    with pytest.raises(ComposeFileError) as info:
        load_project(options)
    assert info.value.exit_code == 2
    return info.value


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    error = _error(tmp_path, "services:\n  web:\n    ports: [80, 81\n  db:\n")
    assert error.file == str(tmp_path / "compose.yaml")
    assert error.line is not None and error.column is not None
    assert f"line {error.line}, column {error.column}" in str(error)


def test_tab_indentation(tmp_path: Path) -> None:
    error = _error(tmp_path, "services:\n  web:\n\timage: x\n")
    assert (error.line, error.column) == (3, 1)


def test_duplicate_key(tmp_path: Path) -> None:
    error = _error(tmp_path, "services:\n  web:\n    image: a\n    image: b\n")
    assert error.line == 4
    assert "'image' already defined at line 3" in error.reason


def test_empty_file(tmp_path: Path) -> None:
    assert "empty compose file" in _error(tmp_path, "# nothing\n").reason


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("servces: {}\n", "servces", "additional properties 'servces' not allowed"),
        (WEB + "    enviroment: {}\n", "services.web.enviroment", "not allowed"),
        (WEB + "    ports: '80:80'\n", "services.web.ports", "must be a array"),
        (WEB + "    ports: ['70000:80']\n", "services.web.ports[0]", "invalid hostPort: 70000"),
        (WEB + "    extra_hosts: [db]\n", "services.web.extra_hosts[0]", "missing IP"),
        (WEB + "    healthcheck: {interval: 5 sec}\n", "services.web.healthcheck.interval", "unit"),
        (WEB + "    environment: {A: '${X:?needed}'}\n", "services.web.environment.A", "needed"),
        (WEB + "    container_name: wc\n    scale: 2\n", "services.web.container_name", "unique"),
    ],
)  # fmt: skip
def test_key_errors(tmp_path: Path, text: str, key: str, reason: str) -> None:
    error = _error(tmp_path, text)
    assert error.key == key
    assert reason in error.reason
    assert error.file == str(tmp_path / "compose.yaml")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("services:\n  db: {}\n", "neither an image nor a build"),
        (WEB + "    depends_on: [cache]\n", "undefined service \"cache\""),
        (WEB + "    networks: [back]\n", "undefined network back"),
        (WEB + "    volumes: [':/data']\n", "empty section between colons"),
        (
            "services:\n  a:\n    image: x\n    depends_on: [b]\n"
            "  b:\n    image: x\n    depends_on: [a]\n",
            "dependency cycle detected: a -> b -> a",
        ),
        (WEB + "    env_file: missing.env\n", "missing.env not found"),
        ("services:\n  w:\n    extends: {file: o.yaml, service: b}\n", "o.yaml: no such file"),
    ],
)  # fmt: skip
def test_project_errors_name_the_file(tmp_path: Path, text: str, reason: str) -> None:
    error = _error(tmp_path, text)
    assert reason in error.reason
    assert error.file is not None
    assert "\n" not in str(error).strip() or "include" in str(error)


def test_optional_env_file_may_be_missing(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        WEB + "    env_file: [{path: nope.env, required: false}]\n"
    )
    options = ProjectOptions(files=("compose.yaml",), working_dir=str(tmp_path), environ={})
    assert load_project(options).project.services["web"].environment is None


# Found probing value shapes against docker-compose 2.40.3: each of these makes compose exit 1
# with the reason given (its "validating <file>: " prefix left out).
@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        ("environment: {A: [1]}", "services.web.environment.A",
         "services.web.environment.A must be a boolean, null, number or string"),
        ("labels: {a: {b: 1}}", "services.web.labels.a",
         "services.web.labels.a must be a boolean, null, number or string"),
        ("build: {context: ., args: {a: [1]}}", "services.web.build.args.a",
         "services.web.build.args.a must be a boolean, null, number or string"),
        ("logging: {options: {max-size: true}}", "services.web.logging.options.max-size",
         "services.web.logging.options.max-size must be a null, number or string"),
        ("extra_hosts: {db: {ip: 1}}", "services.web.extra_hosts.db",
         "services.web.extra_hosts.db must be a string"),
        ("environment: [1]", "services.web.environment[0]",
         "services.web.environment[0] must be a string"),
        ("security_opt: [no-new-privileges:true, no-new-privileges:true]",
         "services.web.security_opt", "services.web.security_opt items at 0 and 1 are equal"),
        ("group_add: [mail, mail]", "services.web.group_add",
         "services.web.group_add items at 0 and 1 are equal"),
        ("extra_hosts: [db=10.0.0.2, db=10.0.0.2]", "services.web.extra_hosts",
         "services.web.extra_hosts must be a mapping"),
        ("develop: {watch: [{path: ., action: rebuild, ignore: [a, a]}]}",
         "services.web.develop.watch[0].ignore",
         "services.web.develop.watch[0].ignore must be a string"),
    ],
)  # fmt: skip
def test_value_types_and_repeated_items_compose_refuses(
    tmp_path: Path, line: str, key: str, reason: str
) -> None:
    error = _error(tmp_path, f"{WEB}    {line}\n")
    assert (error.key, error.reason) == (key, reason)


def test_an_override_repeating_a_unique_item_is_refused_as_compose_refuses_it(
    tmp_path: Path,
) -> None:
    """Merged, the two files' `security_opt` hold the entry twice: compose fails validating the
    override ("services.web.security_opt items at 0 and 1 are equal"), exit 1."""
    line = "    security_opt: [no-new-privileges:true]\n"
    (tmp_path / "compose.override.yaml").write_text("services:\n  web:\n" + line)
    (tmp_path / "compose.yaml").write_text(WEB + line)
    options = ProjectOptions(project_name="p", working_dir=str(tmp_path), environ={})
    with pytest.raises(ComposeFileError) as info:
        load_project(options)
    assert info.value.file == str(tmp_path / "compose.override.yaml")
    assert info.value.reason == "services.web.security_opt items at 0 and 1 are equal"


def test_repeated_items_compose_deduplicates_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        WEB + "    cap_add: [NET_ADMIN, NET_ADMIN]\n    environment: [A=1, A=1]\n"
    )
    options = ProjectOptions(project_name="p", working_dir=str(tmp_path), environ={})
    web = load_project(options).project.services["web"]
    assert web.cap_add == ["NET_ADMIN"] and web.environment == {"A": "1"}


def test_distinct_shorthand_and_deploy_values_name_the_services_key(tmp_path: Path) -> None:
    error = _error(
        tmp_path, WEB + "    cpus: '1.5'\n    deploy: {resources: {limits: {cpus: 1}}}\n"
    )
    assert error.key == "services.web.cpus"
    assert "can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'" in error.reason


@pytest.mark.parametrize(("key", "shown"), [("true", "true"), ("1.5", "1.5"), ("null", "<nil>")])
def test_a_non_string_key_is_named_as_compose_names_it(
    tmp_path: Path, key: str, shown: str
) -> None:
    error = _error(tmp_path, WEB + f"    environment:\n      {key}: x\n")
    assert error.reason == f"non-string key in services.web.environment: {shown}"
