"""Compare the broker's exported definitions with the users the role keeps.

`rabbitmqctl export_definitions -` reads every user, permission and vhost in
one call; each rabbitmq_user call costs three or four rabbitmqctl calls. With
these filters a converged broker costs the one export, and the modules run
only for what differs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

_HASHES = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}
_FULL_RIGHTS = {"configure": ".*", "write": ".*", "read": ".*"}


def password_matches(password_hash: str, algorithm: str, password: str) -> bool:
    """RabbitMQ stores base64(salt + H(salt + password)) with a 4-byte salt."""
    hash_function = _HASHES.get(algorithm)
    if hash_function is None or not password_hash:
        return False
    stored = base64.b64decode(password_hash)
    salt, digest = stored[:4], stored[4:]
    return hmac.compare_digest(hash_function(salt + password.encode()).digest(), digest)


def _users_by_name(definitions: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {user["name"]: user for user in definitions.get("users", [])}


def _tags(user: dict[str, Any]) -> set[str]:
    tags = user.get("tags", [])
    # Exports before RabbitMQ 3.9 give the tags as one comma-separated string.
    return set(tags.split(",") if isinstance(tags, str) else tags) - {""}


def rabbitmq_users_to_change(
    definitions: dict[str, Any], users: list[dict[str, Any]], vhost: str
) -> list[dict[str, Any]]:
    """The users that are missing, or whose tags or rights differ from full rights on vhost only."""
    existing = _users_by_name(definitions)
    changes = []
    for user in users:
        name = user["name"]
        rights = [
            {key: permission[key] for key in ("vhost", *_FULL_RIGHTS)}
            for permission in definitions.get("permissions", [])
            if permission["user"] == name
        ]
        topic_rights = [
            permission for permission in definitions.get("topic_permissions", []) if permission["user"] == name
        ]
        if (
            name not in existing
            or _tags(existing[name]) != set(user["tags"])
            or rights != [{"vhost": vhost, **_FULL_RIGHTS}]
            or topic_rights
        ):
            changes.append(user)
    return changes


def rabbitmq_users_with_other_password(definitions: dict[str, Any], passwords: dict[str, str]) -> list[str]:
    """The names of the users that are missing or whose password is not the one given."""
    existing = _users_by_name(definitions)
    return [
        name
        for name, password in passwords.items()
        if name not in existing
        or not password_matches(
            existing[name].get("password_hash", ""), existing[name].get("hashing_algorithm", ""), password
        )
    ]


def rabbitmq_user_names(definitions: dict[str, Any]) -> list[str]:
    return sorted(_users_by_name(definitions))


def rabbitmq_vhost_names(definitions: dict[str, Any]) -> list[str]:
    return sorted(vhost["name"] for vhost in definitions.get("vhosts", []))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "rabbitmq_users_to_change": rabbitmq_users_to_change,
            "rabbitmq_users_with_other_password": rabbitmq_users_with_other_password,
            "rabbitmq_user_names": rabbitmq_user_names,
            "rabbitmq_vhost_names": rabbitmq_vhost_names,
        }
