"""Fuzzing path mapping (`map_changes`) with hypothesis: generated changed paths (control
characters, non-ASCII, `..`, very long names, paths outside every context) against generated
services (build contexts with `.dockerignore` patterns, `develop.watch` rules with `include`
and `ignore`). It is a pure function of its inputs: it returns, deterministically, and only
names services that exist, with paths that were given. Deterministic and bounded for CI.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composewatch.compose.model import WatchRule
from composewatch.core.action import Action
from composewatch.core.ignore import IgnoreSyntaxError, parse_ignore
from composewatch.mapping import WatchTarget, map_changes

EXAMPLES = int(os.environ.get("COMPOSEWATCH_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ROOT = Path("/project")
_SEGMENTS = st.one_of(
    st.sampled_from(
        ["src", "app", ".git", "node_modules", "__pycache__", "x.py", "a.pyc", ".env", "..",
         ".", "Dockerfile", ".dockerignore", "key.pem", "#x#", "4913", "é", "a b", "a\x1b[31m"]
    ),
    st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="/\x00"),
        min_size=1,
        max_size=12,
    ),
    st.just("n" * 255),
)  # fmt: skip
_RELATIVE = st.lists(_SEGMENTS, min_size=1, max_size=6).map(lambda parts: "/".join(parts))
_PATHS = st.one_of(
    _RELATIVE.map(lambda rel: ROOT / rel),
    _RELATIVE.map(lambda rel: ROOT / "svc" / rel),
    _RELATIVE.map(lambda rel: Path("/elsewhere") / rel),
)
# .dockerignore lines and watch globs.
_PATTERN_PART = st.sampled_from(
    ["*", "**", "?", "src", "*.py", "*.pem", "[ab]", "[!a]", "[", "\\", "!", ".", "..", "a*b", ""]
)
_PATTERNS = (
    st.lists(_PATTERN_PART, min_size=1, max_size=3)
    .map("/".join)
    .filter(lambda p: p.count("**") <= 2)
)
_EXCEPTIONS = _PATTERNS.map(lambda p: "!" + p)


def _parses(patterns: list[str]) -> bool:
    """Whether the patterns make a valid ignore file (an invalid one is a build error)."""
    try:
        parse_ignore("\n".join(patterns), ".dockerignore")
    except IgnoreSyntaxError:
        return False
    return True


@st.composite
def _rules(draw: st.DrawFn, context: Path) -> WatchRule:
    action = draw(st.sampled_from(["sync", "rebuild", "restart", "sync+restart", "sync+exec"]))
    base = draw(st.sampled_from([context, context / "src", ROOT, Path("/elsewhere")]))
    return WatchRule.model_validate(
        {
            "path": str(base),
            "action": action,
            "target": "/app" if action.startswith("sync") else None,
            # the loader refuses a pattern that does not parse (test_hostile_cli)
            "ignore": draw(st.none() | st.lists(_PATTERNS, max_size=3).filter(_parses)),
            "include": draw(st.none() | st.lists(_PATTERNS, max_size=2)),
        }
    )


@st.composite
def _targets(draw: st.DrawFn) -> list[WatchTarget]:
    targets = []
    for index in range(draw(st.integers(1, 3))):
        context = draw(st.sampled_from([ROOT, ROOT / "svc", ROOT / "svc" / "..", None]))
        patterns = draw(st.lists(_PATTERNS | _EXCEPTIONS, max_size=5).filter(_parses))
        dockerfile = (context / "Dockerfile") if context is not None else None
        rules = draw(st.lists(_rules(context or ROOT), max_size=3))
        ignore = parse_ignore("\n".join(patterns), ".dockerignore")
        targets.append(WatchTarget(f"s{index}", context, dockerfile, ignore, tuple(rules)))
    return targets


@FUZZ
@given(paths=st.lists(_PATHS, max_size=8), targets=_targets())
def test_map_changes_is_total_and_consistent(paths: list[Path], targets: list[WatchTarget]) -> None:
    changes = map_changes(paths, targets)
    assert changes == map_changes(list(paths), targets)  # pure: same inputs, same answer
    names = {t.service for t in targets}
    for service, change in changes.items():
        assert service in names
        assert change.paths and change.paths <= set(paths)
        assert isinstance(change.action, Action)
        target = next(t for t in targets if t.service == service)
        assert all(rule in target.rules for rule in change.rules)


@FUZZ
@given(path=_PATHS, targets=_targets())
def test_a_path_outside_every_context_and_rule_concerns_nobody(
    path: Path, targets: list[WatchTarget]
) -> None:
    outside = Path("/unrelated") / path.relative_to(path.anchor)
    assert map_changes([outside], targets) == {}
