"""Filter plugin subject_alt_name: the names Jupyter's certificate is made for (secrets role,
tasks_from tls)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import tls as plugin

subject_alt_name = plugin.FilterModule().filters()["subject_alt_name"]


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("127.0.0.1", "IP:127.0.0.1"),
        ("54.210.3.17", "IP:54.210.3.17"),
        ("2600:1f18::1", "IP:2600:1f18::1"),
        ("ec2-54-210-3-17.compute-1.amazonaws.com", "DNS:ec2-54-210-3-17.compute-1.amazonaws.com"),
        ("Jupyter.Example.org", "DNS:jupyter.example.org"),
        ("localhost", "DNS:localhost"),
    ],
)
def test_addresses_and_names(address: str, name: str) -> None:
    assert subject_alt_name(address) == name


@pytest.mark.parametrize(
    "bad", ["", None, "https://example.org/", "two words", "-leading.example", "a..b", "x" * 64]
)
def test_what_no_client_could_match_is_refused(bad: object) -> None:
    with pytest.raises(AnsibleFilterError, match="neither an IP address nor a host name"):
        subject_alt_name(bad)
