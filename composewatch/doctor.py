"""`doctor`: is this machine ready for composewatch? One line per check: ok, warn or fail,
and what to do.

The judgements (`judge_*`) are pure and tested by table; `run_checks` gathers the facts (the
engine, /proc, the file system, a bind attempt per published port) and calls them.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from composewatch.compose.model import LoadedProject
from composewatch.config import Settings
from composewatch.engine.buildcontext import load_dockerfile_text
from composewatch.engine.context import Endpoint, load_endpoint
from composewatch.engine.neighbours import can_refresh
from composewatch.engine.survey import EngineSurvey
from composewatch.errors import EngineContextError
from composewatch.health import ProbeKind, ProbePlan, ProbeRoute, choose_probe
from composewatch.mapping import is_noise, load_watch_targets, watch_roots

__all__ = [
    "Check",
    "judge_api",
    "judge_inotify",
    "judge_probes",
    "parse_base_images",
    "published_ports",
    "run_checks",
]

Level = Literal["ok", "warn", "fail"]
BUILDKIT_MIN_API = (1, 39)


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    detail: str


def judge_api(api_version: str, engine_version: str, endpoint: Endpoint) -> list[Check]:
    major, minor = (int(p) for p in api_version.split(".")[:2])
    where = f"{endpoint.host} (context {endpoint.context}, from {endpoint.source})"
    checks = [
        Check("engine", "ok", f"Docker Engine {engine_version}, API {api_version}, at {where}")
    ]
    if (major, minor) >= BUILDKIT_MIN_API:
        checks.append(Check("buildkit", "ok", f"API {api_version} >= 1.39: BuildKit builds"))
    else:
        checks.append(
            Check(
                "buildkit",
                "warn",
                f"API {api_version} < 1.39: the classic builder only; "
                "upgrade Docker Engine to 18.09 or later for BuildKit",
            )
        )
    return checks


def judge_inotify(limit: int | None, directories: int) -> Check:
    if limit is None:
        return Check("inotify", "ok", f"{directories} directories to watch (no inotify limit here)")
    fix = (
        f"raise it: `sudo sysctl fs.inotify.max_user_watches={max(524288, directories * 2)}` "
        "(and in /etc/sysctl.conf), or add large folders to .dockerignore"
    )
    if directories > limit:
        return Check(
            "inotify",
            "fail",
            f"{directories} directories to watch, limit {limit}: saves would be missed; {fix}",
        )
    if directories > limit * 0.5:
        return Check(
            "inotify",
            "warn",
            f"{directories} directories to watch, limit {limit} "
            f"(shared with every other watcher on this machine); {fix}",
        )
    return Check("inotify", "ok", f"{directories} directories to watch, limit {limit}")


_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)


def judge_probes(plans: Mapping[str, ProbePlan], probe_host: str) -> Check:
    """Pure: how each service's health will be probed, by route (no probe is run)."""
    http = {name: plan for name, plan in plans.items() if plan.kind is ProbeKind.HTTP}
    here = sorted(n for n, p in http.items() if p.route is ProbeRoute.HOST)
    inside = sorted(n for n, p in http.items() if p.route is ProbeRoute.ENGINE)
    other = sorted(set(plans) - set(http))
    parts = []
    if here:
        where = f"at {probe_host}" if any(not http[n].url for n in here) else "at its url"
        if any(http[n].fallback for n in here):
            where += ", through the engine if that host does not answer"
        parts.append(f"HTTP from here ({where}): {', '.join(here)}")
    if inside:
        parts.append(f"HTTP inside the container, through the engine: {', '.join(inside)}")
    if other:
        parts.append(f"HEALTHCHECK or running: {', '.join(other)}")
    return Check("health probes", "ok", "; ".join(parts) or "no services")


def parse_base_images(dockerfile: str) -> list[str]:
    """Pure: the images a Dockerfile starts from, without its own stages, scratch, or
    references that need a build argument to resolve."""
    stages: set[str] = set()
    images: list[str] = []
    for match in _FROM.finditer(dockerfile):
        image, stage = match.group(1), match.group(2)
        if image.lower() not in stages and image != "scratch" and "$" not in image:
            images.append(image)
        if stage:
            stages.add(stage.lower())
    return list(dict.fromkeys(images))


def published_ports(loaded: LoadedProject) -> list[tuple[str, str, int]]:
    """Pure: (service, host ip, host port) for each fixed published TCP port."""
    found = []
    for name, service in loaded.project.services.items():
        for port in service.ports or ():
            if not port.published or (port.protocol or "tcp") != "tcp":
                continue
            first, _, last = port.published.partition("-")
            if not first.isdigit():
                continue
            for number in range(int(first), int(last or first) + 1):
                if number:
                    found.append((name, port.host_ip or "0.0.0.0", number))
    return found


