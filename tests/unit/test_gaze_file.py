"""`.gaze.yml` is read as compose files are: the same YAML reader and limits (nesting, nodes,
aliases, 64-bit integers, tags), the same file checks (a regular file, 4 MiB, UTF-8). Whatever
the file holds, the outcome is rules or one paragraph naming the file (exit 2 at the command
line), never a traceback; gaze's own default configuration is read as is."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import re2
import yaml
from clirun import cw
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from composewatch.core.commands import CommandRule, choose_commands
from composewatch.errors import InputError
from composewatch.gaze import load_gaze_rules, parse_gaze_file

# wtetsu/gaze pkg/config/default.yml, as `gaze -y` prints it.
GAZE_DEFAULT = """\
# Gaze configuration(priority: default < ~/.gaze.yml < ~/.config/gaze/gaze.yml < -f option)
commands:
  - ext: .go
    cmd: go run "{{file}}"
  - ext: .py
    cmd: python "{{file}}"
  - ext: .rb
    cmd: ruby "{{file}}"
  - ext: .js
    cmd: node "{{file}}"
  - ext: .d
    cmd: dmd -run "{{file}}"
  - ext: .groovy
    cmd: groovy "{{file}}"
  - ext: .php
    cmd: php "{{file}}"
  - ext: .java
    cmd: java "{{file}}"
  - ext: .kts
    cmd: kotlinc -script "{{file}}"
  - ext: .rs
    cmd: |
      rustc "{{file}}" -o"{{base0}}.out"
      ./"{{base0}}.out"
  - ext: .cpp
    cmd: |
      gcc "{{file}}" -o"{{base0}}.out"
      ./"{{base0}}.out"
  - ext: .ts
    cmd: |
      tsc "{{file}}" --outFile "{{base0}}.out"
      node ./"{{base0}}.out"
  - ext: .zig
    cmd: zig run "{{file}}"
  - re: ^Dockerfile$
    cmd: docker build -f "{{file}}" .

log:
  start: "[{{command}}]{{step}}"
  end: "({{elapsed_ms}}ms)"
"""

ENTRY = "commands:\n  - ext: .py\n    cmd: echo {{file}}\n"


def test_gazes_default_configuration_is_read_as_is() -> None:
    rules = parse_gaze_file(GAZE_DEFAULT, file=".gaze.yml")
    assert len(rules) == 14
    [(_, _, command)] = choose_commands(rules, [("src/main.rs", "/p/src/main.rs")])
    assert command.shown == 'rustc "src/main.rs" -o"main.out"\n./"main.out"\n'
    [(rule, _, command)] = choose_commands(rules, [("Dockerfile", "/p/Dockerfile")])
    assert (rule.re, command.values) == ("^Dockerfile$", ("Dockerfile",))


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _loop(path: Path) -> None:
    path.symlink_to(path.name)


HOSTILE: dict[str, tuple[str | bytes | None, tuple[str, ...]]] = {
    "2,000 [": ("commands: " + "[" * 2000 + "]" * 2000 + "\n", ("maximum nesting depth",)),
    "5,000-digit timeout_s": (
        ENTRY + "    timeout_s: " + "9" * 5000 + "\n",
        ("commands[0].timeout_s", "finite number"),
    ),
    "timeout_s 1e999": (ENTRY + "    timeout_s: 1e999\n", ("commands[0].timeout_s",)),
    "negative timeout_s": (ENTRY + "    timeout_s: -1\n", ("commands[0].timeout_s",)),
    "alias bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
            for p, c in zip("abcdef", "bcdefg", strict=True)
        )
        + ENTRY,
        ("50,000 nodes",),
    ),
    "!!binary": ("commands: !!binary aGVsbG8=\n", ("!!binary",)),
    "duplicate key": (ENTRY + "commands: []\n", ("already defined at line 1",)),
    "a scalar": ("hello\n", ("the file", "dictionary")),
    "unknown key": (ENTRY + "    when: always\n", ("commands[0].when", "unknown key")),
    "cmd a list": ("commands:\n  - ext: .py\n    cmd: [a]\n", ("commands[0].cmd",)),
    "re invalid": ("commands:\n  - re: '[b-a]'\n    cmd: x\n", ("not a regular expression",)),
    "placeholder in $((…))": (
        "commands:\n  - ext: .py\n    cmd: echo $(( {{base0}} + 1 ))\n",
        ("commands[0].cmd", "$((…))"),
    ),
    "quoted heredoc": (
        "commands:\n  - ext: .py\n    cmd: \"cat <<'E'\\n{{file}}\\nE\"\n",
        ("commands[0].cmd", "quoted delimiter"),
    ),
    "not UTF-8": (b"commands:\n  - ext: .py\n    cmd: echo \xff\n", ("line 3", "not UTF-8")),
    "over 4 MiB": ("x: '" + "a" * (4 << 20) + "'\n", ("larger than 4 MiB",)),
    "a FIFO": (None, ("named pipe",)),
    "a symlink loop": (None, ("cannot read file",)),
    "a directory": (None, ("a directory",)),
}
SETUP: dict[str, Callable[[Path], None]] = {
    "a FIFO": _fifo,
    "a symlink loop": _loop,
    "a directory": Path.mkdir,
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_gaze_files_are_one_paragraph_naming_the_file(tmp_path: Path, case: str) -> None:
    content, words = HOSTILE[case]
    path = tmp_path / ".gaze.yml"
    if content is None:
        SETUP[case](path)
    else:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(InputError) as caught:
        load_gaze_rules(tmp_path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message.strip()
    assert len(message) < 600
    for word in words:
        assert word in message


def _project(tmp_path: Path, gaze: str) -> Path:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox:latest\n")
    (tmp_path / ".gaze.yml").write_text(gaze)
    return tmp_path


@pytest.mark.parametrize(
    ("gaze", "words"),
    [
        ("commands: " + "[" * 2000 + "\n", ("maximum nesting depth",)),
        (ENTRY + "    timeout_s: " + "7" * 5000 + "\n", ("commands[0].timeout_s", "finite")),
    ],
    ids=["2,000 [", "5,000-digit timeout_s"],
)
def test_explain_refuses_a_hostile_gaze_file_with_exit_2(
    tmp_path: Path, gaze: str, words: tuple[str, ...]
) -> None:
    done = cw(_project(tmp_path, gaze), "explain", "a.py")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    paragraph = done.stderr.strip()
    assert paragraph.startswith("error: ") and "\n\n" not in paragraph
    assert ".gaze.yml" in paragraph
    for word in words:
        assert word in paragraph


def test_explain_shows_a_hostile_name_and_runs_nothing(tmp_path: Path) -> None:
    name = "a$(touch PWNED).py"
    done = cw(_project(tmp_path, GAZE_DEFAULT), "explain", name)
    assert done.returncode == 0, done.stderr
    assert f'python "{name}"' in done.stdout
    assert not (tmp_path / "PWNED").exists()


def test_rules_compile_their_patterns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of `re` rules: each compiled when read, none again per save (a 128-entry
    cache used to recompile all of them for every file)."""
    text = "commands:\n" + "".join(
        f"  - re: ^src/m{i}/\n    cmd: echo {i} {{{{file}}}}\n" for i in range(500)
    )
    rules = parse_gaze_file(text, file=".gaze.yml")
    compiled: list[str] = []
    monkeypatch.setattr(re2, "compile", lambda *a, **k: compiled.append(a[0]))
    files = [(f"src/m{i}/a.py", f"/p/src/m{i}/a.py") for i in (499, 5, 250)]
    chosen = choose_commands(rules, files)
    assert [c.shown for _, _, c in chosen] == [f"echo {i} src/m{i}/a.py" for i in (499, 5, 250)]
    assert compiled == []
    assert all(isinstance(rule, CommandRule) for rule in rules)


