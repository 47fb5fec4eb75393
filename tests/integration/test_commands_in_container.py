"""Commands on save with `service:` against the real engine: the runner's argv goes through the
engine's exec API to busybox's `sh` and every hostile name arrives byte for byte (a name that
is not UTF-8 included: it travels as octal escapes, the engine's JSON carrying only UTF-8),
in every quoting context, and none runs anything."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import docker
from conftest import PROJECT_LABEL

from composewatch import events as ev
from composewatch.core.commands import CommandRule
from composewatch.engine.project import exec_output
from composewatch.gaze import CommandRunner

NAMES = [
    "a$(touch PWNED).py",
    "`touch PWNED`.py",
    "x #\ntouch PWNED",
    'it\'s "q" \\ $HOME.py',
    "-rf.py",
    "trailing newlines\n\n",
    os.fsdecode(b"caf\xe9 \xff$(touch PWNED).py"),
    "d/" + "a" * 4000 + ".py",
]

# Each context prints the MD5 of the value it received (the runner keeps 4,000 characters of
# output); the last line fails if anything ran.
TEMPLATE = """\
for v in {{file}} "$(printf '%sx' {{file}})" "`printf '%sx' "{{file}}"`" "${X:-{{file}}}" \
'{{file}}'; do printf '%s' "$v" | md5sum; done
cat <<EOF | md5sum
{{file}}x
EOF
test ! -e PWNED && test ! -e /PWNED  # {{file}}
"""


def _md5(value: bytes) -> str:
    return hashlib.md5(value).hexdigest() + "  -"


def test_hostile_names_arrive_exact_in_a_container(
    docker_client: docker.DockerClient, project_name: str, tmp_path: Path
) -> None:
    container = docker_client.containers.run(
        "busybox:latest", ["sleep", "600"], detach=True, labels={PROJECT_LABEL: project_name}
    )
    cid = str(container.id)
    sent: list[list[str]] = []

    def exec_in(service: str, argv: list[str], timeout_s: float) -> tuple[int, str]:
        assert service == "web"
        sent.append(argv)
        return exec_output(docker_client, cid, argv)

    seen: list[ev.Event] = []
    rule = CommandRule(TEMPLATE, re=".", service="web")
    runner = CommandRunner(lambda: [rule], tmp_path, seen.append, exec_in)
    results = runner.run_batch([tmp_path / name for name in NAMES])
    assert len(results) == len(NAMES) == len(sent)
    by_file = {result.file: result for result in results}
    for name in NAMES:
        exact = os.fsencode(name)
        result = by_file[exact.decode("utf-8", "backslashreplace")]
        assert result.exit_code == 0, (name, result.output)
        values = [exact, exact + b"x", exact + b"x", exact, exact, exact + b"x\n"]
        assert result.output.splitlines() == [_md5(v) for v in values], name
    assert any("\\351" in arg for argv in sent for arg in argv)  # the octal route was taken
