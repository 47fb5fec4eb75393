"""Commands on save under a real `sh`: every template form x every hostile file name.

Each template prints what the shell received (`printf '%s\\0'`, NUL-separated) from a
placeholder standing in one quoting context: bare, gaze's quotes, single quotes, glued, two
placeholders, `$(…)`, backticks, `${X:-…}`, heredocs, comments, next to arithmetic, plus
gaze's own default commands against stub tools. Each name must arrive byte for byte, and no
name may run anything: the names try to `touch PWNED`, and the scratch directory must hold
only the outputs afterwards. The cases of one name run in one `sh`, each case as the argv
the runner execs (`sh -c SCRIPT sh VALUE…`), so the whole table takes about a second.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composewatch.core.commands import (
    PlaceholderError,
    RenderedCommand,
    placeholder_values,
    render,
)

Values = dict[str, str]
Expect = Callable[[Values], list[str]]


def _b(text: str) -> bytes:
    return os.fsencode(text)


def _dirname(values: Values) -> str:
    # `"$(dirname -- NAME)"`: what dirname prints, less the newlines $(…) strips
    return (posixpath.dirname(values["file"]) or ".").rstrip("\n")


# (template, expected arguments printf receives). All forms of the issue, and more.
FORMS: list[tuple[str, Expect]] = [
    ("printf '%s\\0' {{file}}", lambda v: [v["file"]]),
    ("printf '%s\\0' \"{{file}}\"", lambda v: [v["file"]]),
    ("printf '%s\\0' '{{file}}'", lambda v: [v["file"]]),
    ("printf '%s\\0' 'pre {{file}} post'", lambda v: [f"pre {v['file']} post"]),
    ("printf '%s\\0' x{{base0}}y", lambda v: [f"x{v['base0']}y"]),
    ("printf '%s\\0' \"pre-{{base}}-post\"", lambda v: [f"pre-{v['base']}-post"]),
    ("printf '%s\\0' -o\"{{base0}}.out\"", lambda v: [f"-o{v['base0']}.out"]),
    ('printf \'%s\\0\' "{{file}}" "{{ext}}"', lambda v: [v["file"], v["ext"]]),
    ("printf '%s\\0' {{dir}}/{{base}}", lambda v: [f"{v['dir']}/{v['base']}"]),
    (
        "printf '%s\\0' \"{{base1}}\"'{{base2}}'{{abs}}",
        lambda v: [v["base1"] + v["base2"] + v["abs"]],
    ),
    ("printf '%s\\0' {{ file }} {{{file}}}", lambda v: [v["file"], v["file"]]),
    ('printf \'%s\\0\' "\\"{{file}}\\""', lambda v: [f'"{v["file"]}"']),
    ("printf '%s\\0' \"\\{{file}}\"", lambda v: ["\\" + v["file"]]),
    ("printf '%s\\0' \"$(printf '%sx' {{file}})\"", lambda v: [v["file"] + "x"]),
    ("printf '%s\\0' \"$(printf '%sx' \"{{file}}\")\"", lambda v: [v["file"] + "x"]),
    ("printf '%s\\0' $(printf x)\"{{file}}\"", lambda v: ["x" + v["file"]]),
    ("printf '%s\\0' \"$(dirname -- {{file}})\"", lambda v: [_dirname(v)]),
    ("printf '%s\\0' \"`printf '%sx' {{file}}`\"", lambda v: [v["file"] + "x"]),
    ("printf '%s\\0' \"`printf '%sx' \"{{file}}\"`\"", lambda v: [v["file"] + "x"]),
    ("printf '%s\\0' \"${X:-{{file}}}\"", lambda v: [v["file"]]),
    ("printf '%s\\0' ${X:-{{file}}}", lambda v: [v["file"]]),
    ('printf \'%s\\0\' "${X-"{{file}}"}" ${X+{{file}}}', lambda v: [v["file"]]),
    ("X=set; printf '%s\\0' \"${X:+{{file}}}\"", lambda v: [v["file"]]),
    ("printf '%s\\0' \"$(cat <<EOF\n{{file}}x\nEOF\n)\"", lambda v: [v["file"] + "x"]),
    (
        "x=$(cat <<EOF\n{{base}} '{{ext}}' \"q\"x\nEOF\n); printf '%s\\0' \"$x\"",
        lambda v: [f"{v['base']} '{v['ext']}' \"q\"x"],
    ),
    (
        "x=$(cat <<-END\n\t{{file}}x\n\t$(printf '%s' \"{{ext}}\")\n\tEND\n)\n"
        "printf '%s\\0' \"$x\"",
        lambda v: [f"{v['file']}x\n{v['ext']}".rstrip("\n")],
    ),
    ("printf '%s\\0' {{file}} # and {{file}} $(touch PWNED)", lambda v: [v["file"]]),
    ("# {{file}}\nprintf '%s\\0' {{base}} # {{base}}\n", lambda v: [v["base"]]),
    ("printf '%s\\0' \"$((1 + 2))\" {{file}} $((3*4))", lambda v: ["3", v["file"], "12"]),
    ("printf '%s\\0' $(( $(printf '%s' {{file}} | wc -c) ))", lambda v: [str(len(_b(v["file"])))]),
    (
        "printf '%s\\0' \"$(case {{file}} in *) printf '%sx' {{file}};; esac)\"",
        lambda v: [v["file"] + "x"],
    ),
    ('if [ -n "{{file}}" ]; then printf \'%s\\0\' "{{file}}"; fi', lambda v: [v["file"]]),
    (
        'for f in {{file}} "{{base}}"; do printf \'%s\\0\' "$f"; done',
        lambda v: [v["file"], v["base"]],
    ),
    ("f={{file}}; printf '%s\\0' \"$f\"", lambda v: [v["file"]]),
    ("set -- a b; shift; printf '%s\\0' {{file}} \"$#\"", lambda v: [v["file"], "1"]),
    ("printf '%s\\0' \"$#\" {{file}}", lambda v: ["0", v["file"]]),
    ("printf '%s\\0' {{file}} | { IFS= read -r x; printf '%s\\0' done; }", lambda v: ["done"]),
    (
        "( printf '%s\\0' {{file}} ) && { printf '%s\\0' '{{ext}}'; }",
        lambda v: [v["file"], v["ext"]],
    ),
]

# gaze's default configuration (wtetsu/gaze pkg/config/default.yml), each tool a stub that
# prints its name and arguments; `./x.out` finds nothing and fails, after the tool ran.
GAZE_DEFAULTS: list[tuple[str, Expect]] = [
    (f'{tool} "{{{{file}}}}"', lambda v, t=tool: [*t.split(), v["file"]])
    for tool in (
        "go run",
        "python",
        "ruby",
        "node",
        "dmd -run",
        "groovy",
        "php",
        "java",
        "kotlinc -script",
        "zig run",
    )
] + [
    (
        'rustc "{{file}}" -o"{{base0}}.out"\n./"{{base0}}.out"',
        lambda v: ["rustc", v["file"], f"-o{v['base0']}.out"],
    ),
    (
        'gcc "{{file}}" -o"{{base0}}.out"\n./"{{base0}}.out"',
        lambda v: ["gcc", v["file"], f"-o{v['base0']}.out"],
    ),
    (
        'tsc "{{file}}" --outFile "{{base0}}.out"\nnode ./"{{base0}}.out"',
        lambda v: [
            "tsc",
            v["file"],
            "--outFile",
            f"{v['base0']}.out",
            "node",
            f"./{v['base0']}.out",
        ],
    ),
    ('docker build -f "{{file}}" .', lambda v: ["docker", "build", "-f", v["file"], "."]),
]
STUBS = [
    "go",
    "python",
    "ruby",
    "node",
    "dmd",
    "groovy",
    "php",
    "java",
    "kotlinc",
    "zig",
    "rustc",
    "gcc",
    "tsc",
    "docker",
]

TEMPLATES = FORMS + GAZE_DEFAULTS

_INJECT = "$(touch PWNED)"
HOSTILE: list[str] = [
    "a.py",
    "src/pkg/mod.test.js",
    f"a{_INJECT}.py",
    "`touch PWNED`.py",
    "a;touch PWNED",
    "a|touch PWNED",
    "a&&touch PWNED&&.py",
    "a'b.py",
    'a"b.py',
    "'\"'\"'",
    "\\",
    "a\\",
    "a\\\"b\\'c",
    "$HOME",
    "${HOME}x",
    "$((1+1))",
    "$1$@$#$*",
    '"$@"',
    "*",
    "?.py",
    "[a-z]*.py",
    "~",
    "~root/x",
    "-rf.py",
    "--help",
    "-",
    "-n",
    "-e\\n",
    "new\nline.py",
    "\ntouch PWNED\n",
    "trailing newline.py\n\n",
    "x\n#",
    "#x.py",
    f"# {_INJECT}",
    "x #\ntouch PWNED",
    "EOF",
    "EOF\ntouch PWNED\nEOF",
    "END\n\tEND",
    "a\tb",
    " lead and trail space ",
    "a  b",
    "}",
    "{{file}}",
    "{{",
    ")",
    "$(",
    f"a){_INJECT}(",
    "))$((",
    "%s%n%%",
    "\x01\x1b[31mred\x07",
    "café.py",
    "日本語.py",
    "\u202eevil.py",
    "IFS=x; touch PWNED",
    "dir with space/$(touch PWNED)/x.py",
    ".hidden",
    "a.b.c.d.e",
    "noext",
    "a" * 4000 + ".py",
    _INJECT * 280,
    "x/" * 1000 + "y.py",
    os.fsdecode(b"\xff\xfe.py"),
    os.fsdecode(b"caf\xe9$(touch PWNED).py"),
    os.fsdecode(b"\x80\n'\xc3(.py"),
]


# Run as real `sh -c` argvs, exactly as the runner execs them; the other names run each case
# as `( set -- VALUE…; eval SCRIPT )` in one shell: the same parse of the same text with the
# same parameters, without an exec per case (a few thousand execs take 20 s on 2 busy cores).
REAL_SH = {f"a{_INJECT}.py", "new\nline.py", "x #\ntouch PWNED", "'\"'\"'", HOSTILE[-2]}


def _driver(cases: list[list[str]], out: Path, *, real_sh: bool) -> tuple[str, list[str]]:
    """One `sh` script running each case in turn, its output to `out/<index>`. The cases'
    scripts and values are the driver's own parameters: the driver holds no value either."""
    params: list[str] = []

    def ref(arg: str) -> str:
        params.append(arg)
        return f'"${{{len(params)}}}"'

    lines = [f"{tool}() {{ printf '%s\\0' {tool} \"$@\"; }}" for tool in STUBS]
    for index, argv in enumerate(cases):
        assert argv[:2] == ["sh", "-c"] and argv[3] == "sh"
        if real_sh:
            run = " ".join(ref(arg) for arg in argv)
        else:
            script = ref(argv[2])
            # the script is read before `set --` replaces the driver's parameters
            run = f'( s={script}; set -- {" ".join(ref(v) for v in argv[4:])}; eval "$s" )'
        lines.append(f"{run} >{out}/{index} 2>/dev/null")
    return "\n".join(lines) + "\n", params


