"""Filter plugin jupyter_password: hashes in jupyter_server.auth.passwd()'s argon2 format."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import jupyter_password

FILTERS = jupyter_password.FilterModule().filters()
hash_of = FILTERS["jupyter_password_hash"]
matches = FILTERS["jupyter_password_matches"]


def test_the_hash_has_jupyter_servers_format_and_parameters() -> None:
    hashed = hash_of("s3cret-Pass")
    algorithm, _, digest = hashed.partition(":")
    assert algorithm == "argon2"
    # jupyter_server.auth.security.passwd: argon2id, memory 10240 KiB, 10 passes, 8 lanes.
    assert digest.startswith("$argon2id$v=19$m=10240,t=10,p=8$")
    assert "s3cret-Pass" not in hashed


def test_each_hash_is_salted_and_matches_only_its_password() -> None:
    first, second = hash_of("pw-one"), hash_of("pw-one")
    assert first != second
    assert matches(first, "pw-one") and matches(second, "pw-one")
    assert not matches(first, "pw-two")


@pytest.mark.parametrize(
    "stored", ["", "sha1:abc:def", "argon2:not-a-hash", "argon2:", None], ids=repr
)
def test_anything_else_never_matches(stored: str | None) -> None:
    assert matches(stored, "pw") is False


def test_an_empty_password_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="empty"):
        hash_of("")
    assert matches(hash_of("pw"), "") is False
