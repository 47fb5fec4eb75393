"""Commands on save (gaze's workflow): matching, placeholders, shell-safe substitution, and
`.gaze.yml` in gaze's own format. The substitution is checked by running the rendered text
through a real `sh`: a hostile file name must arrive as one argument and run nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from composewatch import events as ev
from composewatch.config import parse_settings
from composewatch.core.commands import (
    CommandRule,
    PlaceholderError,
    choose_commands,
    placeholder_values,
    render,
)
from composewatch.errors import ConfigError
from composewatch.gaze import CommandRunner, parse_gaze_file

HOSTILE = [
    "a;touch pwned.txt",
    'a"b$(id)',
    "it's here.py",
    "$(touch pwned.txt).py",
    "`touch pwned.txt`.py",
    "back\\slash\\.py",
    "new\nline.py",
    "-rf.py",
    "spa ce/and*glob?.py",
    "{{file}}.py",
]


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("a.py", {"file": "a.py", "ext": ".py", "base": "a.py", "base0": "a", "dir": "."}),
        (
            "src/pkg/mod.test.js",
            {
                "file": "src/pkg/mod.test.js",
                "ext": ".js",
                "base": "mod.test.js",
                "base0": "mod.test",
                "dir": "src/pkg",
            },
        ),
        (
            "Dockerfile",
            {"file": "Dockerfile", "ext": "", "base": "Dockerfile", "base0": "Dockerfile"},
        ),
    ],
)
def test_placeholder_values_are_gazes(relative: str, expected: dict[str, str]) -> None:
    values = placeholder_values(relative, "/p/" + relative)
    assert values["abs"] == "/p/" + relative
    assert {k: values[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("echo {{file}}", "a.py", "echo a.py"),
        ('python "{{file}}"', "a.py", "python a.py"),
        ('python "{{file}}"', "a b.py", "python 'a b.py'"),
        ("cat '{{file}}'", "a.py", "cat a.py"),
        ('echo "{{file}}""{{base0}}"', "a", "echo aa"),
        ('gcc -o"{{base0}}.out"', "a", 'gcc -o""a".out"'),
        ("echo {{file}}", "a;b", "echo 'a;b'"),
        ('echo "x\\"{{file}}"', "a b", 'echo "x\\""\'a b\'""'),
        ("echo '\"'{{file}}", "a b", "echo '\"''a b'"),
        ("echo {{ file }} {{{file}}}", "f", "echo f f"),
    ],
)
def test_render_quotes_by_shell_state(template: str, value: str, expected: str) -> None:
    assert render(template, {"file": value, "base0": value}) == expected


def shell_argv(text: str, cwd: Path) -> list[str]:
    """What `sh` passes to printf: one line per argument, NUL-separated."""
    done = subprocess.run(["sh", "-c", text], cwd=cwd, capture_output=True, check=True, timeout=10)
    return done.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize(
    "template",
    [
        "printf '%s\\0' {{file}}",
        "printf '%s\\0' \"{{file}}\"",
        "printf '%s\\0' '{{file}}'",
        "printf '%s\\0' \"pre-{{base}}-post\"",
        "printf '%s\\0' x{{base0}}y",
    ],
)
def test_hostile_names_arrive_as_one_argument_and_run_nothing(
    tmp_path: Path, name: str, template: str
) -> None:
    values = placeholder_values(name, str(tmp_path / name))
    argv = shell_argv(render(template, values), tmp_path)
    expected = {
        "printf '%s\\0' {{file}}": name,
        "printf '%s\\0' \"{{file}}\"": name,
        "printf '%s\\0' '{{file}}'": name,
        "printf '%s\\0' \"pre-{{base}}-post\"": f"pre-{values['base']}-post",
        "printf '%s\\0' x{{base0}}y": f"x{values['base0']}y",
    }[template]
    assert argv == [expected]
    assert list(tmp_path.iterdir()) == []  # nothing created: no pwned.txt


@pytest.mark.parametrize(
    ("rule", "path", "matches"),
    [
        (CommandRule("x", ext=".py"), "src/a.py", True),
        (CommandRule("x", ext=".py"), "src/a.pyc", False),
        (CommandRule("x", glob="tests/*.py"), "tests/test_a.py", True),
        (CommandRule("x", glob="*.md"), "docs/deep/readme.md", True),
        (CommandRule("x", glob="tests/*.py"), "src/a.py", False),
        (CommandRule("x", re="^Dockerfile$"), "Dockerfile", True),
        (CommandRule("x", re="^Dockerfile$"), "web/Dockerfile", False),
        (CommandRule("x", ext=".py", re="^src/"), "src/a.py", True),
        (CommandRule("x", ext=".py", re="^src/"), "tests/a.py", False),
        (CommandRule("x"), "a.py", False),
    ],
)
def test_matching(rule: CommandRule, path: str, matches: bool) -> None:
    assert rule.matches(path) is matches


def test_first_matching_rule_wins_and_same_text_runs_once() -> None:
    rules = [CommandRule("lint {{file}}", ext=".py"), CommandRule("any {{file}}", re=".")]
    chosen = choose_commands(
        rules, [("a.py", "/p/a.py"), ("b.txt", "/p/b.txt"), ("a.py", "/p/a.py")]
    )
    assert [(r.cmd, f, t) for r, f, t in chosen] == [
        ("lint {{file}}", "a.py", "lint a.py"),
        ("any {{file}}", "b.txt", "any b.txt"),
    ]


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(PlaceholderError, match="nope"):
        render("echo {{nope}}", {"file": "a"})


GAZE_BLOG = """\
commands:
  - ext: .py
    cmd: python "{{file}}"
  - re: ^Dockerfile$
    cmd: docker build -f "{{file}}" .
