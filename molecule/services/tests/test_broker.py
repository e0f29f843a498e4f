"""RabbitMQ behaves as Celery needs it, seen from another node over the network."""

from __future__ import annotations

import base64
import json
import secrets
import shlex
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from helpers.molecule import address, host, hosts_in, password, playbook, secret

# One pytest process runs these in order (see molecule.yml): a test changes what the others read.
pytestmark = pytest.mark.xdist_group("broker")

BROKERS = hosts_in("broker")
CLIENT = host(hosts_in("workers")[0])
SET_PASSWORD = Path(__file__).resolve().parent.parent / "set_password.yml"

# Runs on the client node: log in, publish one message, get it back; prints the
# outcome as JSON so the test can assert on what happened, not on an exit code.
AMQP_PROBE = """
import json, sys, amqp
host, user, password, vhost = sys.argv[1:5]
try:
    conn = amqp.Connection(host=host + ":5672", userid=user, password=password,
                           virtual_host=vhost, connect_timeout=10)
    conn.connect()
except Exception as error:
    print(json.dumps({"login": False, "error": type(error).__name__ + ": " + str(error)}))
    sys.exit(0)
channel = conn.channel()
queue = "molecule-probe"
channel.queue_declare(queue, durable=False, auto_delete=False)
channel.basic_publish(amqp.Message("ping from the client"), routing_key=queue)
message = None
for _ in range(50):
    message = channel.basic_get(queue, no_ack=True)
    if message is not None:
        break
channel.queue_delete(queue)
conn.close()
print(json.dumps({"login": True, "body": message.body if message else None}))
"""


def probe(broker: str, user: str, password: str, vhost: str) -> dict[str, object]:
    args = " ".join(shlex.quote(a) for a in (address(host(broker)), user, password, vhost))
    result = CLIENT.run(f"python3 -c {shlex.quote(AMQP_PROBE)} {args}")
    assert result.rc == 0, result.stderr
    outcome: dict[str, object] = json.loads(result.stdout)
    return outcome


@pytest.mark.parametrize("broker", BROKERS)
def test_app_user_publishes_and_consumes_on_its_vhost(broker: str) -> None:
    outcome = probe(broker, "dagster", password("rabbitmq_app_password"), "dagster")
    assert outcome == {"login": True, "body": "ping from the client"}


@pytest.mark.parametrize("broker", BROKERS)
def test_guest_cannot_log_in(broker: str) -> None:
    # Checked locally: RabbitMQ refuses remote guest logins by default anyway,
    # so only a local attempt shows whether the role removed the account.
    result = host(broker).run("rabbitmqctl authenticate_user guest guest")
    assert result.rc != 0
    listing = host(broker).check_output("rabbitmqctl list_users --quiet --no-table-headers")
    assert {line.split()[0] for line in listing.splitlines() if line.strip()} == {"dagster", "dagster-admin"}


@pytest.mark.parametrize("broker", BROKERS)
def test_app_user_has_no_rights_on_other_vhosts(broker: str) -> None:
    outcome = probe(broker, "dagster", password("rabbitmq_app_password"), "/")
    assert outcome["login"] is False


@pytest.mark.parametrize("broker", BROKERS)
def test_wrong_password_is_refused(broker: str) -> None:
    outcome = probe(broker, "dagster", "not-the-password", "dagster")
    assert outcome["login"] is False


@pytest.mark.parametrize("broker", BROKERS)
def test_consumer_timeout_is_sized_for_long_steps(broker: str) -> None:
    node = host(broker)
    out = node.check_output("rabbitmqctl eval 'application:get_env(rabbit, consumer_timeout).'")
    assert out.strip() == "{ok,86400000}"


def management_get(broker: str, path: str, login: tuple[str, str] | None) -> tuple[int, object]:
    """GET the management API under its path prefix, from the docker host (another machine): status and JSON."""
    url = f"http://{address(host(broker))}:15672/rabbitmq/api{path}"
    headers = {"Authorization": "Basic " + base64.b64encode(":".join(login).encode()).decode()} if login else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


