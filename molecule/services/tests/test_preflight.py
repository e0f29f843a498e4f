"""site.yml refuses each bad inventory with a message naming the problem, before any host changes."""

from __future__ import annotations

import copy
import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from helpers.molecule import SHARED_DIR, address, changed_per_host, host, hosts_in, playbook

CONTROL, WORKER = hosts_in("broker")  # the scenario's Debian 12 and Debian 13 service nodes
FIRST_CHANGING_PLAY = "PLAY [Prepare every node]"

Inventory = dict[str, Any]
# The front door's certificate and key: preflight only checks that the files exist (site() writes them).
FRONT_DOOR_FILES = {"front_door_tls_cert_file": "front-door.crt", "front_door_tls_key_file": "front-door.key"}
LOGIN_HASH = bcrypt.hashpw(b"a login password", bcrypt.gensalt(4)).decode()
EXAMPLE_PROJECT = str(Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "files/example_project")


def good_inventory() -> Inventory:
    """One control node (broker, database, control) and one worker, as an operator would write it."""
    return {
        "all": {
            "vars": {
                "ansible_connection": "community.docker.docker",
                "rabbitmq_app_password": secrets.token_urlsafe(24),
                "postgresql_dagster_password": secrets.token_urlsafe(24),
                "rabbitmq_management_password": secrets.token_urlsafe(24),
                "front_door_logins": [
                    {"name": "alice", "role": "operator", "password_hash": LOGIN_HASH},
                    {"name": "bob", "role": "viewer", "password_hash": LOGIN_HASH},
                ],
                **{name: f"{{{{ inventory_dir }}}}/{file}" for name, file in FRONT_DOOR_FILES.items()},
            },
            "children": {
                "broker": {"hosts": {CONTROL: None}},
                "database": {"hosts": {CONTROL: None}},
                "storage": {"hosts": {}},
                "control": {"hosts": {CONTROL: None}},
                "workers": {
                    "hosts": {
                        WORKER: {
                            "dagster_worker_queues": [
                                {"name": "dagster", "concurrency": 2},
                                {"name": "heavy", "concurrency": 1},
                            ]
                        }
                    }
                },
            },
        }
    }


def variables(inventory: Inventory) -> dict[str, Any]:
    result: dict[str, Any] = inventory["all"]["vars"]
    return result


def group(inventory: Inventory, name: str) -> dict[str, Any]:
    result: dict[str, Any] = inventory["all"]["children"][name]
    return result


def queues(*entries: dict[str, Any]) -> Callable[[Inventory], None]:
    def change(inventory: Inventory) -> None:
        group(inventory, "workers")["hosts"][WORKER]["dagster_worker_queues"] = list(entries)

    return change


def set_vars(**values: Any) -> Callable[[Inventory], None]:
    def change(inventory: Inventory) -> None:
        variables(inventory).update(values)

    return change


def host_vars(**values: Any) -> Callable[[Inventory], None]:
    """Set variables on the worker host only."""

    def change(inventory: Inventory) -> None:
        group(inventory, "workers")["hosts"][WORKER].update(values)

    return change


def drop_var(name: str) -> Callable[[Inventory], None]:
    def change(inventory: Inventory) -> None:
        del variables(inventory)[name]

    return change


def set_group(name: str, *hosts: str) -> Callable[[Inventory], None]:
    def change(inventory: Inventory) -> None:
        inventory["all"]["children"].setdefault(name, {})["hosts"] = {h: None for h in hosts}

    return change


