"""The rabbitmq role's reading of `rabbitmqctl export_definitions -` (plugins/filter): which users
the modules must still touch and whose password differs. The molecule `services` scenario runs it on a real broker:
its idempotence step fails if a converged broker still looks different, and test_broker.py sets a new password."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tests.helpers.modules import load_file

definitions = load_file("plugins/filter/rabbitmq_definitions.py", "rabbitmq_definitions")

# Printed by RabbitMQ 4.0.5's `rabbitmqctl hash_password 'correct horse battery'`.
REAL_HASH = "glNkcjprh4w1ftsAr6AZyRT7fKJw5zQaXFadjK/7Mk+cV8Vk"
SHA256 = "rabbit_password_hashing_sha256"
FULL = {"configure": ".*", "write": ".*", "read": ".*"}
USERS = [{"name": "dagster", "tags": []}, {"name": "dagster-admin", "tags": ["administrator"]}]


def export() -> dict[str, Any]:
    """A converged broker's export, in the shape RabbitMQ 4.0 writes it."""
    return {
        "rabbit_version": "4.0.5",
        "users": [
            {"name": "dagster", "password_hash": REAL_HASH, "hashing_algorithm": SHA256, "tags": [], "limits": {}},
            {
                "name": "dagster-admin",
                "password_hash": REAL_HASH,
                "hashing_algorithm": SHA256,
                "tags": ["administrator"],
                "limits": {},
            },
        ],
        "vhosts": [{"name": "/"}, {"name": "dagster"}],
        "permissions": [
            {"user": "dagster", "vhost": "dagster", **FULL},
            {"user": "dagster-admin", "vhost": "dagster", **FULL},
        ],
        "topic_permissions": [],
    }


def test_rabbitmqs_own_hash_matches_its_password_and_no_other() -> None:
    assert definitions.password_matches(REAL_HASH, SHA256, "correct horse battery")
    assert not definitions.password_matches(REAL_HASH, SHA256, "correct horse battery ")
    assert not definitions.password_matches(REAL_HASH, "rabbit_password_hashing_sha512", "correct horse battery")
    assert not definitions.password_matches("", SHA256, "")
    assert not definitions.password_matches(REAL_HASH, "an_unknown_algorithm", "correct horse battery")


def test_a_converged_broker_leaves_nothing_to_do() -> None:
    assert definitions.rabbitmq_users_to_change(export(), USERS, "dagster") == []
    passwords = {"dagster": "correct horse battery", "dagster-admin": "correct horse battery"}
    assert definitions.rabbitmq_users_with_other_password(export(), passwords) == []


def test_a_missing_user_is_to_create_and_to_give_its_password() -> None:
    broker = export()
    broker["users"] = broker["users"][:1]
    assert definitions.rabbitmq_users_to_change(broker, USERS, "dagster") == [USERS[1]]
    assert definitions.rabbitmq_users_with_other_password(broker, {"dagster-admin": "correct horse battery"}) == [
        "dagster-admin"
    ]


def test_another_password_is_found() -> None:
    passwords = {"dagster": "correct horse battery", "dagster-admin": "a new password"}
    assert definitions.rabbitmq_users_with_other_password(export(), passwords) == ["dagster-admin"]


def test_other_tags_other_rights_rights_elsewhere_or_topic_rights_send_the_user_to_the_module() -> None:
    drifts = []
    changes: tuple[Callable[[dict[str, Any]], object], ...] = (
        lambda broker: broker["users"][0].update(tags=["management"]),
        lambda broker: broker["permissions"][0].update(write="^amq"),
        lambda broker: broker["permissions"].append({"user": "dagster", "vhost": "/", **FULL}),
        lambda broker: broker["permissions"].pop(0),
        lambda broker: broker["topic_permissions"].append(
            {"user": "dagster", "vhost": "dagster", "exchange": "amq.topic", "write": ".*", "read": ".*"}
        ),
    )
    for change in changes:
        broker = copy.deepcopy(export())
        change(broker)
        drifts.append(definitions.rabbitmq_users_to_change(broker, USERS, "dagster"))
    assert drifts == [[USERS[0]]] * 5


def test_tags_as_one_string_from_older_exports_compare_as_a_set() -> None:
    broker = export()
    broker["users"][1]["tags"] = "administrator"
    assert definitions.rabbitmq_users_to_change(broker, USERS, "dagster") == []


def test_names_of_users_and_vhosts_and_an_empty_export_before_the_install() -> None:
    assert definitions.rabbitmq_user_names(export()) == ["dagster", "dagster-admin"]
    assert definitions.rabbitmq_vhost_names(export()) == ["/", "dagster"]
    assert definitions.rabbitmq_users_to_change({}, USERS, "dagster") == USERS
    assert definitions.rabbitmq_users_with_other_password({}, {"dagster": "x"}) == ["dagster"]
