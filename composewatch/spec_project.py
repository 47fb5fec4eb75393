"""Project-level facts about services: start order and the keys composewatch does not apply."""

from __future__ import annotations

from composewatch.compose.model import Project, Service
from composewatch.errors import ComposeFileError

__all__ = ["startup_order", "unsupported_keys"]

# fmt: off
_APPLIED = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose",
    "volumes", "networks", "network_mode", "depends_on", "healthcheck", "restart", "init",
    "user", "working_dir", "labels", "container_name", "hostname", "domainname",
    "extra_hosts", "stop_signal", "stop_grace_period", "tty", "stdin_open", "cap_add",
    "cap_drop", "privileged", "shm_size", "ulimits", "dns", "profiles", "develop", "tmpfs",
    "deploy", "scale",
}
# fmt: on
_DEPLOY_APPLIED = {"resources", "restart_policy", "replicas", "placement"}


def unsupported_keys(service: Service) -> list[str]:
    """Keys of `service` composewatch does not apply, for a startup warning."""
    data = service.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)
    out = [k for k in data if k not in _APPLIED and not k.startswith("x-")]
    deploy = service.deploy or {}
    out += [f"deploy.{k}" for k in deploy if k not in _DEPLOY_APPLIED]
    if deploy.get("placement"):
        out.append("deploy.placement")
    resources = deploy.get("resources") or {}
    out += [f"deploy.resources.{k}" for k in resources if k != "limits" and resources[k]]
    limits = resources.get("limits") or {}
    out += [f"deploy.resources.limits.{k}" for k in limits if k not in ("cpus", "memory", "pids")]
    if (deploy.get("replicas") or 1) != 1 or (service.scale or 1) != 1:
        out.append("scale" if service.scale else "deploy.replicas")
    if service.network_mode and service.network_mode.startswith(("service:", "container:")):
        out.append("network_mode")
    for key, net in (service.networks or {}).items():
        extra = (
            set(net.model_dump(exclude_none=True))
            - {"aliases", "ipv4_address", "ipv6_address", "priority"}
            if net
            else set()
        )
        out += [f"networks.{key}.{k}" for k in sorted(extra)]
    if service.healthcheck and service.healthcheck.start_interval:
        out.append("healthcheck.start_interval")
    return out


def startup_order(project: Project) -> list[list[str]]:
    """Services in depends_on layers: each layer only depends on earlier ones."""
    deps = {
        name: {d for d in (s.depends_on or {}) if d in project.services}
        for name, s in project.services.items()
    }
    layers: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(deps):
        layer = sorted(n for n, d in deps.items() if n not in done and d <= done)
        if not layer:
            cycle = sorted(set(deps) - done)
            raise ComposeFileError(
                f"dependency cycle between services {', '.join(cycle)}", key="services.*.depends_on"
            )
        layers.append(layer)
        done.update(layer)
    return layers