# (case, change to the good inventory, what the refusal must say)
BAD_INVENTORIES: list[tuple[str, Callable[[Inventory], None], str]] = [
    ("queue name with @", queues({"name": "gpu@fast", "concurrency": 1}, {"name": "dagster", "concurrency": 1}),
     'queue name(s) "gpu@fast" cannot be used'),
    ("queue name with a space", queues({"name": "big data", "concurrency": 1}, {"name": "dagster", "concurrency": 1}),
     'queue name(s) "big data" cannot be used'),
    ("queue listed twice", queues({"name": "dagster", "concurrency": 1}, {"name": "dagster", "concurrency": 2}),
     "lists dagster more than once"),
    ("concurrency zero", queues({"name": "dagster", "concurrency": 0}),
     "the concurrency of dagster is not a positive integer"),
    ("concurrency negative", queues({"name": "dagster", "concurrency": -2}),
     "the concurrency of dagster is not a positive integer"),
    ("concurrency a word", queues({"name": "dagster", "concurrency": "four"}),
     "concurrency"),
    ("worker serving nothing", queues(),
     f"dagster_worker_queues on {WORKER} is empty"),
    ("default queue unserved", queues({"name": "heavy", "concurrency": 1}),
     "dagster_config_default_queue is dagster but no worker host serves it"),
    ("worker outside the database's allowed hosts", set_vars(postgresql_client_hosts=[CONTROL]),
     f"{WORKER} ("),
    ("empty workers group", set_group("workers"),
     "The workers group is empty"),
    ("no broker", set_group("broker"),
     "The broker group has 0 hosts"),
    ("two databases", set_group("database", CONTROL, WORKER),
     "The database group has 2 hosts"),
    ("two monitoring hosts", set_group("monitoring", CONTROL, WORKER),
     "The monitoring group has 2 hosts"),
    ("missing secret", drop_var("postgresql_dagster_password"),
     f"postgresql_dagster_password on {CONTROL} is missing, shorter than 12 characters, a placeholder"),
    ("placeholder secret", set_vars(rabbitmq_app_password="CHANGE_ME_before_deploying"),
     f"rabbitmq_app_password on {CONTROL} is missing, shorter than 12 characters, a placeholder"),
    ("secret from a vault file that is missing", set_vars(rabbitmq_app_password="{{ vault_rabbitmq_app_password }}"),
     f"rabbitmq_app_password on {CONTROL} is missing, shorter than 12 characters, a placeholder"),
    ("short secret", set_vars(rabbitmq_app_password="s3cret"),
     f"rabbitmq_app_password on {CONTROL} is missing, shorter than 12 characters, a placeholder"),
    ("unsupported distribution", set_vars(preflight_supported_distributions={"Debian": ["11"]}),
     "which the kit does not support"),
    ("unsupported Python", set_vars(preflight_python_versions=["3.9"]),
     "the release is built for 3.9"),
    ("nfs without a storage host", set_vars(shared_storage_mode="nfs"),
     "mode nfs needs exactly one host in the storage group"),
    ("unknown storage mode", set_vars(shared_storage_mode="ceph"),
     "shared_storage_mode=ceph"),
    ("consumer timeout below the run bound", set_vars(rabbitmq_consumer_timeout_seconds=3600),
     "rabbitmq_consumer_timeout_seconds is 3600"),
    ("workers and runs past the database's connections", set_vars(postgresql_max_connections=40),
     "database connections (the database allows 37: postgresql_max_connections less 3"),
    ("workers and runs past the broker's connections", set_vars(rabbitmq_connection_max=20),
     "broker connections (the broker allows 20, rabbitmq_connection_max)"),
    ("TLS without certificates", set_vars(rabbitmq_tls_enabled=True),
     f"rabbitmq_tls_enabled is true on {CONTROL} but rabbitmq_tls_cert_file"),
    ("database TLS without certificates", set_vars(postgresql_tls_enabled=True),
     f"postgresql_tls_enabled is true on {CONTROL} but postgresql_tls_cert_file"),
    ("late ack with unbounded runs", set_vars(dagster_config_run_max_runtime_seconds=0),
     "dagster_config_run_max_runtime_seconds is 0"),
    ("broker password ending in a space", set_vars(rabbitmq_app_password=secrets.token_urlsafe(24) + " "),
     f"rabbitmq_app_password on {CONTROL} is missing, shorter than 12 characters, a placeholder, or starts or "
     "ends with white space"),
    ("broker administrator with a short password", set_vars(rabbitmq_management_password="short"),
     f"rabbitmq_management_password on {CONTROL} is missing, shorter than 12 characters"),
    ("Flower with a short password", set_vars(dagster_control_flower_enabled=True,
                                              dagster_control_flower_password="short"),
     f"dagster_control_flower_password on {CONTROL} is missing, shorter than 12 characters"),
    ("Flower without a password", set_vars(dagster_control_flower_enabled=True),
     f"dagster_control_flower_enabled is true on {CONTROL} but dagster_control_flower_password is not set"),
    ("broker administrator named like the application user", set_vars(rabbitmq_management_user="dagster"),
     f"The broker's management login on {CONTROL} needs a user other than the application user"),
    ("front door without an operator", set_vars(front_door_logins=[{"name": "bob", "role": "viewer",
                                                                      "password_hash": LOGIN_HASH}]),
     f"front_door_logins on {CONTROL} needs at least one operator"),
    ("front door login with a plain password", set_vars(front_door_logins=[{"name": "alice", "role": "operator",
                                                                              "password_hash": "hunter2hunter2"}]),
     "and a bcrypt hash for each"),
    ("two code locations with one name", set_vars(dagster_release_locations=[{"project_dir": EXAMPLE_PROJECT},
                                                                              {"project_dir": EXAMPLE_PROJECT}]),
     "Code location names must be unique"),
    ("a code location that is no project", set_vars(dagster_release_locations=[{"project_dir": "/nonexistent"}]),
     "/nonexistent is not a Python project (no pyproject.toml)"),
    ("a queue served for a location not deployed", queues({"name": "dagster", "concurrency": 1, "locations": ["ml"]}),
     f"dagster_worker_queues on {WORKER} serves queues for code locations that are not deployed: dagster: ml"),
    ("front door without its certificate", drop_var("front_door_tls_cert_file"),
     f"{CONTROL} serves the UI over HTTPS and needs front_door_tls_cert_file"),
    ("a variable the shared names replaced", set_vars(common_dagster_home="/opt/other"),
     "set the shared name instead (see roles/dagster_deployment/README.md): "
     "common_dagster_home -> dagster_deployment_home"),
    ("a host with a shared directory of its own", host_vars(dagster_deployment_shared_dir="/data/other"),
     f"dagster_deployment_shared_dir is /data/other on {WORKER} and {SHARED_DIR} on {CONTROL}"),
    ("a negative tag concurrency limit", set_vars(dagster_config_tag_concurrency_limits=[{"key": "team", "limit": -1}]),
     'dagster_config_tag_concurrency_limits[0].limit is -1, not a whole number of at least 0'),
    ("an unknown pool granularity", set_vars(dagster_config_pool_granularity="step"),
     'dagster_config_pool_granularity is "step", not op or run'),
    ("a negative pool limit", set_vars(dagster_control_concurrency_pools={"warehouse": -2}),
     'dagster_control_concurrency_pools maps each pool\'s name to its limit, a whole number of at least 0: '
     '"warehouse": -2'),
    ("an environment variable named like the kit's", set_vars(dagster_config_secret_environment={"CELERY_X": "v"}),
     "secret_environment name CELERY_X is reserved for the kit, systemd or Python"),
    ("a location's environment variable that is no name", set_vars(dagster_release_locations=[
        {"project_dir": EXAMPLE_PROJECT, "environment": {"9LIVES": "x"}}]),
     'code location example (dagster_release_locations): environment name "9LIVES" is not a variable name'),
    ("a dagster.yaml key Dagster does not have", set_vars(dagster_config_instance_overrides={"run_monitor": {}}),
     'dagster_config_instance_overrides has "run_monitor", which is no key of dagster.yaml'),
]  # fmt: skip