@pytest.mark.parametrize("broker", BROKERS)
def test_the_management_api_answers_its_administrator_only(broker: str) -> None:
    administrator = ("dagster-admin", password("rabbitmq_management_password"))
    assert management_get(broker, "/overview", None)[0] == 401
    assert management_get(broker, "/overview", ("dagster", password("rabbitmq_app_password")))[0] == 401
    status, whoami = management_get(broker, "/whoami", administrator)
    assert status == 200 and isinstance(whoami, dict)
    assert whoami["name"] == "dagster-admin"
    assert "administrator" in whoami["tags"]  # a list on 4.0, a comma-separated string on older releases
    status, queues = management_get(broker, "/queues/dagster", administrator)
    assert status == 200 and isinstance(queues, list)


@pytest.mark.parametrize("broker", BROKERS)
def test_amqp_listens_on_loopback_and_primary_address_only(broker: str) -> None:
    node = host(broker)
    listeners = {s for s in node.socket.get_listening_sockets() if s.endswith(":5672")}
    assert listeners == {"tcp://127.0.0.1:5672", f"tcp://{address(node)}:5672"}


@pytest.mark.parametrize("broker", BROKERS)
def test_prometheus_metrics_are_served_on_the_primary_address(broker: str) -> None:
    metrics = CLIENT.check_output(f"curl -sf http://{address(host(broker))}:15692/metrics")
    assert "rabbitmq_identity_info" in metrics or "rabbitmq_build_info" in metrics
    assert "rabbitmq_queues" in metrics


@pytest.mark.parametrize("broker", BROKERS)
def test_the_running_broker_has_exactly_the_plugins_the_role_lists(broker: str) -> None:
    # -E: explicitly enabled (what enabled_plugins names); the broker reports them running.
    out = host(broker).check_output("rabbitmq-plugins list -E --minimal")
    listed = {line.strip() for line in out.splitlines() if line.strip().startswith("rabbitmq_")}
    assert listed == {"rabbitmq_management", "rabbitmq_prometheus"}
    running = host(broker).check_output("rabbitmqctl eval 'rabbit_plugins:active().'")
    assert "rabbitmq_management" in running and "rabbitmq_prometheus" in running


def set_password_while_watching(broker: str, new_password: str) -> str:
    """Run the role's user tasks with `new_password` while the broker samples its process list; the samples."""
    node = host(broker)
    node.check_output("systemd-run --unit=ps-sampler --collect sh -c 'while :; do ps -eo args; done > /tmp/ps-samples'")
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as extra:
            yaml.safe_dump({"rabbitmq_app_password": new_password}, extra)
            extra.flush()
            result = playbook(str(SET_PASSWORD), "-e", f"@{extra.name}", "--limit", broker)
        assert result.returncode == 0, result.stdout[-3000:]
    finally:
        node.run("systemctl stop ps-sampler")
    return node.check_output("cat /tmp/ps-samples")


@pytest.mark.parametrize("broker", BROKERS)
def test_the_password_never_shows_in_the_process_list_while_it_is_set(broker: str) -> None:
    scenario_password, random_part = password("rabbitmq_app_password"), secret("rabbitmq_app_password")
    new_random_part = secrets.token_hex(16)
    new_password = scenario_password.replace(random_part, new_random_part)
    changed = set_password_while_watching(broker, new_password)
    assert probe(broker, "dagster", new_password, "dagster")["login"] is True
    restored = set_password_while_watching(broker, scenario_password)
    assert probe(broker, "dagster", scenario_password, "dagster")["login"] is True
    for samples in (changed, restored):
        # The sampler saw the commands that carry the password, so it would have seen the password in them.
        assert "authenticate_user dagster" in samples and "change_password dagster" in samples
        assert random_part not in samples and new_random_part not in samples
