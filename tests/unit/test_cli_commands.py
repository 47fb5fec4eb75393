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
from composewatch.errors import ConfigError, InputError
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
                "base0": "mod",  # gaze: up to the first dot
                "base1": "mod.test",
                "base2": "mod.test.js",
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
    ("template", "script"),
    [
        ("echo {{file}}", 'echo "${CW_FILE}"'),
        ('python "{{file}}"', 'python "${CW_FILE}"'),
        ("cat '{{file}}'", "cat ''\"${CW_FILE}\"''"),
        ('gcc -o"{{base0}}.out"', 'gcc -o"${CW_BASE0}.out"'),
        ('go test "$(dirname {{file}})"', 'go test "$(dirname "${CW_FILE}")"'),
        ("echo `cat {{file}}`", 'echo `cat "${CW_FILE}"`'),
        ('echo "${X:-{{file}}}"', 'echo "${X:-${CW_FILE}}"'),
        ("echo ${X:-{{file}}}", 'echo ${X:-"${CW_FILE}"}'),
        ("cat <<EOF\n{{file}} '{{file}}'\nEOF", "cat <<EOF\n${CW_FILE} '${CW_FILE}'\nEOF"),
        ("true # {{file}}\necho {{file}}", 'true # "${CW_FILE}"\necho "${CW_FILE}"'),
        ("echo $((1 + 2)) {{file}}", 'echo $((1 + 2)) "${CW_FILE}"'),
        ("echo {{ file }} {{{file}}} {{&file}}", 'echo "${CW_FILE}" "${CW_FILE}" "${CW_FILE}"'),
        ("echo '\"'{{file}}", 'echo \'"\'"${CW_FILE}"'),
    ],
)
def test_placeholders_become_references_written_for_their_context(
    template: str, script: str
) -> None:
    rendered = render(template, {"file": "a b.py", "base0": "a b"})
    assert rendered.script.split("; ", 2)[2] == script
    assert "a b" not in rendered.script  # the value is never shell text
    assert rendered.values in (("a b.py",), ("a b",))


def test_values_are_parameters_copied_to_named_variables() -> None:
    rendered = render('rustc "{{file}}" -o"{{base0}}.out"', placeholder_values("a.rs", "/p/a.rs"))
    assert rendered.argv() == [
        "sh",
        "-c",
        'CW_FILE=${1} CW_BASE0=${2}; shift 2; rustc "${CW_FILE}" -o"${CW_BASE0}.out"',
        "sh",
        "a.rs",
        "a",
    ]
    assert rendered.shown == 'rustc "a.rs" -o"a.out"'


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("echo $(( {{base0}} + 1 ))", ["{{base0}}", "$((…))"]),
        ("cat <<'EOF'\n{{file}}\nEOF\n", ["{{file}}", "quoted delimiter"]),
        ('cat <<"EOF"\n{{file}}\nEOF\n', ["{{file}}", "quoted delimiter"]),
        ("echo {{nope}}", ["unknown placeholder {{nope}}"]),
    ],
)
def test_placeholders_no_shell_can_receive_are_refused(template: str, words: list[str]) -> None:
    with pytest.raises(PlaceholderError) as caught:
        render(template, {"file": "a", "base0": "a"})
    for word in words:
        assert word in str(caught.value)


def test_arithmetic_may_hold_a_command_substitution_of_a_name() -> None:
    script = render("echo $(( $(wc -c < {{file}}) + 1 ))", {"file": "a"}).script
    assert script.endswith('echo $(( $(wc -c < "${CW_FILE}") + 1 ))')


def shell_argv(argv: list[str], cwd: Path) -> list[str]:
    """What `sh` passes to printf: one line per argument, NUL-separated."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, check=True, timeout=10)
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
    argv = shell_argv(render(template, values).argv(), tmp_path)
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
    assert [(r.cmd, f, c.shown, c.values) for r, f, c in chosen] == [
        ("lint {{file}}", "a.py", "lint a.py", ("a.py",)),
        ("any {{file}}", "b.txt", "any b.txt", ("b.txt",)),
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
        ("commands: [\n", ["line 2", "failed to parse"]),
    ],
)
def test_bad_gaze_file_names_file_and_entry(text: str, words: list[str]) -> None:
    with pytest.raises(InputError) as caught:
        parse_gaze_file(text, file="/p/.gaze.yml")
    assert str(caught.value).startswith(("/p/.gaze.yml: ", "/p/.gaze.yml, line "))
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
    assert len(notes) == 1 and "failed to parse" in notes[0]


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


def test_a_name_that_is_not_utf8_is_matched_as_gaze_reads_it() -> None:
    """Go's regexp reads a bad byte as U+FFFD; RE2 here would raise on the surrogate escape
    (and stop the runner's worker)."""
    import os

    name = os.fsdecode(b"src/caf\xe9.py")
    assert CommandRule("x", re="^src/caf\ufffd\\.py$").matches(name)
    assert CommandRule("x", re="^src/", ext=".py").matches(name)
    assert not CommandRule("x", re="^lib/").matches(name)
