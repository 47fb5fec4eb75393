"""CPU time and memory of a watcher's process tree, from /proc (Linux only)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IdleUsage", "measure_idle", "process_tree"]

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return raw[raw.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def process_tree(roots: Iterable[int]) -> list[int]:
    """The roots and all their descendants that are alive now."""
    children = _children()
    seen: list[int] = []
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen or not Path(f"/proc/{pid}").exists():
            continue
        seen.append(pid)
        stack.extend(children.get(pid, []))
    return seen


def _cpu_s(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # utime and stime are fields 14 and 15 of /proc/PID/stat; fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class IdleUsage:
    seconds: float
    cpu_percent: float  # of one core, summed over the tree
    rss_mib: float  # largest summed VmRSS seen during the window
    hwm_mib: float  # summed VmHWM (each live process's lifetime peak) at the end
    processes: int


def measure_idle(roots: Iterable[int], seconds: float = 10.0, every_s: float = 0.5) -> IdleUsage:
    roots = list(roots)
    pids = process_tree(roots)
    cpu0 = {pid: _cpu_s(pid) for pid in pids}
    t0 = time.monotonic()
    peak_rss = 0
    while True:
        peak_rss = max(peak_rss, sum(_status_kib(p, "VmRSS") for p in process_tree(roots)))
        if time.monotonic() - t0 >= seconds:
            break
        time.sleep(every_s)
    pids_end = process_tree(roots)
    elapsed = time.monotonic() - t0
    # A child born during the window counts from zero; one that died is lost (rare when idle).
    used = sum(_cpu_s(p) - cpu0.get(p, 0.0) for p in pids_end)
    hwm = sum(_status_kib(p, "VmHWM") for p in pids_end)
    return IdleUsage(
        seconds=elapsed,
        cpu_percent=100.0 * used / elapsed,
        rss_mib=peak_rss / 1024,
        hwm_mib=hwm / 1024,
        processes=len(pids_end),
    )
