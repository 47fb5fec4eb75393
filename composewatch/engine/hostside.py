"""What the host sees of a container when the engine shares its network namespace and
/proc: whether PID 1 ignores the stop signal, and the container's neighbour (ARP) entries on
the host's bridges. Part of `Engine`."""

from __future__ import annotations

import re
from pathlib import Path

import docker
import docker.errors

from composewatch.engine.neighbours import Neighbour, can_refresh
from composewatch.engine.project import exec_output
from composewatch.errors import EngineError

__all__ = ["HostSide"]

_SIGTERM_BIT = 1 << (15 - 1)  # SigCgt is a mask where signal n is bit n-1
_SIGNAL_FORWARDERS = frozenset({"docker-init", "tini", "tini-static"})


class HostSide:
    client: docker.DockerClient
    _api: docker.APIClient
    _local: bool  # the engine shares this host's network namespace and /proc
    _bridges: dict[str, str | None]
    _started: dict[str, list[Neighbour]]  # our containers' host ARP entries

    def ignores_sigterm(self, cid: str) -> bool:
        """True when the container's PID 1 has no SIGTERM handler, so `stop` waits the full
        timeout before SIGKILL (the kernel drops unhandled signals to a namespace's init)."""
        info = self._api.inspect_container(cid)
        if (info.get("HostConfig") or {}).get("Init"):
            return False  # docker-init forwards the signal to the app
        pid = info["State"].get("Pid") or 0
        status = self._host_proc_status(pid) if pid and self._local else None
        if status is None:  # the engine's /proc is not ours: ask inside the container
            try:
                _, status = exec_output(self.client, cid, ["cat", "/proc/1/status"])
            except EngineError:
                return False
        name = re.search(r"^Name:\s*(\S+)", status, re.M)
        # tini waits in sigtimedwait, which hides its signals from SigCgt and SigBlk.
        if name is not None and name.group(1) in _SIGNAL_FORWARDERS:
            return False
        caught = re.search(r"^SigCgt:\s*([0-9a-fA-F]+)", status, re.M)
        if caught is None:
            return False
        return not int(caught.group(1), 16) & _SIGTERM_BIT

    @staticmethod
    def _host_proc_status(pid: int) -> str | None:
        try:
            return Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None

    def _neighbours_of(self, cid: str) -> list[Neighbour]:
        """The entries to forget when `cid` stops: known since we started it, else read now."""
        if not (self._local and can_refresh()):
            return []
        known = self._started.pop(cid, None)
        return known if known is not None else self._neighbours(cid)

    def _neighbours(self, cid: str) -> list[Neighbour]:
        """The container's address on each bridge network, with the bridge's host device."""
        networks = self._api.inspect_container(cid)["NetworkSettings"].get("Networks") or {}
        found = []
        for endpoint in networks.values():
            device = self._bridge_device(endpoint.get("NetworkID") or "")
            if device and endpoint.get("IPAddress") and endpoint.get("MacAddress"):
                found.append(Neighbour(endpoint["IPAddress"], endpoint["MacAddress"], device))
        return found

    def _bridge_device(self, network_id: str) -> str | None:
        if network_id not in self._bridges:
            try:
                network = self._api.inspect_network(network_id)
            except docker.errors.APIError:
                return None
            options = network.get("Options") or {}
            device = options.get("com.docker.network.bridge.name") or f"br-{network_id[:12]}"
            self._bridges[network_id] = device if network.get("Driver") == "bridge" else None
        return self._bridges[network_id]
