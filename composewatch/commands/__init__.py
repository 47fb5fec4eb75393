"""The CLI's commands, one module per group; `composewatch.cli` registers them in help order.

Each command imports what it needs when it runs, so `composewatch ps` does not load the
watcher, and `composewatch --help` loads neither.
"""
