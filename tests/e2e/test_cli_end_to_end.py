"""Every command through the installed CLI, on a real engine: compose's commands, explain,
doctor, schema, engines (a TCP proxy, docker contexts), background mode with `.gaze.yml`
commands on hostile file names and a `--json` log validated against the schema, and the live
view in a pty after a save."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
from clirun import sigint_default

REPO = Path(__file__).resolve().parents[2]
CLI = shutil.which("composewatch", path=str(REPO / ".venv" / "bin")) or "composewatch"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def project(
    copy_fixture: Callable[[str], Path], project_name: str, tmp_path: Path
) -> Iterator[tuple[Path, dict[str, str]]]:
    """two-services on free ports plus a `talker` that prints, and a private cache dir."""
    root = copy_fixture("two-services")
    compose = root / "compose.yaml"
    text = compose.read_text()
    text = text.replace("18001", str(free_port())).replace("18002", str(free_port()))
    text += (
        "  talker:\n    image: busybox:latest\n    init: true\n"
        "    command: [sh, -c, 'echo hello from talker; exec sleep 3600']\n"
    )
    compose.write_text(text)
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project_name,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHONUNBUFFERED": "1",
    }
    yield root, env
    subprocess.run([CLI, "unwatch"], cwd=root, env=env, capture_output=True, timeout=30)


def cw(
    root: Path, env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def test_compose_commands(project: tuple[Path, dict[str, str]], project_name: str) -> None:
    root, env = project
    assert "built" in ok(cw(root, env, "build", "web"))
    plain = ok(cw(root, env, "up", "--no-watch"))
    # Piped: plain lines, each starting with a full timestamp, never wrapped at 80 columns.
    for line in plain.splitlines():
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", line), line
    rows = [json.loads(line) for line in ok(cw(root, env, "ps", "--format", "json")).splitlines()]
    assert sorted((r["service"], r["state"]) for r in rows) == [
        ("api", "running"),
        ("talker", "running"),
        ("web", "running"),
    ]
    table = ok(cw(root, env, "ps")).splitlines()
    assert table[0].split()[:4] == ["NAME", "SERVICE", "STATE", "HEALTH"]
    assert any("web" in line and "->8080/tcp" in line and "ago)" in line for line in table)

    logs = ok(cw(root, env, "logs", "--tail", "5", "talker"))
    assert "talker-1  | hello from talker" in logs
    assert ok(cw(root, env, "restart", "talker")).strip() == f"restarted {project_name}-talker-1"
    logs = ok(cw(root, env, "logs", "talker"))
    assert logs.count("hello from talker") == 2

    unknown = cw(root, env, "logs", "nope")
    assert unknown.returncode == 2 and "no such service: nope" in unknown.stderr

    assert "stopped" in ok(cw(root, env, "stop", "talker"))
    states = {
        json.loads(line)["service"]: json.loads(line)["state"]
        for line in ok(cw(root, env, "ps", "--format", "json")).splitlines()
    }
    assert states == {"api": "running", "talker": "exited", "web": "running"}

    explained = ok(cw(root, env, "explain", "web/www/index.html"))
    assert re.search(r"web\s+in place\s+in its build context.*COPY www /www", explained)
    assert re.search(r"api\s+nothing\s+outside its build context", explained)
    assert re.search(r"talker\s+nothing\s+no build context", explained)

    (root / "web" / ".dockerignore").write_text("# comment\n*.md\n!keep.md\n")
    explained = ok(cw(root, env, "explain", "web/notes.md"))
    assert "excluded by" in explained and ".dockerignore line 2 (*.md)" in explained
    # re-included by `!keep.md`, so in the context, but no instruction copies it
    kept = ok(cw(root, env, "explain", "web/keep.md"))
    assert re.search(r"web\s+nothing\s+in its build context, but no instruction", kept)

    schema = json.loads(ok(cw(root, env, "schema")))
    assert set(schema["properties"]) >= {"quiet_ms", "services", "commands"}

    doctor = ok(cw(root, env, "doctor")).splitlines()
    names = [line.split()[1].rstrip(":") for line in doctor]
    assert names[:4] == ["engine", "buildkit", "inotify", "project"]
    assert all(line.split()[0] in ("ok", "warn") for line in doctor)
    assert "API 1." in doctor[0]

    assert ok(cw(root, env, "--version")).startswith("composewatch version ")
    for command in ("up", "ps", "logs", "build", "restart", "stop", "explain", "doctor"):
        assert "Examples:" in ok(cw(root, env, command, "--help"))
    ok(cw(root, env, "down"))
    assert ok(cw(root, env, "ps")).splitlines()[1:] == []


class DockerProxy:
    """127.0.0.1:<port> -> /var/run/docker.sock, byte for byte (a remote engine stand-in)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect("/var/run/docker.sock")
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


