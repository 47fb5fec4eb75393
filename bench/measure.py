"""Save-to-served measurement: HTTP polling on loopback, and the pure statistics over it."""

from __future__ import annotations

import http.client
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "STALL_S",
    "Sample",
    "SaveResult",
    "Summary",
    "gated_time",
    "longest_failure",
    "percentile",
    "poll",
    "summarize",
]


STALL_S = 0.9  # a request this slow waited for an ARP retry (1 s), or the timeout


@dataclass(frozen=True)
class Sample:
    """One request: when it was sent (monotonic s), whether it failed, whether it had the marker.

    Failed means no HTTP answer (refused, reset, timeout) or a 5xx. A gated sample is no
    request: it marks when the gate closed (nothing serves then, see `bench.gate`), so the
    gated time counts as unserved.
    """

    t: float
    failed: bool
    marked: bool = False
    gated: bool = False
    took_s: float = 0.0  # from sending to the answer (or the failure)


@dataclass
class SaveResult:
    latency_s: float | None  # None: the marker was never served before the deadline
    samples: list[Sample] = field(default_factory=list)
    milestones: dict[str, float] = field(default_factory=dict)  # bench.timeline, from the save
    steps: list[tuple[str, float]] = field(default_factory=list)  # the tool's own, if it says

    @property
    def failed(self) -> int:
        """Requests that got no answer (gated time sends none)."""
        return sum(1 for s in self.samples if s.failed and not s.gated)

    @property
    def stalls(self) -> int:
        """Requests that took about a second or more: the ARP retry's signature (`bench.gate`).
        The gated poller should see none."""
        return sum(1 for s in self.samples if not s.gated and s.took_s >= STALL_S)

    @property
    def gated_s(self) -> float:
        """How long the gate kept the poller from connecting."""
        return gated_time(self.samples)

    @property
    def gap_s(self) -> float:
        return longest_failure(self.samples)


def _request(host: str, port: int, path: str, timeout_s: float) -> tuple[int, bytes] | None:
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def poll(
    url: str,
    marker: str,
    *,
    start: float,
    deadline_s: float = 60.0,
    interval_s: float = 0.02,
    timeout_s: float = 1.0,
    max_requests: int = 20_000,
    settle_s: float = 1.5,
    settle_interval_s: float = 0.02,
    idle: Callable[[], bool] = lambda: True,
    gate: Callable[[], bool] = lambda: True,
    gate_interval_s: float = 0.001,
    request: Callable[[str, int, str, float], tuple[int, bytes] | None] = _request,
) -> SaveResult:
    """Poll `url` until a response carries `marker`; then keep watching for `settle_s`
    (and until `idle()` says the tool is done) so failures after the first answer count too.
    No request is sent while `gate()` is False (see `bench.gate`).

    `start` is the monotonic time taken just before the save was written.
    """
    parts = urlsplit(url)
    if parts.hostname != "127.0.0.1":
        raise ValueError(f"{url}: the bench only sends traffic to 127.0.0.1")
    host, port, path = parts.hostname, parts.port or 80, parts.path or "/"
    needle = marker.encode()
    result = SaveResult(latency_s=None)
    served_at: float | None = None
    end = start + deadline_s
    while len(result.samples) < max_requests:
        now = time.monotonic()
        if served_at is None and now > end:
            break
        if served_at is not None and now > served_at + settle_s and (idle() or now > end):
            break
        if not gate():
            if not (result.samples and result.samples[-1].gated):
                result.samples.append(Sample(now, failed=True, gated=True))
            time.sleep(gate_interval_s)
            continue
        answer = request(host, port, path, timeout_s)
        done = time.monotonic()
        failed = answer is None or answer[0] >= 500
        marked = answer is not None and not failed and needle in answer[1]
        result.samples.append(Sample(now, failed, marked, took_s=done - now))
        if marked and served_at is None:
            served_at = done
            result.latency_s = done - start
        time.sleep(interval_s if served_at is None else settle_interval_s)
    return result


def longest_failure(samples: Sequence[Sample]) -> float:
    """The longest unserved stretch: from the first failed request of a run of failures to
    the next request that got an answer (or to the last failure when none did)."""
    longest = 0.0
    run_start: float | None = None
    last = 0.0
    for sample in samples:
        if sample.failed:
            if run_start is None:
                run_start = sample.t
            last = sample.t
        elif run_start is not None:
            longest = max(longest, sample.t - run_start)
            run_start = None
    if run_start is not None:
        longest = max(longest, last - run_start)
    return longest


def gated_time(samples: Sequence[Sample]) -> float:
    """The time from each gate marker to the next request."""
    total = 0.0
    for sample, following in itertools.pairwise(samples):
        if sample.gated:
            total += following.t - sample.t
    return total


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100] (numpy's default method)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    n: int  # saves attempted
    served: int  # saves whose marker was served before the deadline
    median_s: float
    p90_s: float
    max_s: float
    failed_requests: int
    max_gap_s: float
    median_gap_s: float = math.nan  # the unserved gap of a typical swap
    stalls: int = 0  # requests that took >= STALL_S


def summarize(results: Sequence[SaveResult]) -> Summary:
    latencies = [r.latency_s for r in results if r.latency_s is not None]
    return Summary(
        n=len(results),
        served=len(latencies),
        median_s=percentile(latencies, 50),
        p90_s=percentile(latencies, 90),
        max_s=max(latencies, default=math.nan),
        failed_requests=sum(r.failed for r in results),
        max_gap_s=max((r.gap_s for r in results), default=0.0),
        median_gap_s=percentile([r.gap_s for r in results], 50),
        stalls=sum(r.stalls for r in results),
    )
