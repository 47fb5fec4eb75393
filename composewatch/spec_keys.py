"""The one table of compose service keys and what composewatch does with each.

`KEYS` drives the startup warnings (`unsupported`) and docs/compatibility.md (`markdown`,
kept equal to the file by a unit test). A key is

- applied: the container gets it as `docker compose up` gives it;
- warned: read but not applied by composewatch; a warning names the key and the service;
- not possible: the engine here (Docker 20.10, API 1.41) cannot do it (compose fails or
  drops it too); a warning names the key and the service.

Keys are dotted paths below `services.<name>`; `*` stands for any map key (a network name).
A key whose entry says applied covers its children unless a child has its own entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from composewatch.compose.model import Service

__all__ = ["KEYS", "KeySupport", "Support", "markdown", "unsupported", "warnings"]


class Support(StrEnum):
    APPLIED = "applied"
    WARNED = "warned"
    NOT_POSSIBLE = "not possible"


@dataclass(frozen=True)
class KeySupport:
    key: str
    support: Support
    note: str = ""
    # Only values for which this is true get this entry's support (else the key is applied).
    when: Callable[[Any], bool] | None = None


def _is_image_volume(volumes: Any) -> bool:
    return any(isinstance(v, dict) and v.get("type") == "image" for v in volumes or [])


def _is_cdi_device(devices: Any) -> bool:
    # A CDI device (vendor.com/class=name) goes into DeviceRequests with the "cdi" driver.
    return any(
        isinstance(d, dict) and d.get("source") == d.get("target") and "=" in str(d.get("source"))
        for d in devices or []
    )


def _pulls_otherwise(policy: Any) -> bool:
    return policy not in ("missing", "if_not_present", "build")


A, W, N = Support.APPLIED, Support.WARNED, Support.NOT_POSSIBLE
# fmt: off
KEYS: tuple[KeySupport, ...] = (
    KeySupport("annotations", N, "HostConfig.Annotations needs Engine API 1.43"),
    KeySupport("attach", W, "composewatch does not attach to service logs"),
    KeySupport("blkio_config", A, "Blkio* resources"),
    KeySupport("build", A, "built through the Engine API (BuildKit or classic)"),
    KeySupport("cap_add", A), KeySupport("cap_drop", A),
    KeySupport("cgroup", A, "CgroupnsMode"), KeySupport("cgroup_parent", A),
    KeySupport("command", A), KeySupport("configs", A,
        "`file`: read-only bind mount at /<name> or target; `content`/`environment`: "
        "copied into the container before it starts, as compose does"),
    KeySupport("container_name", A),
    KeySupport("cpu_count", A, "Windows engines only"),
    KeySupport("cpu_percent", A, "Windows engines only"),
    KeySupport("cpu_period", A), KeySupport("cpu_quota", A),
    KeySupport("cpu_rt_period", A), KeySupport("cpu_rt_runtime", A),
    KeySupport("cpu_shares", A), KeySupport("cpus", A), KeySupport("cpuset", A),
    KeySupport("credential_spec", W, "Windows engines only"),
    KeySupport("depends_on", A,
        "each service starts once its own conditions hold; `restart: true` restarts "
        "dependents after a swap"),
    KeySupport("deploy", A),
    KeySupport("deploy.endpoint_mode", W, "Swarm only; compose ignores it too"),
    KeySupport("deploy.labels", W, "Swarm service labels; compose ignores them too"),
    KeySupport("deploy.mode", W, "Swarm only; compose ignores it too"),
    KeySupport("deploy.placement", W, "Swarm only; compose ignores it too",
               when=lambda v: bool(v)),
    KeySupport("deploy.replicas", A, "replicas `<project>-<service>-1..N`, swapped one at a time"),
    KeySupport("deploy.resources", A),
    KeySupport("deploy.resources.limits", A, "memory, cpus, pids"),
    KeySupport("deploy.resources.limits.devices", W, "compose ignores it too"),
    KeySupport("deploy.resources.limits.generic_resources", W, "Swarm only"),
    KeySupport("deploy.resources.reservations", A, "memory (MemoryReservation) and devices"),
    KeySupport("deploy.resources.reservations.cpus", W,
               "Swarm only; compose ignores it too"),
    KeySupport("deploy.resources.reservations.generic_resources", W, "Swarm only"),
    KeySupport("deploy.restart_policy", A, "condition and max_attempts, as compose"),
    KeySupport("deploy.rollback_config", W, "Swarm only; compose ignores it too"),
    KeySupport("deploy.update_config", W, "Swarm only; compose ignores it too"),
    KeySupport("develop", A, "develop.watch rules drive sync, rebuild and restart"),
    KeySupport("device_cgroup_rules", A),
    KeySupport("devices", A),
    KeySupport("devices", N, "CDI devices need Engine API 1.44", when=_is_cdi_device),
    KeySupport("dns", A), KeySupport("dns_opt", A), KeySupport("dns_search", A),
    KeySupport("domainname", A), KeySupport("entrypoint", A),
    KeySupport("env_file", A), KeySupport("environment", A), KeySupport("expose", A),
    KeySupport("extends", A, "resolved by the loader"),
    KeySupport("external_links", A, "HostConfig.Links"),
    KeySupport("extra_hosts", A),
    KeySupport("gpus", N, "needs a GPU runtime this engine does not have"),
    KeySupport("group_add", A), KeySupport("healthcheck", A),
    KeySupport("healthcheck.start_interval", N,
               "needs Engine API 1.44; `up` refuses it on older engines, as compose does"),
    KeySupport("hostname", A), KeySupport("image", A), KeySupport("init", A),
    KeySupport("ipc", A, "`service:<name>` becomes `container:<id>`, as compose does"),
    KeySupport("isolation", A, "Windows engines only"),
    KeySupport("label_file", A, "merged into labels by the loader"),
    KeySupport("labels", A),
    KeySupport("links", A, "HostConfig.Links and the endpoint's links, as compose builds them"),
    KeySupport("logging", A, "HostConfig.LogConfig"),
    KeySupport("mac_address", A, "Config.MacAddress (Engine API < 1.44)"),
    KeySupport("mem_limit", A), KeySupport("mem_reservation", A),
    KeySupport("mem_swappiness", A), KeySupport("memswap_limit", A),
    KeySupport("models", W, "needs Docker Model Runner"),
    KeySupport("network_mode", A,
        "`service:<name>` becomes `container:<id>`; the service is recreated with it"),
    KeySupport("networks", A, "aliases, ipv4/ipv6 addresses, priority, link_local_ips, "
        "driver_opts; extra networks connected before start (API < 1.44)"),
    KeySupport("networks.*.gw_priority", N, "needs Engine API 1.48"),
    KeySupport("networks.*.interface_name", N, "needs Engine API 1.49"),
    KeySupport("networks.*.mac_address", A,
        "primary network's, as Config.MacAddress (API < 1.44 has no per-network MAC)"),
    KeySupport("networks.*.mac_address", N,
        "on a network other than the primary one: needs Engine API 1.44",
        when=lambda v: False),  # only `unsupported` knows which network is primary
    KeySupport("oom_kill_disable", A), KeySupport("oom_score_adj", A),
    KeySupport("pid", A, "`service:<name>` becomes `container:<id>`, as compose does"),
    KeySupport("pids_limit", A),
    KeySupport("platform", A, "used for builds and pulls"),
    KeySupport("ports", A),
    KeySupport("post_start", W, "lifecycle hooks are not run"),
    KeySupport("pre_stop", W, "lifecycle hooks are not run"),
    KeySupport("privileged", A), KeySupport("profiles", A),
    KeySupport("provider", W, "provider services are not run"),
    KeySupport("pull_policy", W, "composewatch pulls only a missing image",
               when=_pulls_otherwise),
    KeySupport("pull_refresh_after", W, "composewatch pulls only a missing image"),
    KeySupport("read_only", A), KeySupport("restart", A), KeySupport("runtime", A),
    KeySupport("scale", A, "replicas `<project>-<service>-1..N`, swapped one at a time"),
    KeySupport("secrets", A,
        "`file`: read-only bind mount at /run/secrets/<name> or target; `environment`: "
        "copied into the container before it starts, as compose does"),
    KeySupport("security_opt", A, "seccomp profiles inlined, systempaths=unconfined, as compose"),
    KeySupport("shm_size", A), KeySupport("stdin_open", A),
    KeySupport("stop_grace_period", A), KeySupport("stop_signal", A),
    KeySupport("storage_opt", A), KeySupport("sysctls", A), KeySupport("tmpfs", A),
    KeySupport("tty", A), KeySupport("ulimits", A),
    KeySupport("use_api_socket", W, "the engine socket is not mounted"),
    KeySupport("user", A), KeySupport("userns_mode", A), KeySupport("uts", A),
    KeySupport("volumes", A),
    KeySupport("volumes", N, "`type: image` needs Engine API 1.48", when=_is_image_volume),
    KeySupport("volumes_from", A, "`<service>` becomes the service's container id"),
    KeySupport("working_dir", A),
)
# fmt: on
_BY_KEY: dict[str, list[KeySupport]] = {}
for _entry in KEYS:
    _BY_KEY.setdefault(_entry.key, []).append(_entry)
_CHILDREN: dict[str, set[str]] = {}
for _key in _BY_KEY:
    _parts = _key.split(".")
    for _depth in range(len(_parts)):
        _CHILDREN.setdefault(".".join(_parts[:_depth]), set()).add(_parts[_depth])
_UNKNOWN = KeySupport("", W, "not known to composewatch")


def _support(pattern: str, value: Any) -> KeySupport | None:
    """The entry for `pattern` that holds for `value` (a conditional one first)."""
    entries = _BY_KEY.get(pattern)
    if not entries:
        return None
    for entry in entries:
        if entry.when is not None and entry.when(value):
            return entry
    plain = [e for e in entries if e.when is None]
    return plain[0] if plain else KeySupport(pattern, A)


def _walk(value: Any, pattern: str, real: str) -> Iterator[tuple[str, KeySupport]]:
    entry = _support(pattern, value)
    if entry is not None and entry.support is not Support.APPLIED:
        yield real, entry
        return
    children = _CHILDREN.get(pattern, set())
    if not isinstance(value, dict) or not children:
        return
    for key, child in value.items():
        if key.startswith("x-") or child is None:
            continue
        name = "*" if "*" in children else key
        if name in children:
            yield from _walk(child, f"{pattern}.{name}", f"{real}.{key}")


def unsupported(service: Service) -> list[tuple[str, KeySupport]]:
    """(key as written, its entry) for each key of `service` composewatch does not apply."""
    data = service.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    out: list[tuple[str, KeySupport]] = []
    for key, value in data.items():
        if key.startswith("x-"):
            continue
        if key not in _BY_KEY:
            out.append((key, _UNKNOWN))
            continue
        out.extend(_walk(value, key, key))
    out.extend(_secondary_macs(service))
    return out


def _secondary_macs(service: Service) -> Iterator[tuple[str, KeySupport]]:
    """A MAC address on a network other than the primary one (API < 1.44 sets only
    Config.MacAddress; compose drops these silently)."""
    (entry,) = [e for e in _BY_KEY["networks.*.mac_address"] if e.support is Support.NOT_POSSIBLE]
    for key in service.networks_by_priority()[1:]:
        network = (service.networks or {}).get(key)
        if network is not None and (network.model_extra or {}).get("mac_address"):
            yield f"networks.{key}.mac_address", entry


def warnings(name: str, service: Service) -> list[str]:
    """One line per key composewatch does not apply, naming the service, the key and why."""
    lines = []
    for key, entry in sorted(unsupported(service), key=lambda found: found[0]):
        verdict = (
            "not possible on this engine"
            if entry.support is Support.NOT_POSSIBLE
            else ("not applied by composewatch")
        )
        lines.append(f"services.{name}.{key}: {verdict} ({entry.note})")
    return lines


README_BEGIN = (
    "<!-- compatibility: generated by `python -m composewatch.spec_keys`; do not edit -->"
)
README_END = "<!-- end of compatibility -->"


def table() -> str:
    """The key table as markdown rows (the README's and docs/compatibility.md's)."""
    lines = ["| key | composewatch | note |", "| --- | --- | --- |"]
    for entry in KEYS:
        condition = " (some values)" if entry.when is not None else ""
        note = entry.note.replace("|", "\\|")
        lines.append(f"| `{entry.key}`{condition} | {entry.support.value} | {note} |")
    return "\n".join(lines) + "\n"


def readme_section() -> str:
    return f"{README_BEGIN}\n{table()}{README_END}"


def markdown() -> str:
    """docs/compatibility.md: the table above, one row per entry."""
    lines = [
        "# Compose compatibility",
        "",
        "Generated from `composewatch/spec_keys.py` (`python -m composewatch.spec_keys`); a unit",
        "test keeps this file equal to the table the code warns from. For each key of a",
        "service: **applied** means the container composewatch creates has it exactly as",
        "`docker compose up` gives it; **warned** means composewatch reads it but does not",
        "apply it, and says so once per service at startup; **not possible** means this",
        "engine (Docker 20.10, Engine API 1.41) cannot do it (compose fails or drops it too),",
        "and composewatch says so once per service at startup.",
        "",
    ]
    return "\n".join(lines) + "\n" + table()


def _write(root: Path) -> None:
    """Rewrite docs/compatibility.md and the README's table from KEYS."""
    (root / "docs" / "compatibility.md").write_text(markdown())
    readme = root / "README.md"
    text = readme.read_text()
    start, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    readme.write_text(text[:start] + readme_section() + text[end:])


if __name__ == "__main__":
    _write(Path(__file__).resolve().parents[1])
