"""Commands on save, for people coming from gaze: `.gaze.yml` and the runner.

`load_gaze_rules` reads a `.gaze.yml` beside the compose file, in gaze's own format
(`commands: [{ext, re, cmd}]`, or the older top-level list with `run:`), so a file written for
gaze works unchanged. `CommandRunner` runs the commands a batch of saves chose
(core.commands.choose_commands), one at a time, off the watcher's path: on the host in the
project directory, or inside a service's serving container. Each result is a
CommandFinished event; a failing command is reported, never fatal.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from composewatch import events as ev
from composewatch.compose.textfile import read_input
from composewatch.compose.yamlload import parse_documents
from composewatch.config import CommandSettings
from composewatch.core.commands import CommandRule, RenderedCommand, choose_commands
from composewatch.errors import ConfigError, InputError
from composewatch.mapping import is_noise

__all__ = ["GAZE_FILE", "CommandRunner", "load_gaze_rules", "parse_gaze_file"]

GAZE_FILE = ".gaze.yml"
_OUTPUT_LIMIT = 4000  # characters of a command's output kept for the event


class _GazeFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    commands: tuple[CommandSettings, ...] = ()
    # gaze's own output format (`gaze -y` writes it); composewatch shows results its way
    log: Any = None


def parse_gaze_file(text: str, *, file: str) -> list[CommandRule]:
    """Pure: gaze's configuration as command rules. Read by the compose files' YAML reader,
    with its limits (nesting, nodes, aliases, 64-bit integers); an InputError names the file
    and the line or entry."""
    documents = parse_documents(text, file)
    raw = documents[0] if documents else None  # gaze (go-yaml) reads the first document
    if isinstance(raw, list):  # gaze's first format: a bare list of {ext, re, run}
        raw = {"commands": raw}
    try:
        parsed = _GazeFile.model_validate(raw if raw is not None else {})
    except ValidationError as err:
        first = err.errors()[0]
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key (gaze's keys: commands, with ext, re, cmd or run)"
        raise ConfigError(f"{file}: {key.lstrip('.') or 'the file'}: {message}") from None
    return [c.rule(f"{file}: commands[{i}]") for i, c in enumerate(parsed.commands)]


def load_gaze_rules(project_dir: Path) -> list[CommandRule]:
    """The rules of the project's `.gaze.yml`, read as compose files are: a regular file
    (never a FIFO or a device), at most MAX_INPUT_BYTES, UTF-8."""
    path = project_dir / GAZE_FILE
    if not path.exists() and not path.is_symlink():
        return []
    return parse_gaze_file(read_input(path), file=str(path))


# (service, argv, timeout_s): the argv is `sh -c SCRIPT sh VALUE…`, run as is, never re-joined
ExecIn = Callable[[str, list[str], float], tuple[int, str]]


class CommandRunner:
    """Runs the commands for each batch of saves, in order, in one worker thread.

    `load_rules` is called at start and again when a batch holds one of `config_files` (the
    `.gaze.yml`, the compose files), so an edited command applies from the next save; a
    broken edit is reported and the previous rules stay.
    """

    def __init__(
        self,
        load_rules: Callable[[], list[CommandRule]],
        project_dir: Path,
        report: Callable[[ev.Event], None],
        exec_in: ExecIn | None = None,
        config_files: Iterable[Path] = (),
    ) -> None:
        self.load_rules = load_rules
        self.rules = load_rules()
        self.project_dir = project_dir
        self.report = report
        self.exec_in = exec_in
        self.config_files = frozenset({project_dir / GAZE_FILE, *config_files})
        self._queue: queue.Queue[frozenset[Path]] = queue.Queue()
        self._worker: threading.Thread | None = None

    def submit(self, paths: frozenset[Path]) -> None:
        """Queue a batch of saved files (returns at once)."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, daemon=True)
            self._worker.start()
        self._queue.put(paths)

    def _work(self) -> None:
        while True:
            paths = self._queue.get()
            try:
                self.run_batch(paths)
            except Exception as err:  # the worker outlives any one batch
                self.report(ev.Note(f"commands on save failed: {err}", "warning"))

    def run_batch(self, paths: Iterable[Path]) -> list[ev.CommandFinished]:
        paths = sorted(paths)
        if self.config_files.intersection(paths):
            try:
                self.rules = self.load_rules()
            except InputError as err:
                self.report(ev.Note(f"commands on save not changed: {err}", "warning"))
        files = []
        for path in paths:
            if is_noise(path) or not path.is_relative_to(self.project_dir):
                continue
            if path.exists() and not path.is_file():
                continue
            files.append((path.relative_to(self.project_dir).as_posix(), str(path)))
        results = []
        for rule, relative, command in choose_commands(self.rules, files):
            result = self.run_one(rule, relative, command)
            self.report(result)
            results.append(result)
        return results

    def run_one(
        self, rule: CommandRule, relative: str, command: RenderedCommand
    ) -> ev.CommandFinished:
        started = time.monotonic()
        timeout_s = rule.timeout_s
        try:
            if rule.service is None:
                done = subprocess.run(
                    command.argv(),  # the file's values as parameters, never as shell text
                    cwd=self.project_dir,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=timeout_s,
                )
                code = done.returncode
                output = (done.stdout + done.stderr).decode(errors="replace")
            elif self.exec_in is None:
                code, output = 127, f"no engine to run the command in {rule.service}"
            else:
                code, output = self.exec_in(rule.service, command.argv(utf8_only=True), timeout_s)
        except subprocess.TimeoutExpired:
            code, output = 124, f"killed after {timeout_s:g} s"
        except Exception as err:  # a command failing must never stop the watcher
            code, output = 125, str(err)
        return ev.CommandFinished(
            rule.service,
            rule.pattern,
            os.fsencode(relative).decode("utf-8", "backslashreplace"),
            command.shown,
            code,
            output[-_OUTPUT_LIMIT:],
            time.monotonic() - started,
        )
