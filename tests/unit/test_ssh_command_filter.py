"""Filter plugin ssh_command: the SSH command lines of the outputs (jupyter_service's `ssh`)."""

from __future__ import annotations

import shlex

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import ssh_command as plugin

ssh_command = plugin.FilterModule().filters()["ssh_command"]

KEY = "/work/ecs-deep-learning/.secrets/ecs-dl.pem"
KNOWN_HOSTS = "/work/ecs-deep-learning/.secrets/ecs-dl-known_hosts"
CONTAINER_OPTIONS = {
    "IdentitiesOnly": "yes",
    "UserKnownHostsFile": KNOWN_HOSTS,
    "HostKeyAlias": "ecs-dl-container",
    "StrictHostKeyChecking": "yes",
}


def test_the_container_command_is_the_one_the_outputs_always_printed():
    assert ssh_command("jovyan@127.0.0.1", KEY, "2222", CONTAINER_OPTIONS) == (
        f"ssh -i {KEY} -p 2222 -o IdentitiesOnly=yes -o UserKnownHostsFile={KNOWN_HOSTS}"
        " -o HostKeyAlias=ecs-dl-container -o StrictHostKeyChecking=yes jovyan@127.0.0.1"
    )


def test_the_instance_command_puts_the_inventorys_ssh_args_in_as_they_are():
    args = "-o IdentitiesOnly=yes -o ProxyCommand='nc %h %p'"
    assert ssh_command("ec2-user@10.0.1.5", KEY, 22, args=f" {args} ") == (
        f"ssh -i {KEY} -p 22 {args} ec2-user@10.0.1.5"
    )


@pytest.mark.parametrize("args", ["", "   "])
def test_no_args_add_nothing(args):
    assert ssh_command("u@h", KEY, 22, args=args) == f"ssh -i {KEY} -p 22 u@h"


def test_boolean_options_are_yes_or_no():
    command = ssh_command("u@h", KEY, 22, {"IdentitiesOnly": True, "ForwardAgent": False})
    assert command.endswith("-o IdentitiesOnly=yes -o ForwardAgent=no u@h")


def test_what_a_shell_would_split_is_quoted():
    command = ssh_command("u@h", "/home/a b/.secrets/k.pem", 22, {"UserKnownHostsFile": "/a b/kh"})
    assert shlex.split(command) == [
        "ssh", "-i", "/home/a b/.secrets/k.pem", "-p", "22",
        "-o", "UserKnownHostsFile=/a b/kh", "u@h",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("", KEY, 22), "no destination"),
        (("u@h", None, 22), "no identity"),
        (("u@h", KEY, ""), "no port"),
        (("u@h", KEY, 22, ["-o", "A=b"]), "options is not a mapping"),
        (("u@h", KEY, 22, {}, ["-v"]), "args is not a string"),
    ],
)
def test_what_makes_no_command_is_refused(arguments, message):
    with pytest.raises(AnsibleFilterError, match=message):
        ssh_command(*arguments)
