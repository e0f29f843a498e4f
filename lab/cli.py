"""`python -m lab up|logins|status|run-job|ui-check|fleet|down|image|vm`: the lab's command line."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lab import browser, docker, fleet, image, inventory, job, monitoring, names, nodes, ssh, vm
from lab.dagster_client import DagsterError

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Paths:
    """Where one lab keeps its files on the controller."""

    state: Path
    inventory: Path

    @property
    def key(self) -> Path:
        return self.state / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state / "known_hosts"

    @property
    def secrets(self) -> Path:
        return self.inventory.parent / "group_vars" / "all" / "lab_secrets.yml"

    @property
    def login_hashes(self) -> Path:
        return self.secrets.parent / "front_door_logins.yml"

    @property
    def logins(self) -> Path:
        return self.state / job.LOGINS_FILE

    @property
    def ca(self) -> Path:
        return self.state / job.CA_DIR


def say(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def up(lab: nodes.Lab, paths: Paths, count: int, distro: str) -> int:
    existing = nodes.describe(lab)
    if existing and len(existing) != count:
        say(f"error: lab {lab.name} already has {len(existing)} nodes; run `down` first to change to {count}")
        return 1
    image.ensure(distro)
    nodes.create_shared_objects(lab)
    public_key = ssh.ensure_key(paths.key)
    hostnames = nodes.hostnames(count)
    shared_dir = names.lab_names(paths.inventory)["dagster_deployment_shared_dir"]
    say(f"starting {count} {distro} nodes: {', '.join(hostnames)}")
    for hostname in hostnames:
        nodes.start(lab, hostname, image.image_name(distro), shared_dir)
    for hostname in hostnames:
        nodes.wait_for_systemd(lab.container(hostname))
        ssh.authorize(lab.container(hostname), public_key)
    described = nodes.describe(lab)
    addresses = [node.address for node in described]
    for address in addresses:
        ssh.wait_for_port(address)
    inventory.write_private(paths.known_hosts, ssh.host_keys(addresses))
    for address in addresses:
        ssh.check_login(address, paths.key, paths.known_hosts)
    paths.inventory.parent.mkdir(parents=True, exist_ok=True)
    paths.inventory.write_text(inventory.render_nodes(described, paths.key, paths.known_hosts, distro, paths.ca))
    inventory.ensure_secrets(paths.secrets)
    inventory.ensure_logins(paths.login_hashes, paths.logins)
    say(f"{count} nodes answer over SSH; inventory written to {paths.inventory}")
    return status(lab)


def status(lab: nodes.Lab) -> int:
    described = nodes.describe(lab)
    if not described:
        print(f"lab {lab.name}: no nodes")
        return 0
    print(f"{'host':<8} {'address':<16} {'container':<10} systemd")
    for node in described:
        systemd = "-"
        if node.state == "running":
            systemd = docker.exec_in(node.container, ["systemctl", "is-system-running"], check=False).strip()
        print(f"{node.hostname:<8} {node.address:<16} {node.state:<10} {systemd}")
    return 0


def down(lab: nodes.Lab, paths: Paths) -> int:
    removed = nodes.remove_all(lab)
    for path in (paths.inventory, paths.secrets, paths.known_hosts, paths.login_hashes, paths.logins):
        path.unlink(missing_ok=True)
    shutil.rmtree(paths.ca, ignore_errors=True)
    say(f"removed {len(removed)} docker objects" if removed else f"lab {lab.name} was not up")
    return 0


def fleet_state(paths: Paths, topology: Path) -> dict[str, object]:
    """Run the status view against the lab and read the JSON it writes on the controller."""
    target = paths.state / "fleet.json"
    target.unlink(missing_ok=True)
    argv = ["ansible-playbook", "-i", str(paths.inventory), "-i", str(topology), str(REPO / "playbooks/status.yml"),
            "-e", f"dagster_ops_fleet_file={target}"]  # fmt: skip
    environment = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    proc = subprocess.run(argv, cwd=REPO, env=environment, capture_output=True, text=True)
    if proc.returncode != 0 or not target.exists():
        raise RuntimeError(f"playbooks/status.yml failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    state: dict[str, object] = json.loads(target.read_text())
    return state


def draw_fleet(paths: Paths, topology: Path, source: Path | None, svg_path: Path | None) -> int:
    state = json.loads(source.read_text()) if source else fleet_state(paths, topology)
    print(fleet.text(state))
    if svg_path:
        svg_path.write_text(fleet.svg(fleet.dot(state)))
        say(f"picture written to {svg_path}")
    return 0


def vm_up(lab: vm.VmLab, paths: Paths, machines: list[vm.Vm], distro: str, accel: str) -> int:
    """Boot the VMs, wait for SSH, print molecule's instance config (JSON) on stdout."""
    existing = vm.hostnames(lab)
    if existing and existing != sorted(machine.hostname for machine in machines):
        say(f"error: VM lab {lab.name} runs {', '.join(existing)}; run `vm down` first")
        return 1
    image_dir = image.ensure_vm(distro)
    public_key = ssh.ensure_key(paths.key).read_text()
    vm.ensure_network(lab)
    chosen = vm.choose_accel(accel, image_dir)
    if accel == "auto" and chosen == "tcg":
        say("KVM unavailable or its guests do not boot here: using TCG (software emulation, several times slower)")
    started = time.monotonic()
    booted = [machine.hostname for machine in machines if vm.boot(lab, machine, image_dir, chosen, public_key)]
    if booted:
        say(f"booting {', '.join(booted)} with {chosen}")
    addresses = [str(lab.address(machine.index)) for machine in machines]
    for address in addresses:
        ssh.wait_for_port(address, timeout=600 if chosen == "tcg" else 120)
    inventory.write_private(paths.known_hosts, ssh.host_keys(addresses))
    resolv_conf = Path("/etc/resolv.conf").read_text()
    for address in addresses:
        ssh.check_login(address, paths.key, paths.known_hosts)
        # Name resolution as on the host: the VMs reach the Debian mirror through the host's NAT.
        ssh.run(address, paths.key, paths.known_hosts, f"printf %s {shlex.quote(resolv_conf)} > /etc/resolv.conf")
    say(f"{len(machines)} VMs answer over SSH after {time.monotonic() - started:.0f} s ({chosen})")
    instances = [
        {"instance": machine.hostname, "address": address, "user": "root", "port": 22, "identity_file": str(paths.key)}
        for machine, address in zip(machines, addresses, strict=True)
    ]
    print(json.dumps(instances, indent=2))
    return 0


