"""What each layer of composewatch's imports costs in memory and time (issue 15 points 8, 9).

Each group is imported in order in one fresh interpreter; the line gives what that group
added: RSS (anonymous and file-backed pages, from /proc/self/status), modules, and seconds.
The watcher's idle RSS is mostly this: after `up`, almost nothing but imported code is held.

    python -m bench.importcost            # the groups below
    python -m bench.importcost yaml rich  # these, in this order

Run it with the byte-code caches written (`python -m compileall composewatch`), as an
installed package has them; without them every start compiles the package again.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

__all__ = ["GROUPS", "main"]

#: The third-party layers first (each pulls its own dependencies), then composewatch's.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("asyncio (+ssl, concurrent)", ("asyncio",)),
    ("docker-py (+requests, urllib3, charset_normalizer, idna)", ("docker",)),
    ("pydantic (import)", ("pydantic",)),
    ("compose model (pydantic schema building)", ("composewatch.compose.model",)),
    ("compose loader (+yaml, dotenv, re2)", ("composewatch.compose.loader",)),
    ("settings", ("composewatch.config",)),
    ("typer (+click)", ("typer",)),
    ("rich console (on a terminal only)", ("rich.console", "rich.text")),
    ("watchfiles (+anyio)", ("watchfiles",)),
    ("core state machine", ("composewatch.core.state",)),
    (
        "engine, build, session (+h2)",
        ("composewatch.engine.builder", "composewatch.engine.containers"),
    ),
    ("the rest of app + cli", ("composewatch.app", "composewatch.cli")),
)


def _status_kib() -> dict[str, int]:
    with open("/proc/self/status") as status:
        rows = [line.split() for line in status]
    return {row[0].rstrip(":"): int(row[1]) for row in rows if row and row[0] in _KEYS}


_KEYS = ("VmRSS:", "RssAnon:", "RssFile:")


def _measure(groups: list[tuple[str, tuple[str, ...]]]) -> None:
    import time

    before, modules = _status_kib(), len(sys.modules)
    print(f"{'python itself':58} {before['VmRSS'] / 1024:6.1f} MiB")
    for label, names in groups:
        started = time.perf_counter()
        for name in names:
            importlib.import_module(name)
        took = time.perf_counter() - started
        now = _status_kib()
        added = {key: (now[key] - before[key]) / 1024 for key in now}
        print(
            f"{label:58} +{added['VmRSS']:5.1f} MiB (anon {added['RssAnon']:4.1f}, "
            f"file {added['RssFile']:4.1f})  +{len(sys.modules) - modules:3} modules  "
            f"{took:5.3f} s"
        )
        before, modules = now, len(sys.modules)
    print(f"{'total':58} {before['VmRSS'] / 1024:6.1f} MiB, {modules} modules")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--here":  # the child: measure in this interpreter
        names = args[1:]
        _measure([(n, (n,)) for n in names] if names else list(GROUPS))
        return
    # A fresh interpreter, so that nothing this process imported counts.
    subprocess.run([sys.executable, "-m", "bench.importcost", "--here", *args], check=True)


if __name__ == "__main__":
    main()
