"""The `ip -batch` lines the ARP refresher writes (pure)."""

from __future__ import annotations

from composewatch.engine.neighbours import Neighbour, render_batch

NEIGHBOUR = Neighbour("172.18.0.2", "02:42:ac:12:00:02", "br-0123456789ab")


def test_render_batch_sets_each_neighbour_reachable() -> None:
    assert render_batch([NEIGHBOUR]) == (
        "neigh replace 172.18.0.2 lladdr 02:42:ac:12:00:02 dev br-0123456789ab nud reachable\n"
    )


def test_render_batch_forgets_a_stopped_containers_entries() -> None:
    assert render_batch([NEIGHBOUR], forget=True) == "neigh del 172.18.0.2 dev br-0123456789ab\n"
    assert render_batch([]) == ""
