"""Real-world compose projects (tests/corpus) made runnable on this engine without a
registry, for the equivalence test: one local stand-in image under every image name, builds
replaced by it, host binds and files redirected into a temporary folder, ports published on
127.0.0.1 at ports the engine picks, health checks that pass at once.

The input is compose's own canonical form of the case (`expected.json`: everything
interpolated, merged, extended), so both sides read exactly the same file; what is rewritten
is rewritten for both, and what is compared is how each turns that file into containers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

# The stand-in: busybox that sleeps whatever it is asked to run (its arguments are ignored), so
# a container of any service stays up; a one-shot job (another service waits for it to
# complete) exits 0 at once instead.
STANDIN_DOCKERFILE = 'FROM busybox:latest\nENTRYPOINT ["sh", "-c", "sleep 3600", "--"]\n'
_SLEEP = ["sh", "-c", "sleep 3600", "--"]
_DONE = ["sh", "-c", "exit 0", "--"]

# Real-world cases that run on Engine 20.10 with the stand-in (no external resources, no
# logging drivers or devices this engine lacks), with many services, dependencies and keys.
CASES = [
    "appwrite--default",
    "authelia--examples-lite",
    "authelia--examples-local",
    "awesome-compose--elasticsearch-logstash-kibana",
    "awesome-compose--gitea-postgres",
    "awesome-compose--nextcloud-redis-mariadb",
    "awesome-compose--nginx-golang-postgres",
    "awesome-compose--prometheus-grafana",
    "awesome-compose--react-java-mysql",
    "awesome-compose--wordpress-mysql",
    "docker-elk--default",
    "frappe-docker--pwd",
    "jitsi--default",
    "kestra--dind",
    "kong--compose",
    "langfuse--default",
    "mattermost-docker--default",
    "n8n-hosting--with-postgres-and-worker",
    "netbox-docker--default",
    "nextcloud--insecure-postgres-fpm",
    "paperless--postgres-tika",
    "penpot--images",
    "taiga-docker--default",
    "temporal--default",
    "temporal--multirole",
    "traefik--acme-dns-secrets",
    "voting-app--dev",
]


def standin_project(case: str, folder: Path, project: str, standin: str) -> Path:
    """Write the runnable form of corpus `case` into `folder` (binds and files under it) and
    return the compose file. Image names become `standin-<project>-<n>`, tagged by the caller."""
    text = (CORPUS / case / "expected.json").read_text()
    data: dict[str, Any] = json.loads(text.replace("${CASE_DIR}", str(folder / "case")))
    original = str(data.pop("name", "corpus"))
    data.pop("models", None)
    for key in [k for k in data if k.startswith("x-")]:
        data.pop(key)
    jobs = {
        dep
        for service in data["services"].values()
        for dep, cond in (service.get("depends_on") or {}).items()
        if cond.get("condition") == "service_completed_successfully"
    }
    images: dict[str, str] = {}
    binds = folder / "binds"
    for name, service in data["services"].items():
        _service(name, service, project, images, binds, jobs)
    for kind in ("networks", "volumes"):
        for key, config in (data.get(kind) or {}).items():
            config.pop("external", None)  # made by both sides instead, under this project
            if config.get("name") in (None, f"{original}_{key}"):
                config.pop("name", None)
            else:
                config["name"] = f"{project}-{config['name']}"
    for kind in ("secrets", "configs"):
        for key, config in (data.get(kind) or {}).items():
            config.pop("external", None)
            if "file" in config:
                path = folder / "files" / kind / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"{key}\n")
                config["file"] = str(path)
            elif not config.get("environment") and "content" not in config:
                config["content"] = f"{key}\n"
    data["x-composewatch"] = {
        "services": {n: {"health": {"probe": "docker"}} for n in data["services"]}
    }
    (folder / "images.json").write_text(json.dumps(sorted(set(images.values()))))
    file = folder / "compose.json"
    file.write_text(json.dumps(data, indent=1))
    return file


def standin_images(folder: Path) -> list[str]:
    return list(json.loads((folder / "images.json").read_text()))


def _service(
    name: str,
    service: dict[str, Any],
    project: str,
    images: dict[str, str],
    binds: Path,
    jobs: set[str],
) -> None:
    original = service.get("image") or f"build:{name}"
    service["image"] = images.setdefault(original, f"standin-{project}-{len(images)}")
    for key in ("build", "pull_policy", "devices", "logging", "env_file", "label_file"):
        service.pop(key, None)
    if service.get("container_name"):
        service["container_name"] = f"{project}-{service['container_name']}"
    for port in service.get("ports") or []:
        port.pop("published", None)  # the engine picks a free port
        port["host_ip"] = "127.0.0.1"
    for i, volume in enumerate(service.get("volumes") or []):
        if volume.get("type") == "bind":
            source = binds / name / str(i)
            source.mkdir(parents=True, exist_ok=True)
            volume["source"] = str(source)
    check = service.get("healthcheck")
    if check and not check.get("disable"):
        check["test"] = ["CMD", "true"]
        check["interval"] = "250ms"
        check.pop("start_interval", None)  # refused on this engine, by both
    entrypoint = service.get("entrypoint") or []
    if name in jobs:
        service["entrypoint"] = [*_DONE, *entrypoint]
        service.pop("restart", None)
    elif entrypoint:
        service["entrypoint"] = [*_SLEEP, *entrypoint]
    user = str(service.get("user") or "")
    if user and not user.replace(":", "").isdigit() and user not in ("root", "nobody"):
        service.pop("user")  # a name the stand-in's /etc/passwd does not know
    if float(service.get("cpus") or 0) > 1:
        service["cpus"] = 1.0
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if float(limits.get("cpus") or 0) > 1:
        limits["cpus"] = 1.0  # this machine may have 2 cores
