"""Bad input through the real CLI: exit code 2, one paragraph naming file and key, no traceback.

None of these reaches Docker: input is checked before anything is touched.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from clirun import cw

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "fixtures" / "bad-compose"


def composewatch(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return cw(cwd, *args)


def assert_clean_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def test_yaml_error_names_file_line_and_column() -> None:
    result = composewatch("-f", str(BAD / "yaml-error.yml"), "config")
    assert_clean_error(result, "yaml-error.yml", "line 4")


def test_unknown_service_key_names_the_key() -> None:
    result = composewatch("-f", str(BAD / "unknown-key.yml"), "config")
    assert_clean_error(result, "unknown-key.yml", "bogus_key")


def test_unknown_settings_key_names_the_key(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "services:\n  web:\n    image: busybox:latest\n"
        "x-composewatch:\n  services:\n    web:\n      helth: {}\n"
    )
    result = composewatch("config", cwd=tmp_path)
    assert_clean_error(result, "compose.yaml", "x-composewatch.services.web.helth")


def test_missing_compose_file(tmp_path: Path) -> None:
    result = composewatch("up", cwd=tmp_path)
    assert_clean_error(result)
    assert "compose" in result.stderr.lower()


@pytest.mark.parametrize(
    ("fixture", "words"),
    [
        (
            "missing-context.yml",
            ("missing-context.yml", "services.app.build.context", "no-such-dir"),
        ),
        ("missing-dockerfile/compose.yml", ("services.app.build", "Dockerfile")),
    ],
)
def test_missing_build_inputs_fail_before_touching_docker(
    fixture: str, words: tuple[str, ...]
) -> None:
    result = composewatch("-f", str(BAD / fixture), "up", "--no-watch")
    assert_clean_error(result, *words)
    assert "docker engine" not in result.stderr.lower()


def test_no_engine_is_a_clear_input_error(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox:latest\n")
    result = composewatch("up", "--no-watch", cwd=tmp_path)
    assert_clean_error(result, "Docker")


def test_unknown_service_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox:latest\n")
    assert_clean_error(composewatch("up", "nope", cwd=tmp_path), "nope")


def test_file_names_with_shell_characters_are_just_names(tmp_path: Path) -> None:
    weird = tmp_path / "a b;$(touch pwned)'.yml"
    weird.write_text("services:\n  web:\n    image: busybox:latest\n    ports: 5000\n")
    result = composewatch("-f", str(weird), "config")
    assert_clean_error(result, str(weird), "services.web.ports")
    assert not (tmp_path / "pwned").exists()