def run_checks(loaded: LoadedProject, settings: Settings) -> list[Check]:
    checks: list[Check] = []
    try:
        endpoint = load_endpoint()
    except EngineContextError as err:
        return [Check("engine", "fail", str(err))]
    survey: EngineSurvey | None = None
    try:
        survey = EngineSurvey(endpoint)
        checks += judge_api(survey.facts.api_version, survey.facts.version, endpoint)
    except Exception as err:  # whatever stops us reaching the engine is the finding
        checks.append(
            Check(
                "engine",
                "fail",
                f"no engine answers at {endpoint.host}: {err}; "
                "start Docker, or check DOCKER_HOST / `docker context ls`",
            )
        )
        survey = None
    checks.append(_inotify(loaded, settings))
    checks.append(_symlinked_root(loaded))
    if survey is not None:
        checks += _base_images(survey, loaded)
        checks += _ports(survey, loaded, endpoint)
    plans = {
        name: choose_probe(service, settings.for_service(name).health, remote=not endpoint.local)
        for name, service in loaded.project.services.items()
    }
    checks.append(judge_probes(plans, endpoint.probe_host))
    checks.append(_arp(endpoint))
    return checks


def _inotify(loaded: LoadedProject, settings: Settings) -> Check:
    targets = [t for t in load_watch_targets(loaded) if settings.for_service(t.service).watch]
    directories = sum(_count_dirs(root) for root in watch_roots(targets))
    try:
        limit: int | None = int(Path("/proc/sys/fs/inotify/max_user_watches").read_text())
    except (OSError, ValueError):
        limit = None
    return judge_inotify(limit, directories)


def _count_dirs(root: Path) -> int:
    count = 0
    for current, dirs, _ in os.walk(root):
        dirs[:] = [d for d in dirs if not is_noise(Path(current, d))]
        count += 1
    return count


def _symlinked_root(loaded: LoadedProject) -> Check:
    root = Path(loaded.working_dir)
    real = root.resolve()
    if real != root.absolute():
        return Check(
            "project root",
            "warn",
            f"{root} is a symlink to {real}: file events name "
            f"{real}; run composewatch from {real} so paths and .dockerignore agree",
        )
    return Check("project root", "ok", f"{root} (not a symlink)")


def _base_images(survey: EngineSurvey, loaded: LoadedProject) -> list[Check]:
    wanted: dict[str, str] = {}
    for name, service in loaded.project.services.items():
        if service.build is None:
            if service.image:
                wanted.setdefault(service.image, name)
            continue
        dockerfile = load_dockerfile_text(service.build)
        if dockerfile is None:
            continue  # `up` reports a missing Dockerfile itself
        for image in parse_base_images(dockerfile):
            wanted.setdefault(image, name)
    missing = [f"{image} ({wanted[image]})" for image in survey.missing_images(wanted)]
    if missing:
        return [
            Check(
                "base images",
                "warn",
                f"missing: {', '.join(missing)}; the first build "
                "or start pulls them (needs a registry): `docker pull` them now",
            )
        ]
    return [Check("base images", "ok", f"{len(wanted)} present")]


def _ports(survey: EngineSurvey, loaded: LoadedProject, endpoint: Endpoint) -> list[Check]:
    ports = published_ports(loaded)
    if not ports:
        return [Check("ports", "ok", "the project publishes no fixed TCP port")]
    if not endpoint.local:
        return [
            Check(
                "ports",
                "ok",
                f"{len(ports)} published on the remote engine's host (not checked from here)",
            )
        ]
    ours = survey.project_ports(loaded.project.name)
    taken = []
    for service, host_ip, port in ports:
        if port in ours or not _port_taken(host_ip, port):
            continue
        taken.append(f"{port} ({service})")
    if taken:
        return [
            Check(
                "ports",
                "fail",
                f"already taken by another process: {', '.join(taken)}; "
                "stop what holds them (`ss -ltnp`) or change the ports",
            )
        ]
    return [Check("ports", "ok", f"{len(ports)} published port(s) free or already the project's")]


def _port_taken(host_ip: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host_ip, port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def _arp(endpoint: Endpoint) -> Check:
    if not endpoint.local:
        return Check("arp refresh", "ok", "skipped: a remote engine's network is not this host's")
    if can_refresh():
        return Check("arp refresh", "ok", "available (root): no 1 s stall after a swap")
    return Check(
        "arp refresh",
        "warn",
        "unavailable (needs root beside the "
        "engine): a request right after a swap may wait up to 1 s; harmless otherwise",
    )
