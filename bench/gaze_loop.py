"""Stand-in for the seed's gaze loop (`gaze` is not installed here): on every batch of changes
under a directory, run `docker-compose up --build -d`.

    python -m bench.gaze_loop DIR -- COMPOSE_BINARY -p NAME -f FILE

Prints `ready` once the watches are armed, `run` before and `done RC` after each compose run.
"""

from __future__ import annotations

import subprocess
import sys

from watchfiles import watch


def main(argv: list[str]) -> int:
    directory, sep, *compose = argv
    if sep != "--" or not compose:
        print(__doc__, file=sys.stderr)
        return 2
    # watch() arms its OS watches on its first step, right after this line: the bench waits
    # a moment after `ready` before the first save.
    print("ready", flush=True)
    for _changes in watch(directory, debounce=100, step=50):
        print("run", flush=True)
        # compose's own output goes to stderr, so stdout carries only these status lines.
        rc = subprocess.run([*compose, "up", "--build", "-d"], stdout=sys.stderr).returncode
        print(f"done {rc}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