def site(inventory: Inventory, tmp_path: Path, name: str = "site.yml") -> subprocess.CompletedProcess[str]:
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    for file in FRONT_DOOR_FILES.values():
        (tmp_path / file).write_text("stand-in\n")
    return playbook(name, inventory_path=str(path))


def test_the_good_inventory_passes_preflight_without_changes(tmp_path: Path) -> None:
    result = site(good_inventory(), tmp_path, "preflight.yml")
    assert result.returncode == 0, result.stdout[-3000:]
    assert changed_per_host(result.stdout) == {CONTROL: 0, WORKER: 0}


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in BAD_INVENTORIES], ids=[c[0] for c in BAD_INVENTORIES])
def test_a_bad_inventory_is_refused_before_any_host_changes(
    change: Callable[[Inventory], None], message: str, tmp_path: Path
) -> None:
    inventory = copy.deepcopy(good_inventory())
    change(inventory)
    result = site(inventory, tmp_path)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert message in output, output[-3000:]
    assert FIRST_CHANGING_PLAY not in result.stdout
    assert set(changed_per_host(result.stdout).values()) <= {0}, changed_per_host(result.stdout)


def with_kit_config(*args: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook with the kit's own ansible.cfg, as an operator runs it (molecule writes its own)."""
    project = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(project / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(["ansible-playbook", *args], cwd=project, env=env, capture_output=True, text=True)


PRINT_ADDRESSES = """
- name: Print the address each host has in this run, after preflight gathered the facts
  hosts: all
  gather_facts: false
  tasks:
    - name: Gather the facts as preflight does
      ansible.builtin.include_role:
        name: preflight
        tasks_from: facts
    - name: Print them
      ansible.builtin.debug:
        msg: "{{ item }} is at {{ hostvars[item]['ansible_facts']['default_ipv4']['address'] | default('no address') }}"
      loop: "{{ groups['all'] }}"
      run_once: true
"""


def test_facts_of_another_environment_with_the_same_host_names_are_never_used(tmp_path: Path) -> None:
    project = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
    probe = tmp_path / "print_addresses.yml"
    probe.write_text(PRINT_ADDRESSES)
    # Another environment deployed from the same checkout: the same host names, other machines (this one).
    other = tmp_path / "other" / "hosts.yml"
    other.parent.mkdir()
    local = {"ansible_connection": "local"}
    other.write_text(yaml.safe_dump({"all": {"hosts": {CONTROL: local, WORKER: local}}}))
    seen_there = with_kit_config("-i", str(other), str(probe))
    assert seen_there.returncode == 0, seen_there.stdout[-2000:]
    control_address = address(host(CONTROL))
    assert f"{CONTROL} is at {control_address}" not in seen_there.stdout  # it really is another environment

    # This environment, limited to the worker: preflight's facts hold the control node's own address.
    ours = tmp_path / "ours"
    ours.mkdir()
    site(good_inventory(), ours, "preflight.yml")  # writes ours/hosts.yml and the front door's files
    limited = with_kit_config("-i", str(ours / "hosts.yml"), str(probe), "--limit", WORKER)
    assert limited.returncode == 0, limited.stdout[-3000:]
    assert f"{CONTROL} is at {control_address}" in limited.stdout, limited.stdout[-3000:]

    # The lab CA's playbook, run alone, certifies the control node at its own address.
    ca_dir = tmp_path / "ca"
    issued = with_kit_config("-i", str(ours / "hosts.yml"), str(project / "playbooks/lab_ca.yml"),
                             "-e", f"lab_ca_dir={ca_dir}")  # fmt: skip
    assert issued.returncode == 0, issued.stdout[-3000:]
    certificate = ca_dir / f"{CONTROL}.crt"
    names = subprocess.run(["openssl", "x509", "-in", str(certificate), "-noout", "-ext", "subjectAltName"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert f"IP Address:{control_address}" in names, names
