"""Save-to-served measurement: HTTP polling on loopback, and the pure statistics over it."""

from __future__ import annotations

import http.client
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "Sample",
    "SaveResult",
    "Summary",
    "longest_failure",
    "percentile",
    "poll",
    "summarize",
]


@dataclass(frozen=True)
class Sample:
    """One request: when it was sent (monotonic s), whether it failed, whether it had the marker.

    Failed means no HTTP answer (refused, reset, timeout) or a 5xx.
    """

    t: float
    failed: bool
    marked: bool = False


@dataclass
class SaveResult:
    latency_s: float | None  # None: the marker was never served before the deadline
    samples: list[Sample] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for s in self.samples if s.failed)

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
    interval_s: float = 0.005,
    timeout_s: float = 1.0,
    max_requests: int = 20_000,
    settle_s: float = 1.5,
    settle_interval_s: float = 0.02,
    idle: Callable[[], bool] = lambda: True,
) -> SaveResult:
    """Poll `url` until a response carries `marker`; then keep watching for `settle_s`
    (and until `idle()` says the tool is done) so failures after the first answer count too.

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
        answer = _request(host, port, path, timeout_s)
        done = time.monotonic()
        failed = answer is None or answer[0] >= 500
        marked = answer is not None and not failed and needle in answer[1]
        result.samples.append(Sample(now, failed, marked))
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
    )
