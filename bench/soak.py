"""Soak: does the watcher's memory grow over many saves?

A busybox service with two develop.watch rules: `www/` is synced (a save goes watcher →
mapping → state → Docker copy, fast), the Dockerfile rebuilds (a save goes through a build,
a swap and a health probe). The bench makes `--syncs` synced saves and `--rebuilds` rebuild
saves and samples the watcher's RSS as it goes.

    python -m bench.soak [--syncs 1000] [--rebuilds 50]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.scale import COMPOSEWATCH, DOCKERFILE, Watcher, free_port


def make_project(root: Path) -> None:
    (root / "app" / "www").mkdir(parents=True)
    (root / "app" / "www" / "index.html").write_text("v0")
    (root / "app" / "Dockerfile").write_text(DOCKERFILE)
    (root / "compose.yaml").write_text(
        "services:\n"
        "  app:\n"
        "    build: ./app\n"
        f'    ports: ["127.0.0.1:{free_port()}:8080"]\n'
        "    develop:\n"
        "      watch:\n"
        "        - {path: ./app/www, action: sync, target: /www}\n"
        "        - {path: ./app/Dockerfile, action: rebuild}\n"
    )


def wait_live(watcher: Watcher, count: int) -> None:
    watcher.wait_for("Live", count=count, timeout_s=60)


def run(syncs: int, rebuilds: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="cw-soak-"))
    project = f"cwsoak{int(time.time())}"
    samples: list[tuple[int, float]] = []
    try:
        make_project(root)
        watcher = Watcher(root, project)
        try:
            watcher.wait_for("Watching")
            lives = 0
            for n in range(1, syncs + 1):
                (root / "app" / "www" / "index.html").write_text(f"sync {n}")
                lives += 1
                wait_live(watcher, lives)
                if n % 100 == 0:
                    samples.append((n, round(rss_now(watcher), 1)))
            for n in range(1, rebuilds + 1):
                (root / "app" / "Dockerfile").write_text(DOCKERFILE + f"LABEL soak={n}\n")
                lives += 1
                wait_live(watcher, lives)
            samples.append((syncs + rebuilds, round(rss_now(watcher), 1)))
        finally:
            watcher.stop()
    finally:
        subprocess.run([*COMPOSEWATCH, "-p", project, "down"], cwd=root, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    first = samples[1][1] if len(samples) > 1 else samples[0][1]  # after warm-up
    return {
        "syncs": syncs,
        "rebuilds": rebuilds,
        "rss_mib_by_save": samples,
        "growth_after_warmup_mib": round(samples[-1][1] - first, 1),
    }


def rss_now(watcher: Watcher) -> float:
    status = Path(f"/proc/{watcher.proc.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--syncs", type=int, default=1000)
    parser.add_argument("--rebuilds", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(run(args.syncs, args.rebuilds), indent=2))


if __name__ == "__main__":
    main()