# CI's fixed budget; COMPOSEWATCH_FUZZ_EXAMPLES=2000 for a deeper (still deterministic) run.
FUZZ = settings(
    max_examples=int(os.environ.get("COMPOSEWATCH_FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["{{file}}", "echo {{base0}}", "{{nope}}", "$(( {{file}} ))", "(", ".py"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
KEYS = st.sampled_from(["ext", "re", "glob", "cmd", "run", "service", "timeout_s", "other"])
ENTRIES = st.dictionaries(KEYS, VALUES | SCALARS, max_size=5)
PLAUSIBLE = st.fixed_dictionaries(
    {"cmd": st.sampled_from(['python "{{file}}"', "make {{base0}}.o", "echo {{ dir }}/{{ext}}"])},
    optional={
        "ext": st.sampled_from([".py", ".go", ""]),
        "re": st.sampled_from(["^src/", "[b-a]", "\\pX", "(", ".*", "\\.py$"]),
        "glob": st.sampled_from(["*.py", "[", "tests/**"]),
        "timeout_s": st.integers(1, 60) | st.integers() | st.floats() | st.just("9" * 400),
        "service": st.sampled_from(["web", "", "x" * 300]),
    },
)
DOCUMENTS = st.one_of(
    st.fixed_dictionaries({"commands": st.lists(PLAUSIBLE, max_size=3)}),
    st.lists(PLAUSIBLE, max_size=3),
    st.fixed_dictionaries({"commands": st.lists(ENTRIES, max_size=4)}),
    st.lists(ENTRIES, max_size=4),
    st.dictionaries(st.sampled_from(["commands", "log", "x"]), VALUES, max_size=3),
    VALUES,
)


def _clean(text: str) -> None:
    """Rules, or one InputError paragraph naming the file."""
    try:
        rules = parse_gaze_file(text, file="/p/.gaze.yml")
    except InputError as err:
        assert str(err).startswith("/p/.gaze.yml")
        assert "\n\n" not in str(err)
        event("refused")
        return
    event("rules" if rules else "no rules")
    for rule in rules:
        choose_commands([rule], [("a.py", "/p/a.py"), ("Dockerfile", "/p/Dockerfile")])


@FUZZ
@given(DOCUMENTS)
def test_fuzz_generated_gaze_files(document: object) -> None:
    _clean(yaml.safe_dump(document, allow_unicode=True))


EDITS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=len(GAZE_DEFAULT)),
        st.integers(min_value=0, max_value=8),
        st.sampled_from(["[", "]", "{", "}", ":", "- ", "&a ", "*a", "!!", "|", ">", "#", "'"])
        | st.sampled_from(['"', "\n", "  ", "\t", "{{", "}}", "$((", "<<'E'\n", "9" * 30, "\\"])
        | st.text(max_size=4),
    ),
    min_size=1,
    max_size=6,
)


@FUZZ
@given(EDITS)
def test_fuzz_mutated_gaze_default(edits: list[tuple[int, int, str]]) -> None:
    text = GAZE_DEFAULT
    for at, cut, insert in edits:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut :]
    _clean(text)
