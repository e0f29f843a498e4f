"""Lab nodes: systemd containers on one network, sharing one volume as preprovisioned storage."""

from __future__ import annotations

import time
from dataclasses import dataclass

from lab import docker

LABEL_KEY = "dagster-lab"


@dataclass(frozen=True)
class Lab:
    """Names of every docker object one lab owns, derived from the lab's name."""

    name: str = "dagster-lab"

    @property
    def network(self) -> str:
        return self.name

    @property
    def volume(self) -> str:
        return f"{self.name}-shared"

    @property
    def label(self) -> str:
        return f"{LABEL_KEY}={self.name}"

    def container(self, hostname: str) -> str:
        return f"{self.name}-{hostname}"


@dataclass(frozen=True)
class Node:
    hostname: str
    container: str
    address: str
    state: str


def hostnames(count: int) -> list[str]:
    return [f"node{i}" for i in range(1, count + 1)]


def run_args(lab: Lab, hostname: str, image: str, shared_dir: str) -> list[str]:
    """`docker run` arguments for a node that boots systemd without --privileged, with the lab's volume
    mounted at the deployment's shared directory."""
    return [
        "run",
        "--detach",
        "--name",
        lab.container(hostname),
        "--hostname",
        hostname,
        "--network",
        lab.network,
        "--label",
        lab.label,
        "--cap-add",
        "SYS_ADMIN",
        "--cap-add",
        "NET_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "--cgroupns",
        "host",
        "--volume",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs",
        "/run:rw,exec,mode=0755",
        "--tmpfs",
        "/run/lock:rw,mode=1777",
        "--tmpfs",
        "/tmp:rw,exec,mode=1777",
        "--volume",
        f"{lab.volume}:{shared_dir}",
        "--stop-signal",
        "SIGRTMIN+3",
        "--env",
        "container=docker",
        image,
        "/sbin/init",
    ]


def create_shared_objects(lab: Lab) -> None:
    if not docker.exists("network", lab.network):
        docker.docker("network", "create", "--label", lab.label, lab.network)
    if not docker.exists("volume", lab.volume):
        docker.docker("volume", "create", "--label", lab.label, lab.volume)


def start(lab: Lab, hostname: str, image: str, shared_dir: str) -> None:
    if docker.exists("container", lab.container(hostname)):
        docker.docker("start", lab.container(hostname))
    else:
        docker.docker(*run_args(lab, hostname, image, shared_dir))


def wait_for_systemd(container: str, timeout: float = 120.0) -> str:
    """Wait until systemd reports running or degraded (the bus may refuse us at first)."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        state = docker.exec_in(container, ["systemctl", "is-system-running", "--wait"], check=False).strip()
        if state in ("running", "degraded"):
            return state
        time.sleep(1)
    raise TimeoutError(f"{container}: systemd did not finish booting (last state: {state})")


def describe(lab: Lab) -> list[Node]:
    nodes = []
    for container in docker.names_with_label("container", lab.label):
        info = docker.inspect("container", container)
        networks = info["NetworkSettings"]["Networks"]
        address = networks.get(lab.network, {}).get("IPAddress", "")
        nodes.append(
            Node(
                hostname=info["Config"]["Hostname"], container=container, address=address, state=info["State"]["Status"]
            )
        )
    return sorted(nodes, key=lambda n: (len(n.hostname), n.hostname))


def remove_all(lab: Lab) -> list[str]:
    """Remove containers, network and volume of the lab; returns what was removed."""
    removed = docker.names_with_label("container", lab.label)
    if removed:
        docker.docker("rm", "--force", "--volumes", *removed)
    for kind in ("network", "volume"):
        for name in docker.names_with_label(kind, lab.label):
            docker.docker(kind, "rm", name)
            removed.append(name)
    return removed
