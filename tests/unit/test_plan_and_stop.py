"""The up plan, the stop policy and Go durations: pure decisions."""

from __future__ import annotations

import pytest

from composewatch.plan import Observed, plan_up, render_plan
from composewatch.stop import choose_stop_timeout


def test_plan_adopts_starts_recreates_creates_and_cleans_leftovers() -> None:
    observed = {
        "db": [Observed("d" * 64, "p-db-1", matches=True, running=True)],
        "cache": [Observed("c" * 64, "p-cache-1", matches=True, running=False)],
        "api": [Observed("a" * 64, "p-api-1", matches=False, running=True)],
        "web": [
            Observed("1" * 64, "p-web-1", matches=True, running=True),
            Observed("2" * 64, "p-web-1_cw-new", matches=True, running=False),
        ],
    }
    text = render_plan(plan_up(observed, ["db", "cache", "api", "web", "new"]))
    assert text == "\n".join(
        [
            "db: adopt dddddddddddd",
            "cache: start cccccccccccc",
            "api: recreate aaaaaaaaaaaa",
            "web: adopt 111111111111 (remove 222222222222)",
            "new: create",
        ]
    )


@pytest.mark.parametrize(
    ("grace", "configured", "ignores", "expected"),
    [
        ("3s", None, True, 3.0),  # the user's stop_grace_period always wins
        (None, 1.5, True, 1.5),
        (None, None, True, 0.0),  # nothing will react to SIGTERM: don't wait for it
        (None, None, False, 10.0),  # compose's default for a process that handles it
    ],
)
def test_stop_timeout(
    grace: str | None, configured: float | None, ignores: bool, expected: float
) -> None:
    assert choose_stop_timeout(grace, configured, ignores) == expected