def _run_cases(cases: list[list[str]], tmp: Path, bin_dir: Path, *, real_sh: bool) -> list[bytes]:
    out = tmp / "out"
    out.mkdir()
    work = tmp / "work"
    work.mkdir()
    script, params = _driver(cases, out, real_sh=real_sh)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C"}
    # `sh` as PATH finds it: /bin/sh, or the shell under test linked as bin/sh
    subprocess.run(["sh", "-c", script, "sh", *params], cwd=work, env=env, timeout=60)
    assert sorted(p.name for p in work.iterdir()) == []  # no PWNED, nothing made
    return [(out / str(i)).read_bytes() for i in range(len(cases))]


def _stubs(tmp: Path) -> Path:
    """The tools of gaze's defaults, each printing its name and arguments."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for tool in STUBS:
        stub = bin_dir / tool
        stub.write_text('#!/bin/sh\nprintf \'%s\\0\' "${0##*/}" "$@"\n')
        stub.chmod(0o755)
    return bin_dir


def _expected(expect: Expect, values: Values) -> bytes:
    return b"".join(_b(arg) + b"\0" for arg in expect(values))


def _is_utf8(text: str) -> bool:
    return not any("\udc80" <= c <= "\udcff" for c in text)


# The system's `sh` takes every name; busybox's (the shell of alpine and busybox images,
# where `service:` commands run) and bash (`sh` on some hosts) every fifth one.
SHELLS = {"sh": None, "busybox": ("busybox", "sh"), "bash": ("bash",)}


@pytest.mark.parametrize("shell", list(SHELLS))
def test_every_name_arrives_exact_in_every_form_and_runs_nothing(
    tmp_path: Path, shell: str
) -> None:
    """The table: every template x every name, and again with the argv sent to a container
    for the names that are not UTF-8 (the engine's JSON carries only UTF-8: octal escapes)."""
    assert len(TEMPLATES) >= 30 and len(HOSTILE) >= 40
    bin_dir = _stubs(tmp_path)
    names = HOSTILE
    if SHELLS[shell] is not None:
        found = shutil.which(shell)
        if found is None:
            pytest.skip(f"no {shell} here")
        wrapper = bin_dir / "sh"
        wrapper.write_text(f'#!/bin/sh\nexec {" ".join(SHELLS[shell] or ())} "$@"\n')
        wrapper.chmod(0o755)
        names = [n for i, n in enumerate(HOSTILE) if i % 5 == 0 or n in REAL_SH]
    failures = []
    runs = 0
    for index, name in enumerate(names):
        values = placeholder_values(name, "/project/" + name)
        commands = [render(t, values) for t, _ in TEMPLATES]
        variants = [[c.argv() for c in commands]]
        engine = [c.argv(utf8_only=True) for c in commands]
        for arg in (arg for argv in engine for arg in argv):
            arg.encode("utf-8")  # raises for anything the engine's JSON cannot carry
        if _is_utf8(name):
            assert engine == variants[0]
        else:
            variants.append(engine)
        for number, argvs in enumerate(variants):
            scratch = tmp_path / f"n{index}-{number}"
            scratch.mkdir()
            outputs = _run_cases(argvs, scratch, bin_dir, real_sh=name in REAL_SH)
            runs += len(argvs)
            for (template, expect), output in zip(TEMPLATES, outputs, strict=True):
                if output != _expected(expect, values):
                    failures.append(f"{template!r} x {name[:60]!r}: {output[:120]!r}")
    assert runs >= 30 * 40 if shell == "sh" else runs >= 30 * 10
    assert not failures, f"{len(failures)} of {runs} runs wrong:\n" + "\n".join(failures[:20])


# Pieces a template is made of for hypothesis: each prints its values one way.
# (Not those that set variables or parameters a later piece reads.)
PIECES: list[tuple[str, Expect]] = [
    (t, e) for t, e in FORMS if not any(w in t for w in ("PWNED", "X=", "set --", "$#"))
]

NAMES = st.one_of(
    st.text(st.characters(exclude_characters="\0", exclude_categories=["Cs"]), max_size=40),
    st.binary(max_size=30).map(lambda b: os.fsdecode(b.replace(b"\0", b""))),
    st.lists(
        st.sampled_from(["$(", ")", "`", "'", '"', "\\", "\n", "#", "{{", "}}", "EOF", "-"])
    ).map("".join),
)


# CI's fixed budget; COMPOSEWATCH_FUZZ_EXAMPLES=2000 for a deeper (still deterministic) run.
EXAMPLES = int(os.environ.get("COMPOSEWATCH_FUZZ_EXAMPLES", "200"))


@settings(
    max_examples=EXAMPLES // 3,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=4),
    name=NAMES,
    directory=st.sampled_from(["", "sub/", "a b/$(x)/"]),
    utf8_only=st.booleans(),
)
def test_rendering_is_exact_under_sh(
    tmp_path: Path,
    pieces: list[tuple[str, Expect]],
    name: str,
    directory: str,
    utf8_only: bool,
) -> None:
    relative = directory + (name or "x")
    values = placeholder_values(relative, "/p/" + relative)
    command = render("\n".join(t for t, _ in pieces), values)
    done = subprocess.run(
        command.argv(utf8_only=utf8_only),
        cwd=tmp_path,
        capture_output=True,
        timeout=10,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )
    assert done.stdout == b"".join(_expected(e, values) for _, e in pieces)
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=EXAMPLES + 100, deadline=None, derandomize=True, database=None)
@given(
    template=st.lists(
        st.sampled_from(
            [
                *("{{file}}", "{{base0}}", "{{ x }}", "{{{file}}}", "{", "}}", "a", " ", "\n"),
                *("$(", "$((", "${", "`", "'", '"', "\\", "#", ")", "}", "))", "case", "esac"),
                *("<<EOF", "<<'E'", "<<-", "EOF", "E"),
            ]
        )
    ).map("".join),
    name=NAMES,
)
def test_any_template_renders_or_is_refused_and_holds_no_value(template: str, name: str) -> None:
    """Whatever the template text, rendering gives shell text that holds no value (it does
    not depend on the file at all), or a PlaceholderError: never another exception."""
    values = placeholder_values("v/" + name, "/p/v/" + name)
    try:
        first = render(template, values)
    except PlaceholderError:
        return
    other = render(template, placeholder_values("w", "/p/w"))
    assert first.script == other.script
    assert isinstance(first, RenderedCommand)
