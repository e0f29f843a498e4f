"""The front door: HTTPS with a login for every request, operators to the full UI, viewers to a read-only one,
and nothing behind it reachable from outside the control node."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest
from helpers.molecule import address, front_door, host, hosts_in, password, worker_instance

from lab.dagster_client import Client, DagsterError, basic_auth, location_of
from lab.job import FrontDoor

CONTROL = hosts_in("control")[0]
# What listens behind the door, on the control node.
BEHIND_THE_DOOR = {3000: "webserver", 3001: "read-only webserver", 4000: "code server", 5555: "Flower"}


def fetch(door: FrontDoor, path: str, login: tuple[str, str] | None) -> tuple[int, str]:
    """GET a page through the door (certificate checked against the lab CA): status and body."""
    request = urllib.request.Request(door.url + path, headers={"Authorization": basic_auth(login)} if login else {})
    context = ssl.create_default_context(cafile=str(door.cafile))
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_a_request_without_credentials_or_with_a_wrong_password_gets_401() -> None:
    door = front_door()
    assert fetch(door, "/runs", None)[0] == 401
    assert fetch(door, "/graphql", None)[0] == 401
    assert fetch(door, "/runs", ("operator", door.login[1] + "x"))[0] == 401
    assert fetch(door, "/runs", ("nobody", door.login[1]))[0] == 401


def test_plain_http_only_redirects_to_https() -> None:
    connection = http.client.HTTPConnection(address(host(CONTROL)), 80, timeout=10)
    connection.request("GET", "/runs")
    response = connection.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{address(host(CONTROL))}/runs"


def test_a_viewer_loads_the_runs_page_but_launching_is_refused(client: Client, run_config: dict[str, Any]) -> None:
    viewer = front_door("viewer")
    status, page = fetch(viewer, "/runs", viewer.login)
    assert status == 200 and "<html" in page.lower()
    runs_before = client.run_ids()
    assert viewer.client().run_ids() == runs_before  # the read-only webserver reads the same instance
    with pytest.raises(DagsterError, match="UnauthorizedError"):
        viewer.client().launch(location_of(client, "fan_out_job"), "fan_out_job", run_config)
    assert client.run_ids() == runs_before


def test_an_operator_launches_a_run_and_it_succeeds(client: Client, run_config: dict[str, Any]) -> None:
    run_id = client.launch(location_of(client, "fan_out_job"), "fan_out_job", run_config)
    assert client.wait(run_id, timeout=300) == "SUCCESS"


def test_flower_is_behind_the_door_for_operators_only() -> None:
    operator, viewer = front_door("operator"), front_door("viewer")
    status, page = fetch(operator, "/flower/", operator.login)
    assert status == 200 and "flower" in page.lower()
    assert fetch(viewer, "/flower/", viewer.login)[0] == 401  # the operators' realm does not know the viewer
    assert fetch(viewer, "/flower/", None)[0] == 401


def test_rabbitmq_management_is_behind_the_door_for_operators_only() -> None:
    operator, viewer = front_door("operator"), front_door("viewer")
    status, page = fetch(operator, "/rabbitmq/", operator.login)
    assert status == 200 and "<title>RabbitMQ Management</title>" in page
    # The door presents the broker administrator's login for the operator's; over HTTPS here (TLS is on),
    # with the broker's certificate checked.
    status, body = fetch(operator, "/rabbitmq/api/whoami", operator.login)
    assert status == 200 and json.loads(body)["name"] == "dagster-admin"
    # The request reaches the broker as the client sent it: the vhost "/" stays %2F.
    status, body = fetch(operator, "/rabbitmq/api/vhosts/%2F", operator.login)
    assert status == 200 and json.loads(body)["name"] == "/"
    status, body = fetch(operator, "/rabbitmq/api/queues/dagster?columns=name,consumers", operator.login)
    served = {queue["name"]: queue["consumers"] for queue in json.loads(body)}
    assert status == 200 and served.get(worker_instance("dagster"), 0) > 0, served
    assert fetch(viewer, "/rabbitmq/api/whoami", viewer.login)[0] == 401
    assert fetch(viewer, "/rabbitmq/", None)[0] == 401
    # The broker's own login is no way in: the door knows only its logins.
    broker_administrator = ("dagster-admin", password("rabbitmq_management_password"))
    assert fetch(operator, "/rabbitmq/api/whoami", broker_administrator)[0] == 401
    # Before its login the UI asks for the version and the OAuth settings; the door answers, telling nothing.
    assert fetch(operator, "/rabbitmq/api/version", None) == (200, '"behind-the-front-door"')


@pytest.mark.parametrize("port", sorted(BEHIND_THE_DOOR))
def test_what_is_behind_the_door_listens_on_loopback_only(port: int) -> None:
    listening = host(CONTROL).check_output(f"ss -Hltn 'sport = :{port}'").splitlines()
    local_addresses = {line.split()[3].rsplit(":", 1)[0] for line in listening}
    assert local_addresses == {"127.0.0.1"}, f"the {BEHIND_THE_DOOR[port]} listens on {local_addresses}"
