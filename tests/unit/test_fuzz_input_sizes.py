"""Fuzzing ignore files and the sizes things grow to, with hypothesis (issue 18): generated
`.dockerignore` files (Unicode spaces, byte-order marks, `!`, escapes, classes, `|` and `{}`,
long lines), variables that expand one another, includes shaped like diamonds and numbers of
any size in typed fields. Whatever the input: a result within the limits or a clean
`IgnoreSyntaxError` / `ComposewatchError` naming the file, never another exception, never an
unbounded amount of work. Deterministic and bounded (`COMPOSEWATCH_FUZZ_EXAMPLES`), as the
loader fuzz is.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from composewatch.compose import ProjectOptions, interpolation, load_project, treeload
from composewatch.core.ignore import IgnoreSyntaxError, parse_ignore
from composewatch.errors import ComposeFileError

EXAMPLES = int(os.environ.get("COMPOSEWATCH_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- ignore files ---------------------------------------------------------------------------

_PIECES = st.sampled_from(
    ["a", "b", "*", "**", "?", "/", "[", "]", "^", "-", "\\", "!", ".", "..", " ", "\t",
     "\u00a0", "\u3000", "\u2003", "\x85", "\ufeff", "#", ":", "[:alpha:]", "[:foo:]",
     "\\y", "\\8", "\\pX", "\\pL", "\\C", "\\Q", "\\E", "\\x41", "\\12", "\\b", "é", "{2}",
     "{1001}", "|", "\\p{Greek}", "[b-a]", "a{2,1}", "\r", "\u200b", "\x00"]
)  # fmt: skip
_LINES = st.lists(st.lists(_PIECES, max_size=6).map("".join), min_size=1, max_size=6)
_PATHS = st.lists(
    st.lists(st.sampled_from(["a", "b", "é", "a b", "[", "x.py", "\u00a0a", ".."]), max_size=4)
    .map("/".join)
    .filter(bool),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(lines=_LINES, paths=_PATHS, long_line=st.sampled_from([0, 0, 0, 65_535, 65_536]))
def test_ignore_files_parse_or_fail_cleanly(
    lines: list[str], paths: list[str], long_line: int
) -> None:
    if long_line:
        lines = [*lines, "a" * long_line]
    data = "\n".join(lines).encode()
    try:
        rules = parse_ignore(data, "ctx/.dockerignore")
    except IgnoreSyntaxError as exc:
        event(f"refused: {exc.reason.split(' (')[0]}")
        assert exc.source == "ctx/.dockerignore" and 1 <= exc.line <= len(lines)
        assert str(exc).startswith(f"ctx/.dockerignore:{exc.line}: ")
        return
    event("parsed")
    for path in paths:
        excluded = rules.excluded(path)
        # the walk's incremental form agrees with the whole-path form
        info = None
        parts = path.split("/")
        for i in range(len(parts)):
            result, info = rules.match("/".join(parts[: i + 1]), info)
        if ".." not in parts:
            assert result is excluded, (lines, path)


# --- interpolation sizes --------------------------------------------------------------------


@st.composite
def _expanding_env(draw: st.DrawFn) -> list[str]:
    """Lines `V<i>=...` whose values repeat earlier variables (doubling, tripling...)."""
    lines = [f"V0={draw(st.text(alphabet='xyz', min_size=1, max_size=40))}"]
    for i in range(1, draw(st.integers(1, 40))):
        refs = draw(st.lists(st.integers(max(0, i - 3), i - 1), min_size=1, max_size=4))
        style = draw(st.sampled_from(["${V%d}", "$V%d", "${V%d:-d}", "${UNSET:-${V%d}}"]))
        lines.append(f"V{i}=" + "".join(style % r for r in refs))
    return lines


@FUZZ
@given(lines=_expanding_env(), uses=st.integers(1, 30))
def test_expansion_is_bounded(
    lines: list[str], uses: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    last = len(lines) - 1
    with pytest.MonkeyPatch.context() as patch:
        # small limits, the same code: a fuzz example stays cheap however it grows
        patch.setattr(interpolation, "MAX_VALUE_CHARS", 20_000)
        patch.setattr(interpolation, "MAX_TOTAL_CHARS", 200_000)
        root = tmp_path_factory.mktemp("expand")
        (root / ".env").write_text("\n".join(lines) + "\n")
        labels = "".join(f"      l{i}: ${{V{last}}}\n" for i in range(uses))
        (root / "compose.yaml").write_text(
            f"services:\n  web:\n    image: busybox\n    labels:\n{labels}"
        )
        try:
            loaded = load_project(ProjectOptions(working_dir=str(root), environ={}))
        except ComposeFileError as exc:
            event("refused")
            assert "past" in exc.reason and "characters" in exc.reason, exc
            assert exc.file is not None and Path(exc.file).name in (".env", "compose.yaml")
            assert "V" in exc.reason or exc.key, exc  # the variable, or the key, is named
            return
    event("loaded")
    values = loaded.project.services["web"].labels or {}
    assert all(len(v) <= 20_000 for v in values.values())


# --- includes shaped like diamonds ----------------------------------------------------------


@FUZZ
@given(depth=st.integers(1, 30), width=st.integers(1, 3))
def test_diamond_includes_are_bounded(
    depth: int, width: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("diamond")
    names = [[f"f{level}_{k}.yml" for k in range(width)] for level in range(depth)]
    (root / "compose.yaml").write_text(
        "include:\n" + "".join(f"  - {n}\n" for n in names[0]) + "services:\n  web:\n"
        "    image: busybox\n"
    )
    for level, files in enumerate(names):
        for k, name in enumerate(files):
            body = f"services:\n  s{level}_{k}:\n    image: busybox\n"
            if level + 1 < depth:
                body = "include:\n" + "".join(f"  - {n}\n" for n in names[level + 1]) + body
            (root / name).write_text(body)
    loads = sum(width**level for level in range(1, depth + 1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(treeload, "MAX_INCLUDED_LOADS", 40)  # the same code, a cheaper example
        try:
            loaded = load_project(ProjectOptions(working_dir=str(root), environ={}))
        except ComposeFileError as exc:
            event("refused")
            assert loads > 40, (depth, width)
            assert "includes load more than 40 files" in exc.reason and exc.file is not None
            return
    event("loaded")
    assert loads <= 40
    assert len(loaded.project.services) == 1 + depth * width


# --- numbers of any size --------------------------------------------------------------------

_TYPED = {
    "cpu_count: ${N}": "cpu_count",
    "blkio_config:\n      weight: ${N}": "blkio_config.weight",
    "deploy:\n      update_config:\n        parallelism: ${N}": "parallelism",
    "deploy:\n      resources:\n        limits:\n          pids: ${N}\n          cpus: ${N}": (
        "deploy.resources.limits"
    ),
    "mem_swappiness: ${N}": "mem_swappiness",
    "cpus: ${N}": "cpus",
    "ulimits:\n      nofile: ${N}": "ulimits.nofile",
}


@FUZZ
@given(
    field=st.sampled_from(sorted(_TYPED)),
    number=st.one_of(
        st.integers(-(2**70), 2**70).map(str),
        st.integers(1, 6_000).map(lambda n: "9" * n),
        st.integers(1, 6_000).map(lambda n: "-" + "1" * n),
        st.sampled_from(["0x10", "1e400", "1_000", " 5", "+7", "", "9.5", "inf"]),
    ),
)
def test_numbers_of_any_size_load_or_fail_cleanly(field: str, number: str) -> None:
    with tempfile.TemporaryDirectory(prefix="cw-num-") as scratch:
        root = Path(scratch)
        (root / "compose.yaml").write_text(f"services:\n  web:\n    image: busybox\n    {field}\n")
        try:
            load_project(ProjectOptions(working_dir=str(root), environ={"N": number}))
        except ComposeFileError as exc:
            event("refused")
            assert exc.key and exc.key.startswith("services.web"), exc
            return
    event("loaded")
    assert len(number.lstrip("+-")) <= 400  # anything longer is out of every Go type's range
