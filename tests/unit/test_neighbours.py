"""The rtnetlink messages the ARP refresher sends (pure), byte for byte as `ip neigh` sends
them: nlmsghdr, ndmsg, then NDA_DST and NDA_LLADDR, each padded to 4 bytes."""

from __future__ import annotations

import socket
import struct

from composewatch.engine.neighbours import Neighbour, neigh_messages

NEIGHBOUR = Neighbour("172.18.0.2", "02:42:ac:12:00:02", "br-0123456789ab")


def test_a_refresh_replaces_the_entry_as_reachable_with_its_mac() -> None:
    body = (
        struct.pack("=BBHiHBB", socket.AF_INET, 0, 0, 7, 0x02, 0, 0)  # ifindex 7, REACHABLE
        + struct.pack("=HH", 8, 1)
        + bytes([172, 18, 0, 2])  # NDA_DST
        + struct.pack("=HH", 10, 2)
        + bytes.fromhex("0242ac120002")
        + b"\0\0"  # NDA_LLADDR
    )
    header = struct.pack("=IHHII", 16 + len(body), 28, 0x1 | 0x400 | 0x100, 1, 0)
    assert len(body) == 12 + 8 + 12
    assert neigh_messages([(NEIGHBOUR, 7)]) == header + body


def test_forgetting_deletes_the_entry_by_address_only() -> None:
    body = struct.pack("=BBHiHBB", socket.AF_INET, 0, 0, 7, 0, 0, 0)
    body += struct.pack("=HH", 8, 1) + bytes([172, 18, 0, 2])
    header = struct.pack("=IHHII", 16 + len(body), 29, 0x1, 1, 0)
    assert neigh_messages([(NEIGHBOUR, 7)], forget=True) == header + body


def test_several_entries_go_in_one_send_with_their_own_sequence_numbers() -> None:
    other = Neighbour("10.0.0.9", "02:42:0a:00:00:09", "docker0")
    both = neigh_messages([(NEIGHBOUR, 7), (other, 3)])
    first_length = struct.unpack_from("=I", both)[0]
    assert struct.unpack_from("=IHHII", both, first_length)[3] == 2
    assert (
        both[first_length:]
        == neigh_messages([(other, 3)])[:8]
        + struct.pack("=I", 2)
        + (neigh_messages([(other, 3)])[12:])
    )
    assert neigh_messages([]) == b""