"""


def test_gaze_file_in_gazes_own_format() -> None:
    rules = parse_gaze_file(GAZE_BLOG, file=".gaze.yml")
    assert [(r.ext, r.re, r.cmd) for r in rules] == [
        (".py", None, 'python "{{file}}"'),
        (None, "^Dockerfile$", 'docker build -f "{{file}}" .'),
    ]
    old = parse_gaze_file("- ext: .rb\n  run: ruby {{file}}\n", file=".gaze.yml")
    assert old[0].cmd == "ruby {{file}}"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("commands:\n  - ext: .py\n", ["commands[0].cmd", "Field required"]),
        ("commands:\n  - cmd: echo\n", ["ext, glob or re"]),
        ("commands:\n  - ext: .py\n    cmd: echo {{flie}}\n", ["{{flie}}"]),
        ("commands:\n  - re: '('\n    cmd: echo\n", ["not a regular expression"]),
        ("commands: [\n", ["not valid YAML"]),
    ],
)
def test_bad_gaze_file_names_file_and_entry(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_gaze_file(text, file="/p/.gaze.yml")
    assert str(caught.value).startswith("/p/.gaze.yml: ")
    for word in words:
        assert word in str(caught.value)


def test_settings_commands_service_must_exist() -> None:
    raw = {"commands": [{"ext": ".py", "cmd": "pytest", "service": "wbe"}]}
    with pytest.raises(ConfigError, match=r"x-composewatch.commands\[0\].service"):
        parse_settings(raw, file="compose.yaml", service_names={"web"})


def test_runner_reports_output_and_failure_never_raises(tmp_path: Path) -> None:
    seen: list[ev.Event] = []
    rules = [
        CommandRule("printf 'got %s' {{file}}", ext=".txt"),
        CommandRule("echo broken >&2; exit 3", ext=".bad"),
    ]
    (tmp_path / "a;touch pwned.txt").write_text("x")
    (tmp_path / "x.bad").write_text("x")
    runner = CommandRunner(lambda: rules, tmp_path, seen.append)
    results = runner.run_batch(
        [tmp_path / "a;touch pwned.txt", tmp_path / "x.bad", tmp_path / ".git" / "HEAD"]
    )
    assert [(r.file, r.exit_code, r.output.strip()) for r in results] == [
        ("a;touch pwned.txt", 0, "got a;touch pwned.txt"),
        ("x.bad", 3, "broken"),
    ]
    assert seen == results
    assert not (tmp_path / "pwned.txt").exists()


def test_an_edited_gaze_file_applies_from_the_next_save(tmp_path: Path) -> None:
    from composewatch.gaze import load_gaze_rules

    seen: list[ev.Event] = []
    gaze = tmp_path / ".gaze.yml"
    gaze.write_text("commands:\n  - ext: .txt\n    cmd: echo one {{base0}}\n")
    (tmp_path / "a.txt").write_text("x")
    runner = CommandRunner(lambda: load_gaze_rules(tmp_path), tmp_path, seen.append)
    gaze.write_text("commands:\n  - ext: .txt\n    cmd: echo two {{base0}}\n")
    runner.run_batch([gaze, tmp_path / "a.txt"])
    gaze.write_text("commands: [\n")  # broken: reported, the rules stay
    runner.run_batch([gaze, tmp_path / "a.txt"])
    outputs = [e.output.strip() for e in seen if isinstance(e, ev.CommandFinished)]
    assert outputs == ["two a", "two a"]
    notes = [e.message for e in seen if isinstance(e, ev.Note)]
    assert len(notes) == 1 and "not valid YAML" in notes[0]


def test_command_regex_is_re2_linear_and_validated() -> None:
    """gaze's `re` is Go's regexp (RE2): no backtracking pattern can stall a save."""
    import time

    import pytest

    from composewatch.core.commands import compile_path_regex

    started = time.perf_counter()
    assert compile_path_regex("(a+)+$").search("a" * 5000 + "!") is None
    assert time.perf_counter() - started < 2.0
    with pytest.raises(ValueError, match="not a regular expression"):
        compile_path_regex("(unclosed")
