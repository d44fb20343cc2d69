"""The local target lives in inventory/local and in the local_stack role, nowhere else (issue 16).

An AWS role names nothing of the local target: what differs there (how the instances are
reached, Docker without root, the registry's scheme, the offline base image, ...) is set by
inventory/local, and the local-only steps are local_stack's, called from the playbooks. The AWS
inventory gives the instances the connection they had before (checked through Ansible).
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))


def test_no_role_but_local_stack_names_the_local_target() -> None:
    # The issue's own check, as a person would type it.
    found = subprocess.run(
        "grep -rn 'local_target\\|local_stack' roles/ --include=*.yml"
        " | grep -v '^roles/local_stack/'",
        shell=True, capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert found.stdout == "", f"roles that name the local target:\n{found.stdout}"


PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "instance_connection.yml"


@pytest.fixture
def connection(tmp_path: Path):
    """Run the play with an inventory; the instance's connection as the inventory makes it."""
    join = (ROOT / "roles" / "spot_fleet" / "tasks" / "join.yml").read_text()
    add_host = join[join.index("- name: Add the instances to the inventory") :]
    add_host = add_host[: add_host.index("\n- name:")]
    (tmp_path / "add_host.yml").write_text(
        "---\n"
        + add_host
        + "\n  vars:\n"
        + "    spot_fleet_ssh_user: ec2-user\n"
        + "    spot_fleet_known_hosts: /secrets/ecs-dl-known_hosts\n"
        + "    spot_fleet_ssh_keepalive_interval: 30\n"
        + "    spot_fleet_ssh_keepalive_count: 6\n"
    )
    report = tmp_path / "connection.json"

    def run(inventory: str) -> dict:
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
        result = subprocess.run(
            [ANSIBLE_PLAYBOOK, "-i", str(ROOT / "inventory" / inventory), str(PLAYBOOK),
             "-e", f"add_host={tmp_path / 'add_host.yml'}", "-e", f"report={report}"],
            capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        return json.loads(report.read_text())

    return run


def test_aws_instances_are_reached_as_before(connection) -> None:
    aws = connection("aws")
    hostvars = aws.pop("hostvars")
    assert aws == {
        "host": "203.0.113.9",
        "port": 22,
        "user": "ec2-user",
        "connection": "ssh",
        "python": "auto_silent",
        "key": "/keys/ecs-dl.pem",
        "ssh_args": (
            "-o IdentitiesOnly=yes -o UserKnownHostsFile=/secrets/ecs-dl-known_hosts"
            " -o StrictHostKeyChecking=accept-new -o ServerAliveInterval=30"
            " -o ServerAliveCountMax=6"
        ).split(),
        "type": "m5.large",
        "become": ["role default", "role default"],
    }
    # What plays on localhost read of it through hostvars (jupyter_service: its SSH command).
    assert hostvars == [aws["host"], aws["port"], aws["user"], aws["ssh_args"]]


def test_local_instances_are_the_local_sshd(connection) -> None:
    local = connection("local")
    assert local["host"] == "127.0.0.1"
    assert local["port"] == 5102
    assert local["user"] == getpass.getuser()
    hostvars = local.pop("hostvars")
    assert hostvars == [local["host"], local["port"], local["user"], local["ssh_args"]]
    assert Path(local["python"]).name.startswith("python")  # ansible_playbook_python
    assert " ".join(local["ssh_args"]) == (
        f"-o IdentitiesOnly=yes -o UserKnownHostsFile={ROOT}/.local/sshd/known_hosts"
        " -o StrictHostKeyChecking=yes -o ServerAliveInterval=30 -o ServerAliveCountMax=6"
    )
    assert local["become"] == [False, False]
