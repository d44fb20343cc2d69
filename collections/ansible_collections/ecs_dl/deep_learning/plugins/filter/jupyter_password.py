# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jupyter password hashes, in the format of jupyter_server.auth.passwd() ("argon2:$argon2id$...").

- ``password | jupyter_password_hash``: a new hash (random salt, so a new value on each call).
- ``hash | jupyter_password_matches(password)``: whether the hash is one of that password.

The secrets role keeps the hash in SSM and makes a new one only when the stored one does not
match the password, so that site.yml stays idempotent.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

try:
    import argon2
except ImportError:  # reported when a filter is used
    argon2 = None

# jupyter_server.auth.security.passwd's argon2 parameters.
_HASHER_SETTINGS = {"memory_cost": 10240, "time_cost": 10, "parallelism": 8}


def _hasher() -> Any:
    if argon2 is None:
        raise AnsibleFilterError(
            "jupyter_password filters need argon2-cffi in the python that runs ansible "
            "(pip install -r requirements.txt)"
        )
    return argon2.PasswordHasher(**_HASHER_SETTINGS)


def jupyter_password_hash(password: str) -> str:
    if not password:
        raise AnsibleFilterError("jupyter_password_hash: the password is empty")
    return "argon2:" + _hasher().hash(password)


def jupyter_password_matches(hashed: str, password: str) -> bool:
    if not hashed or not password or not str(hashed).startswith("argon2:"):
        return False
    try:
        return bool(_hasher().verify(str(hashed).split(":", 1)[1], password))
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "jupyter_password_hash": jupyter_password_hash,
            "jupyter_password_matches": jupyter_password_matches,
        }
