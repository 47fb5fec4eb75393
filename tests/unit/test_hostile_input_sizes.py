"""Issue 18's inputs through the real command line (`python -m composewatch`, a subprocess):
ignore patterns moby refuses, a FIFO or a huge `.dockerignore`, a 5,000-digit integer, a
`.env` whose variables double each other, includes shaped like a diamond. Each is exit 2 and
one paragraph naming the file (and line or key), no traceback, at once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from clirun import cw

SERVICE = "services:\n  web:\n    build: .\n"


def _project(root: Path, files: dict[str, str | bytes]) -> Path:
    files = {"compose.yaml": SERVICE, "Dockerfile": "FROM busybox\n", **files}
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def _refused(root: Path, *args: str) -> str:
    started = time.monotonic()
    result = cw(root, *args)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and output.startswith("error: "), output
    assert "\n\n" not in output.strip(), output  # one paragraph
    assert time.monotonic() - started < 20, output
    return output


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("[b-a]", "syntax error in pattern '[b-a]'"),
        ("\\y", "syntax error in pattern"),
        ("\\8", "syntax error in pattern"),
        ("\\pX", "syntax error in pattern"),
        ("[[:foo:]]", "syntax error in pattern"),
        ("\\C", "syntax error in pattern"),
        ("!/", 'illegal exclusion pattern: "!"'),
    ],
)
def test_a_dockerignore_line_moby_refuses_is_one_paragraph(
    tmp_path: Path, pattern: str, words: str
) -> None:
    root = _project(tmp_path, {".dockerignore": f"# ok\nnode_modules\n{pattern}\n"})
    output = _refused(root, "explain", "app.py")
    assert f"{root / '.dockerignore'}, line 3: {words}" in output, output


@pytest.mark.parametrize("pattern", ["[b-a]", "\\y", "[[:foo:]]", "!/"])
def test_a_watch_ignore_pattern_moby_refuses_is_one_paragraph(tmp_path: Path, pattern: str) -> None:
    compose = (
        SERVICE
        + "    develop:\n      watch:\n"
        + f"        - {{path: ., action: rebuild, ignore: ['{pattern}']}}\n"
    )
    output = _refused(_project(tmp_path, {"compose.yaml": compose}), "config")
    assert "services.web.develop.watch[0].ignore[0]" in output, output


def test_a_long_dockerignore_line_is_refused_as_bufio_scanner_refuses_it(tmp_path: Path) -> None:
    root = _project(tmp_path, {".dockerignore": "x\n" + "a" * 65_536 + "\n"})
    output = _refused(root, "explain", "app.py")
    assert "line 2: bufio.Scanner: token too long" in output, output


def test_a_fifo_dockerignore_is_refused_not_read(tmp_path: Path) -> None:
    root = _project(tmp_path, {})
    os.mkfifo(root / ".dockerignore")
    output = _refused(root, "explain", "app.py")
    assert "named pipe (FIFO)" in output and ".dockerignore" in output, output


def test_a_huge_dockerignore_is_refused_not_read(tmp_path: Path) -> None:
    root = _project(tmp_path, {})
    with open(root / ".dockerignore", "wb") as sparse:
        sparse.truncate(1 << 30)  # 1 GB, sparse: MemoryError once
    output = _refused(root, "explain", "app.py")
    assert "larger than 4 MiB" in output, output


def test_a_5000_digit_integer_is_refused_as_compose_refuses_it(tmp_path: Path) -> None:
    compose = "services:\n  web:\n    image: busybox\n    blkio_config:\n      weight: ${BIG}\n"
    root = _project(tmp_path, {"compose.yaml": compose, ".env": f"BIG={'9' * 5000}\n"})
    output = _refused(root, "config")
    assert "key services.web.blkio_config.weight: expected type 'uint16'" in output, output
    compose = "services:\n  web:\n    image: busybox\n    deploy:\n      resources:\n"
    compose += "        limits:\n          pids: ${BIG}\n"
    (root / "compose.yaml").write_text(compose)
    output = _refused(root, "config")
    assert 'strconv.ParseInt: parsing "${BIG}": value out of range' in output, output


def test_variables_doubling_each_other_are_refused_at_the_line(tmp_path: Path) -> None:
    lines = ["A0=" + "x" * 27] + [f"A{i}=${{A{i - 1}}}${{A{i - 1}}}" for i in range(1, 59)]
    compose = "services:\n  web:\n    image: busybox\n    environment:\n      X: ${A58}\n"
    root = _project(tmp_path, {"compose.yaml": compose, ".env": "\n".join(lines) + "\n"})
    output = _refused(root, "config")
    assert ".env, line 19: in the value of A18: the value grows past" in output, output


def test_includes_shaped_like_a_diamond_are_refused(tmp_path: Path) -> None:
    depth = 22
    files: dict[str, str | bytes] = {
        "compose.yaml": "include:\n  - a1.yml\n  - b1.yml\nservices:\n  web:\n    image: busybox\n"
    }
    for i in range(1, depth + 1):
        for name in "ab":
            body = f"services:\n  {name}{i}:\n    image: busybox\n"
            if i < depth:
                body = f"include:\n  - a{i + 1}.yml\n  - b{i + 1}.yml\n" + body
            files[f"{name}{i}.yml"] = body
    started = time.monotonic()
    output = _refused(_project(tmp_path, files), "config")
    assert "includes load more than 256 files in all" in output, output
    assert time.monotonic() - started < 10


def test_a_big_env_file_reads_fast_or_is_refused_clearly(tmp_path: Path) -> None:
    from composewatch.compose.envfile import MAX_DOTENV_LINES, parse_env

    # plain lines, quoted or not, skip python-dotenv's tokenizer: 4 MiB of them in about 1 s
    plain = "".join(f"A{n}=\"x y\"\nB{n}='$z'\nC{n}=${{A{n}}}\n" for n in range(20_000))
    values = parse_env(plain, lambda name: None)
    assert values["A7"] == "x y" and values["B7"] == "$z" and values["C7"] == "x y"
    # lines that need it are bounded, by line count, with a clear error naming the file
    export = "".join(f"export A{n}=x\n" for n in range(MAX_DOTENV_LINES + 1))
    root = _project(tmp_path, {".env": export})
    output = _refused(root, "config")
    assert ".env: has 30,002 lines" in output and "at most 30,000" in output, output
