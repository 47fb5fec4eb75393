"""The up plan, the stop policy and Go durations: pure decisions."""

from __future__ import annotations

import pytest

from composewatch.core.plan import Attach, Observed, Wanted, plan_attach, plan_up, render_plan
from composewatch.core.stop import choose_stop_timeout


def test_plan_adopts_starts_recreates_creates_and_cleans_leftovers_with_causes() -> None:
    want = Wanted("hash", "sha256:img")

    def seen(
        cid: str, name: str, running: bool, cfg: str = "hash", img: str = "sha256:img"
    ) -> Observed:
        return Observed(cid * 64, name, running, cfg, img)

    observed = {
        "db": [seen("d", "p-db-1", True)],
        "cache": [seen("c", "p-cache-1", False)],
        "api": [seen("a", "p-api-1", True, cfg="other")],
        "img": [seen("b", "p-img-1", True, img="sha256:older")],
        "web": [seen("1", "p-web-1", True), seen("2", "p-web-1_cw-new", True)],
        "crashed": [seen("3", "p-crashed-1_cw-new", True)],
        "twice": [seen("4", "p-twice-1", True), seen("5", "p-twice-2", False)],
    }
    services = ["db", "cache", "api", "img", "web", "crashed", "twice", "new"]
    text = render_plan(plan_up(observed, dict.fromkeys(services, want), services))
    assert text == "\n".join(
        [
            "db: adopt dddddddddddd (running with this configuration)",
            "cache: start cccccccccccc (stopped, up to date)",
            "api: recreate aaaaaaaaaaaa (its configuration changed)",
            "img: recreate bbbbbbbbbbbb (its image changed)",
            "web: adopt 111111111111 (running with this configuration)",
            "  remove 222222222222 (left by an interrupted swap)",
            "crashed: create (only the leftover of an interrupted swap was found)",
            "  remove 333333333333 (left by an interrupted swap)",
            "twice: adopt 444444444444 (running with this configuration)",
            "  remove 555555555555 (a second container (p-twice-2))",
            "new: create (no container yet)",
        ]
    )


def test_plan_goes_replica_by_replica_and_removes_those_above_the_scale() -> None:
    want = Wanted("hash", "sha256:img", replicas=3)

    def seen(cid: str, number: int, running: bool = True, cfg: str = "hash") -> Observed:
        return Observed(cid * 64, f"p-web-{number}", running, cfg, "sha256:img", number)

    observed = {
        "web": [seen("1", 1), seen("2", 2, cfg="old"), seen("4", 4), seen("5", 5, running=False)]
    }
    text = render_plan(plan_up(observed, {"web": want}, ["web"]))
    assert text == "\n".join(
        [
            "web: adopt 111111111111 (running with this configuration)",
            "  remove 444444444444 (replica 4, above the 3 wanted)",
            "  remove 555555555555 (replica 5, above the 3 wanted)",
            "web #2: recreate 222222222222 (its configuration changed)",
            "web #3: create (no container yet)",
        ]
    )


def test_attach_adopts_what_runs_as_it_is_and_never_creates() -> None:
    def seen(cid: str, number: int = 1, running: bool = True, cfg: str = "hash") -> Observed:
        return Observed(cid, f"p-s-{number}", running, cfg, "sha256:img", number)

    observed = {
        "web": [seen("w2", 2), seen("w1", 1), seen("w3", 3)],
        "old": [seen("o1", cfg="before")],
        "off": [seen("x1", running=False)],
        "gone": [Observed("g1", "p-gone-1_cw-new", True, "hash", "sha256:img")],
    }
    wanted = {
        "web": Wanted("hash", "", replicas=2),
        **{name: Wanted("hash", "") for name in ("old", "off", "gone", "new")},
    }
    assert plan_attach(observed, wanted, ["web", "old", "off", "gone", "new"]) == [
        Attach("web", ("w1", "w2"), "running with this configuration", True),
        Attach(
            "old",
            ("o1",),
            "runs an older configuration: the next save (or `composewatch up`) replaces it",
            False,
        ),
        *(
            Attach(name, (), "not running: `composewatch up` starts it", False)
            for name in ("off", "gone", "new")
        ),
    ]


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
