"""Reach the nodes of the running molecule scenario and the secrets it generated."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import testinfra
import yaml
from testinfra.host import Host
from testinfra.utils.ansible_runner import AnsibleRunner

from lab.dagster_client import Client
from lab.job import FrontDoor
from lab.names import shared_names

# The scenarios deploy with the shared names' defaults (role dagster_deployment).
NAMES = shared_names([])
USER: str = NAMES["dagster_deployment_user"]
CONFIG_DIR: str = NAMES["dagster_deployment_config_dir"]
HOME: str = NAMES["dagster_deployment_home"]
STATE_DIR: str = NAMES["dagster_deployment_state_dir"]
SHARED_DIR: str = NAMES["dagster_deployment_shared_dir"]

# The scenarios deploy the example project: one code location, whose workers are <location>.<queue>.
LOCATION = "example"


def worker_instance(queue: str, location: str = LOCATION) -> str:
    """The worker of a location's queue: its systemd instance, broker queue and Celery node name before '@'."""
    return f"{location}.{queue}"


def worker_unit(queue: str, location: str = LOCATION) -> str:
    return f"dagster-celery-worker@{worker_instance(queue, location)}.service"


def inventory() -> str:
    """The scenario's whole inventory directory: molecule's hosts plus linked topology and vars."""
    return str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)


def hosts_in(group: str) -> list[str]:
    """Names of the scenario's hosts in an inventory group."""
    return sorted(AnsibleRunner(inventory()).get_hosts(group))


def host(name: str) -> Host:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory()}")


def secret(name: str) -> str:
    """A secret the scenario generated with the password lookup (see molecule.yml)."""
    return (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets" / name).read_text().split()[0]


def password(name: str) -> str:
    """A password the scenario generated: the random part, after the scenario's molecule_password_prefix of
    special characters if it sets one."""
    variables = AnsibleRunner(inventory()).get_variables(hosts_in("all")[0])
    return str(variables.get("molecule_password_prefix", "")) + secret(name)


def address(node: Host) -> str:
    """The node's primary IPv4 address, as the roles see it."""
    facts = node.ansible("setup", "filter=ansible_default_ipv4", check=False)
    return str(facts["ansible_facts"]["ansible_default_ipv4"]["address"])


def front_door(role: str = "operator") -> FrontDoor:
    """The control host's front door with the login converge.yml generated for `role` (operator or viewer)."""
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    logins = yaml.safe_load((ephemeral / "secrets" / "logins.yml").read_text())
    url = f"https://{address(host(hosts_in('control')[0]))}"
    return FrontDoor(url, ephemeral / "ca" / "ca.crt", (role, logins[role]))


def webserver() -> Client:
    """A GraphQL client of the Dagster UI through the front door, as an operator."""
    return front_door().client()


def wait_for_webserver(client: Client, timeout: float = 180) -> None:
    """Until the webserver answers GraphQL again (after a restart of the control services)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.run_ids()
            return
        except OSError:
            assert time.monotonic() < deadline, "the webserver did not come back"
            time.sleep(2)


def deployed_run_config(step_seconds: int | None = None) -> dict[str, Any]:
    """The run config the kit deployed (executor settings); with step_seconds, long_steps_job's ops sleep that long."""
    text = host(hosts_in("control")[0]).file(f"{CONFIG_DIR}/run_config.yaml").content_string
    config: dict[str, Any] = yaml.safe_load(text)
    if step_seconds is None:
        return config
    seconds = {"config": {"seconds": step_seconds}}
    return {**config, "ops": {"sleep_on_default": seconds, "long_step": seconds}}


def held_run_config(seconds: int, release_file: str) -> dict[str, Any]:
    """long_steps_job's steps take at least `seconds` and go on until release_file exists (shared storage)."""
    hold = {"config": {"seconds": seconds, "until_exists": release_file, "max_seconds": 1800}}
    return {**deployed_run_config(), "ops": {"sleep_on_default": hold, "long_step": hold}}


def rollout_run_config(release_file: str, link_seconds: int) -> dict[str, Any]:
    """rollout_job's config: its two parallel steps run until release_file exists, each link of its chain
    takes link_seconds."""
    config = held_run_config(link_seconds, release_file)
    links = {f"link_{index}": {"config": {"seconds": link_seconds}} for index in range(1, 4)}
    return {**config, "ops": {**config["ops"], **links}}


RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=\d+\s+changed=(?P<changed>\d+)", re.MULTILINE)


def changed_per_host(output: str) -> dict[str, int]:
    """changed= per host from the PLAY RECAP of ansible-playbook output."""
    return {m["host"]: int(m["changed"]) for m in RECAP.finditer(output)}


def playbook(name: str, *extra: str, inventory_path: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one of the kit's playbooks (site.yml, playbooks/<name>, or a path) as molecule's provisioner does."""
    project = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(project / "roles"), ANSIBLE_FORCE_COLOR="0")
    config = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.cfg"
    if config.exists():
        env["ANSIBLE_CONFIG"] = str(config)
    path = project / name if name == "site.yml" else project / "playbooks" / name
    return subprocess.run(
        ["ansible-playbook", "-i", inventory_path or inventory(), str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
    )


def record_figure(file: str, name: str, value: dict[str, Any]) -> None:
    """Keep a figure for the README and the closing note in .cache/<file> of the project (the assertions are in
    the tests)."""
    path = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".cache" / file
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = value
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(figures, indent=2))


def active_tasks_of(run_id: str) -> list[str]:
    """Task ids of the run's steps that some worker is running now."""
    answer = host(hosts_in("workers")[0]).check_output("dagster-celery inspect active --json --timeout=10")
    return [
        task["id"]
        for tasks in json.loads(answer).values()
        for task in tasks
        if run_id in json.dumps(task.get("kwargs", {}))
    ]


def sql(query: str) -> str:
    """A query on the Dagster database, as PostgreSQL's superuser on the database host."""
    database = NAMES["dagster_deployment_database_name"]
    return host(hosts_in("database")[0]).check_output(
        f"runuser -u postgres -- psql -d {database} -Atc {shlex.quote(query)}"
    )


def pool_slots_held(run_id: str) -> int:
    """How many pool slots a run holds (Dagster's concurrency_slots table)."""
    return int(sql(f"select count(*) from concurrency_slots where run_id = '{run_id}'"))