def test_engines_docker_host_context_and_unknown_context(
    project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, env = project
    proxy = DockerProxy()
    try:
        tcp = {**env, "DOCKER_HOST": f"tcp://127.0.0.1:{proxy.port}"}
        ok(cw(root, tcp, "up", "--no-watch", "web"))  # health probed at the engine's host
        assert proxy.connections > 0
        doctor = ok(cw(root, tcp, "doctor"))
        assert f"at tcp://127.0.0.1:{proxy.port} (context default, from DOCKER_HOST)" in doctor
        assert "arp refresh: skipped: a remote engine" in doctor

        config = tmp_path / "docker-config"
        meta = config / "contexts" / "meta" / hashlib.sha256(b"proxy").hexdigest()
        meta.mkdir(parents=True)
        (meta / "meta.json").write_text(
            json.dumps(
                {
                    "Name": "proxy",
                    "Metadata": {},
                    "Endpoints": {"docker": {"Host": f"tcp://127.0.0.1:{proxy.port}"}},
                }
            )
        )
        (config / "config.json").write_text(json.dumps({"currentContext": "proxy"}))
        used = {**env, "DOCKER_CONFIG": str(config)}
        before = proxy.connections
        assert "web" in ok(cw(root, used, "ps"))
        assert proxy.connections > before  # `docker context use proxy` was followed

        gone = cw(root, {**used, "DOCKER_CONTEXT": "gone"}, "ps")
        assert gone.returncode == 2
        assert "docker context 'gone' (from DOCKER_CONTEXT) does not exist" in gone.stderr
        assert "Traceback" not in gone.stderr
    finally:
        proxy.close()
        cw(root, env, "down")


HOSTILE = ["a;touch pwned.txt", 'a"b$(id)']
GAZE = """\
commands:
  - re: ^a
    cmd: printf '%s\\n' "{{file}}" >> seen.log
  - ext: .fail
    cmd: echo failing on purpose; exit 7
"""


def test_background_mode_gaze_commands_and_json_schema(
    project: tuple[Path, dict[str, str]], project_name: str, tmp_path: Path
) -> None:
    root, env = project
    (root / ".gaze.yml").write_text(GAZE)
    started = time.monotonic()
    out = cw(root, env, "up", "-d", "web", timeout=300)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "watching in the background" in out.stderr
    assert time.monotonic() - started < 240
    status = ok(cw(root, env, "status"))
    assert re.search(r"pid \d+, in the background, since", status)
    second = cw(root, env, "up")
    assert second.returncode == 1 and "already runs for project" in second.stderr

    for name in HOSTILE:
        (root / name).write_text("x")
    (root / "x.fail").write_text("x")
    seen = root / "seen.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if seen.exists() and len(seen.read_text().splitlines()) >= 2:
            break
        time.sleep(0.1)
    assert sorted(seen.read_text().splitlines()) == sorted(HOSTILE)
    assert not (root / "pwned.txt").exists()

    # `watch` attaches to the detached watcher and shows what it does on the next save.
    attached = subprocess.Popen(
        [CLI, "watch"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,
    )
    try:
        time.sleep(1)  # attached, reading the end of the watcher's log
        (root / "web" / "www" / "index.html").write_text("changed\n")
        assert read_line(attached, r"web live \d+\.\d\d s after the save", 120)
    finally:
        attached.send_signal(signal.SIGINT)
        attached.wait(timeout=10)

    log = tmp_path / "cache" / "composewatch" / "watchers" / f"{project_name}.log"
    deadline = time.monotonic() + 10
    while "failing on purpose" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    ok(cw(root, env, "unwatch"))
    assert cw(root, env, "status").returncode == 1

    schema = json.loads((REPO / "docs" / "events.schema.json").read_text())
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    for record in records:
        jsonschema.validate(record, schema)
    kinds = {r["type"] for r in records}
    assert {"ServiceStarted", "Watching", "CommandFinished"} <= kinds
    failed = [r for r in records if r["type"] == "CommandFinished" and r["exit_code"]]
    assert [(r["file"], r["exit_code"], r["output"].strip()) for r in failed] == [
        ("x.fail", 7, "failing on purpose")
    ]
    ok(cw(root, env, "down"))


def read_line(proc: subprocess.Popen[str], pattern: str, timeout_s: float) -> str:
    """The first line of the process's output matching `pattern` (AssertionError if none)."""
    assert proc.stdout is not None
    found: list[str] = []
    seen: list[str] = []

    def scan() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if re.search(pattern, line):
                found.append(line)
                return

    reader = threading.Thread(target=scan, daemon=True)
    reader.start()
    reader.join(timeout_s)
    assert found, f"no {pattern!r} within {timeout_s} s:\n{''.join(seen)[-3000:]}"
    return found[0]


def test_up_logs_interleaves_container_output(
    project: tuple[Path, dict[str, str]], project_name: str
) -> None:
    root, env = project
    proc = subprocess.Popen(
        [CLI, "up", "--logs", "talker"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,
    )
    try:
        line = read_line(proc, r"talker-1 +\| hello from talker", 120)
        assert line.startswith("talker-1  | ")  # compose's prefix, no project name
        read_line(proc, r"^\d{4}-\d\d-\d\dT.* watching ", 60)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        cw(root, env, "down")


def test_logs_follow_the_container_a_save_swaps_in(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    talker = root / "talker"
    talker.mkdir()
    (talker / "msg").write_text("first\n")
    (talker / "Dockerfile").write_text(
        'FROM busybox:latest\nCOPY msg /msg\nCMD ["sh", "-c", "cat /msg; exec sleep 3600"]\n'
    )
    compose = root / "compose.yaml"
    text = compose.read_text().replace("    image: busybox:latest\n", "    build: ./talker\n")
    compose.write_text(
        text.replace("'echo hello from talker; exec sleep 3600'", "'cat /msg; exec sleep 3600'")
    )
    ok(cw(root, env, "up", "-d", "talker", timeout=300))
    follower = subprocess.Popen(
        [CLI, "logs", "-f", "talker"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,
    )
    try:
        assert read_line(follower, r"^talker-1  \| first$", 30)
        (talker / "msg").write_text("second\n")
        assert read_line(follower, r"^talker-1  \| second$", 120)
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(timeout=10)
        cw(root, env, "down")


def test_live_view_in_a_pty_after_a_save(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    pid, fd = pty.fork()
    if pid == 0:  # the child: composewatch on a terminal
        sigint_default()
        os.chdir(root)
        os.execvpe(CLI, [CLI, "up", "web"], {**env, "COLUMNS": "160", "LINES": "40"})
    screen = ""

    def read_until(pattern: str, timeout_s: float) -> str:
        nonlocal screen
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    screen += os.read(fd, 65536).decode(errors="replace")
                except OSError:
                    break
                plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
                if re.search(pattern, plain):
                    return plain
        raise AssertionError(f"no {pattern!r} on screen:\n{screen[-3000:]}")

    try:
        read_until(r"watching .* \(Ctrl-C stops watching\)", 240)
        read_until(r"web\s+healthy", 10)
        (root / "web" / "www" / "index.html").write_text("changed\n")
        # COPY www /www and nothing after it: updated in place (the phases show the restart)
        plain = read_until(r"web\s+healthy\s+\d+\.\d\d s\s+.*restart", 120)
        assert "SERVICE" in plain and "SAVE→LIVE" in plain
    finally:
        os.kill(pid, signal.SIGINT)
        os.waitpid(pid, 0)
        os.close(fd)
        cw(root, env, "down")


def test_watch_without_a_watcher_attaches_to_what_runs_and_recreates_nothing(
    project: tuple[Path, dict[str, str]], project_name: str
) -> None:
    root, env = project
    started = time.monotonic()
    nothing = cw(root, env, "watch")
    assert nothing.returncode == 1, (nothing.stdout, nothing.stderr)
    assert f"nothing of project {project_name} runs" in nothing.stderr
    assert "Traceback" not in nothing.stderr and time.monotonic() - started < 10

    ok(cw(root, env, "up", "--no-watch"))

    def ids() -> dict[str, str]:
        rows = ok(cw(root, env, "ps", "--format", "json")).splitlines()
        return {json.loads(r)["service"]: json.loads(r)["id"] for r in rows}

    before = ids()
    # The compose file now says something else for talker: `up` would recreate it, `watch`
    # only says so.
    compose = root / "compose.yaml"
    compose.write_text(compose.read_text().replace("    init: true\n", "    init: false\n"))
    proc = subprocess.Popen(
        [CLI, "watch"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,
    )
    try:
        read_line(proc, r"talker: runs an older configuration", 60)
        read_line(proc, r" watching ", 60)
        assert ids() == before  # attached: nothing built, created or recreated
        (root / "web" / "www" / "index.html").write_text("attached\n")
        read_line(proc, r"web live \d+\.\d\d s after the save \(in place: ", 120)
        assert ids() == before  # updated in place: the same containers
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        cw(root, env, "down")


def test_ctrl_c_stops_up_watch_and_logs_follow_with_130_even_with_sigint_ignored(
    tmp_path: Path, project_name: str
) -> None:
    """One rule for the commands that run until stopped: each one was started with SIGINT
    ignored (as a shell starts a script's background job), and Ctrl-C stops it with 130."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "compose.yaml").write_text(
        "services:\n  talker:\n    image: busybox:latest\n    init: true\n"
        "    command: [sh, -c, 'echo hello from talker; exec sleep 3600']\n"
    )
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project_name,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHONUNBUFFERED": "1",
    }

    def started(*args: str, ready: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [CLI, *args],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        read_line(proc, ready, 120)
        return proc

    def code_after_ctrl_c(proc: subprocess.Popen[str]) -> int:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=20)
        finally:
            proc.kill()

    try:
        assert code_after_ctrl_c(started("up", ready=r" watching ")) == 130
        assert code_after_ctrl_c(started("watch", ready=r" watching ")) == 130
        assert code_after_ctrl_c(started("logs", "-f", ready=r"hello from talker")) == 130
    finally:
        cw(root, env, "down")
