"""`composewatch completion SHELL` prints a script that completes through the installed CLI:
bash sources it and completes commands and service names."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clirun import cw
from typer.testing import CliRunner

from composewatch.cli import app

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_names_the_cli_and_its_completion_variable(shell: str) -> None:
    result = CliRunner().invoke(app, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert f"_COMPOSEWATCH_COMPLETE=complete_{shell}" in result.output
    assert "composewatch" in result.output


def test_the_shell_defaults_to_shells_and_an_unknown_one_is_bad_input() -> None:
    bash = CliRunner().invoke(app, ["completion"], env={"SHELL": "/bin/bash"})
    assert bash.exit_code == 0 and "complete_bash" in bash.output


def test_an_unknown_shell_is_bad_input(tmp_path: Path) -> None:
    tcsh = cw(tmp_path, "completion", SHELL="/bin/tcsh")
    assert tcsh.returncode == 2 and "Traceback" not in tcsh.stderr
    assert "$SHELL is tcsh; name the shell: composewatch completion bash" in tcsh.stderr
    powershell = cw(tmp_path, "completion", "powershell")
    assert powershell.returncode == 2 and "powershell" in powershell.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_commands_and_services_with_the_printed_script(tmp_path: Path) -> None:
    cli = BIN / "composewatch"
    if not cli.exists():
        pytest.skip("composewatch is not installed in .venv")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web: {image: busybox}\n  worker: {image: busybox}\n  db: {image: busybox}\n"
    )
    script = subprocess.run(
        [str(cli), "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout

    def complete(*words: str) -> list[str]:
        done = subprocess.run(
            [
                "bash",
                "-c",
                f"{script}\nCOMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
                '_composewatch_completion composewatch; printf "%s\\n" "${COMPREPLY[@]}"',
            ],
            cwd=tmp_path,
            env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.split()

    assert {"up", "unwatch"} <= set(complete("composewatch", "u"))
    assert "completion" in complete("composewatch", "comp")
    assert set(complete("composewatch", "up", "w")) == {"web", "worker"}