def vm_down(lab: vm.VmLab, paths: Paths) -> int:
    removed = vm.remove_all(lab)
    paths.known_hosts.unlink(missing_ok=True)
    say(f"stopped and removed {', '.join(removed)}" if removed else f"VM lab {lab.name} was not up")
    return 0


def parse_machine(index: int, spec: str) -> vm.Vm:
    """HOST or HOST:MEGABYTES."""
    hostname, _, memory = spec.partition(":")
    if not hostname.replace("-", "").isalnum():
        raise argparse.ArgumentTypeError(f"{hostname!r} is not a valid hostname")
    return vm.Vm(hostname=hostname, index=index, memory_mb=int(memory) if memory else 1024)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="lab", description=__doc__)
    cli.add_argument(
        "--name", default="dagster-lab", help="lab name, prefix of every docker object (default: %(default)s)"
    )
    cli.add_argument(
        "--inventory",
        type=Path,
        default=REPO / "inventories/lab/nodes.yml",
        help="where to write the connection inventory (default: %(default)s)",
    )
    commands = cli.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the nodes and write the inventory")
    start.add_argument("--nodes", type=int, default=4, help="number of nodes (default: %(default)s)")
    start.add_argument(
        "--distro",
        choices=sorted(image.SUITES),
        default="debian13",
        help="Debian release of the nodes (default: %(default)s)",
    )
    logins = commands.add_parser("logins", help="generate the front door's logins unless there are some")
    logins.add_argument("--hashes", type=Path, help="front_door_logins for Ansible (default: next to lab_secrets.yml)")
    logins.add_argument("--passwords", type=Path, help="the passwords (default: .lab/<name>/logins.yml)")
    logins.add_argument("--prefix", default="", help="characters each password starts with (tests: special ones)")
    commands.add_parser("status", help="show the nodes")
    commands.add_parser("down", help="remove nodes, network, volume and generated files")
    run = commands.add_parser("run-job", help="launch a job through the webserver and show where its steps ran")
    run.add_argument("--job", default="fan_out_job", help="job name (default: %(default)s)")
    run.add_argument("--control", default="node1", help="lab node running the webserver (default: %(default)s)")
    run.add_argument("--timeout", type=float, default=600, help="seconds to wait for the run (default: %(default)s)")
    run.add_argument(
        "--ops-config",
        type=json.loads,
        default={},
        help='JSON of the run config\'s ops section, e.g. \'{"long_step": {"config": {"seconds": 90}}}\'',
    )
    limit = commands.add_parser(
        "limit-check", help="runs of a job launched at once run one at a time; another location's do not"
    )
    limit.add_argument("--job", required=True, help="a job of the code location limited to one run")
    limit.add_argument("--unlimited-job", default="fan_out_job", help="a job of another location (%(default)s)")
    limit.add_argument("--runs", type=int, default=3, help="runs of each, launched at once (default: %(default)s)")
    limit.add_argument("--control", default="node1", help="lab node running the webserver (default: %(default)s)")
    limit.add_argument("--timeout", type=float, default=600, help="seconds to wait for all (default: %(default)s)")
    ui = commands.add_parser("ui-check", help="open a run's page in headless Chromium: are all its steps succeeded?")
    ui.add_argument("--job", default="fan_out_job", help="check this job's newest run (default: %(default)s)")
    ui.add_argument("--run", help="check this run instead")
    ui.add_argument("--control", default="node1", help="lab node running the webserver (default: %(default)s)")
    ui.add_argument("--screenshot", type=Path, help="where to save the page (default: .lab/<name>/ui-run.png)")
    ui.add_argument(
        "--broker", action="store_true", help="log in to RabbitMQ's management UI (/rabbitmq/) instead of a run page"
    )
    watch = commands.add_parser("monitoring", help="wait until every scrape target is up; print where to look")
    watch.add_argument("--host", default="node1", help="lab node of the monitoring group (default: %(default)s)")
    watch.add_argument("--timeout", type=float, default=180, help="seconds to wait (default: %(default)s)")
    alerts = commands.add_parser(
        "alert-check", help="stop a queue's workers, run a job on it: its alerts fire, then resolve and it succeeds"
    )
    alerts.add_argument("--queue", default="heavy", help="queue whose workers stop (default: %(default)s)")
    alerts.add_argument("--job", default="fan_out_job", help="job with a step on it (default: %(default)s)")
    alerts.add_argument("--host", default="node1", help="lab node of the monitoring group (default: %(default)s)")
    alerts.add_argument("--control", default="node1", help="lab node running the webserver (default: %(default)s)")
    alerts.add_argument(
        "--topology",
        type=Path,
        default=REPO / "inventories/lab/topology.yml",
        help="inventory laid over the nodes (default: %(default)s)",
    )
    alerts.add_argument("--timeout", type=float, default=180, help="seconds each alert may take (default: %(default)s)")
    picture = commands.add_parser("fleet", help="draw the deployment: hosts, groups, queues, releases (live)")
    picture.add_argument(
        "--topology",
        type=Path,
        default=REPO / "inventories/lab/topology.yml",
        help="inventory laid over the nodes (default: %(default)s)",
    )
    picture.add_argument("--from", dest="source", type=Path, help="JSON written by status.yml instead of asking")
    picture.add_argument("--svg", type=Path, help="also write the picture as SVG (Graphviz)")
    build = commands.add_parser("image", help="build node images unless cached")
    build.add_argument(
        "distros", nargs="*", metavar="DISTRO", help=f"one of {', '.join(sorted(image.SUITES))} (default: all)"
    )
    machines = commands.add_parser("vm", help="virtual machines with real kernels (for NFS)")
    vm_commands = machines.add_subparsers(dest="vm_command", required=True)
    vm_start = vm_commands.add_parser("up", help="boot VMs and print their connection details as JSON")
    vm_start.add_argument("machines", nargs="+", metavar="HOST[:MB]", help="hostname and memory (default 1024 MB)")
    vm_start.add_argument("--distro", choices=sorted(image.SUITES), default="debian13")
    vm_start.add_argument(
        "--accel",
        choices=vm.ACCEL_CHOICES,
        default=os.environ.get("LAB_VM_ACCEL", "auto"),
        help="auto tries KVM and falls back to TCG (default: %(default)s, env LAB_VM_ACCEL)",
    )
    vm_commands.add_parser("down", help="stop the VMs, remove their disks, taps, bridge and NAT rules")
    vm_build = vm_commands.add_parser("image", help="build the VM image unless cached")
    vm_build.add_argument("--distro", choices=sorted(image.SUITES), default="debian13")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    lab = nodes.Lab(args.name)
    paths = Paths(state=REPO / ".lab" / args.name, inventory=args.inventory.resolve())
    try:
        if args.command == "up":
            if args.nodes < 1:
                say("error: --nodes must be at least 1")
                return 2
            return up(lab, paths, args.nodes, args.distro)
        if args.command == "logins":
            hashes, passwords = args.hashes or paths.login_hashes, args.passwords or paths.logins
            written = inventory.ensure_logins(hashes, passwords, args.prefix)
            say(f"{'generated' if written else 'kept'} the logins: passwords in {passwords}, hashes in {hashes}")
            return 0
        if args.command == "status":
            return status(lab)
        if args.command == "down":
            return down(lab, paths)
        if args.command == "vm":
            vm_lab = vm.VmLab(args.name, paths.state)
            if args.vm_command == "up":
                try:
                    machines = [parse_machine(index, spec) for index, spec in enumerate(args.machines)]
                except (argparse.ArgumentTypeError, ValueError) as error:
                    say(f"error: {error}")
                    return 2
                return vm_up(vm_lab, paths, machines, args.distro, args.accel)
            if args.vm_command == "down":
                return vm_down(vm_lab, paths)
            say(f"VM image in {image.ensure_vm(args.distro)}")
            return 0
        if args.command == "fleet":
            return draw_fleet(paths, args.topology, args.source, args.svg)
        if args.command == "run-job":
            run_config = job.deployed_run_config(paths.inventory, paths.key, paths.known_hosts, args.control)
            door = job.front_door(paths.state, paths.inventory, args.control)
            run_config = {**run_config, "ops": args.ops_config} if args.ops_config else run_config
            return job.run_job(door, args.job, run_config, args.timeout, paths.logins)
        if args.command == "limit-check":
            run_config = job.deployed_run_config(paths.inventory, paths.key, paths.known_hosts, args.control)
            door = job.front_door(paths.state, paths.inventory, args.control)
            return job.limit_check(door, args.job, args.unlimited_job, run_config, args.runs, args.timeout)
        if args.command == "monitoring":
            watched = monitoring.monitoring_of(paths.inventory, args.host)
            return monitoring.show(watched, args.timeout, monitoring.REMOTE_JOURNAL_DIR)
        if args.command == "alert-check":
            watched = monitoring.monitoring_of(paths.inventory, args.host)
            run_config = job.deployed_run_config(paths.inventory, paths.key, paths.known_hosts, args.control)
            door = job.front_door(paths.state, paths.inventory, args.control)
            inventories = [paths.inventory, args.topology]
            address = job.node_address(paths.inventory, args.host)

            def on_monitoring_host(*command: str) -> str:
                return ssh.run(address, paths.key, paths.known_hosts, *command)

            return monitoring.alert_check(
                watched, door, inventories, args.queue, args.job, run_config, args.timeout, on_monitoring_host
            )
        if args.command == "ui-check":
            door = job.front_door(paths.state, paths.inventory, args.control)
            if args.broker:
                return browser.check_broker(door, args.screenshot or paths.state / "ui-broker.png")
            return browser.check_run(door, args.job, args.run, args.screenshot or paths.state / "ui-run.png")
        unknown = set(args.distros) - set(image.SUITES)
        if unknown:
            say(f"error: unknown distro {', '.join(sorted(unknown))}; choose from {', '.join(sorted(image.SUITES))}")
            return 2
        for distro in args.distros or sorted(image.SUITES):
            built = image.ensure(distro)
            say(f"{image.image_name(distro)} {'built' if built else 'is current'}")
        return 0
    except (docker.DockerError, DagsterError, TimeoutError, RuntimeError, OSError) as error:
        say(f"error: {error}")
        return 1
