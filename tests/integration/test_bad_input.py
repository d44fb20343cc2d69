"""Bad input stops site.yml in preflight, with a clear one-line message, and creates nothing.

Each case runs the real site.yml against the local target with one bad setting, then counts the
deployment's resources of every type through the endpoint: all must be zero.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.conftest import (
    ACCESS_KEY,
    ENDPOINT_URL,
    REGION,
    REPO_ROOT,
    SECRET_KEY,
    playbook_env,
    tail,
)
from tests.resources import count_resources

BAD_NAME = "ecs-dl-bad"

# (id, extra vars, fragment of the message the user must see)
CASES = [
    ("vpc-cidr-invalid", {"network_vpc_cidr": "10.0.0.0/33"}, "network_vpc_cidr"),
    ("vpc-cidr-host-bits", {"network_vpc_cidr": "10.0.0.1/16"}, "host bits"),
    ("vpc-cidr-too-small", {"network_vpc_cidr": "10.0.0.0/29"}, "AWS allows /16 to /28"),
    (
        "subnets-overlap",
        {"network_subnet_cidrs": ["10.0.1.0/24", "10.0.1.128/25"]},
        "overlaps",
    ),
    (
        "subnet-outside-vpc",
        {"network_subnet_cidrs": ["10.0.1.0/24", "192.168.1.0/24"]},
        "is not inside network_vpc_cidr",
    ),
    ("one-subnet", {"network_subnet_cidrs": ["10.0.1.0/24"]}, "exactly 2"),
    ("region-unknown", {"aws_region": "mars-north-1"}, "aws_region"),
    (
        "instance-type-malformed",
        {"spot_fleet_instance_types": ["large"]},
        "not an EC2 instance type",
    ),
    ("instance-type-unknown", {"spot_fleet_instance_types": ["m5.huge"]}, "m5.huge"),
    ("capacity-zero", {"spot_fleet_target_capacity": 0}, "spot_fleet_target_capacity"),
    ("capacity-negative", {"spot_fleet_target_capacity": -2}, "spot_fleet_target_capacity"),
    ("source-cidr-open", {"source_cidr": "0.0.0.0/0"}, "allow_open_source_cidr"),
    ("source-cidr-invalid", {"source_cidr": "300.1.2.3/32"}, "source_cidr"),
    ("jupyter-port-range", {"jupyter_port": 70000}, "jupyter_port"),
    ("ports-equal", {"jupyter_port": 2222, "container_ssh_port": 2222}, "must differ"),
]


def run_site(extra_vars: dict[str, object], *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        ["ansible-playbook", "site.yml", "-e", json.dumps(extra_vars), *args],
        cwd=REPO_ROOT,
        env=env or playbook_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )


def assert_failed_clearly(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0, f"site.yml succeeded with bad input:\n{tail(result.stdout)}"
    lines = [line for line in result.stdout.splitlines() if fragment in line]
    assert lines, f"no line says {fragment!r}:\n{tail(result.stdout)}"
    assert "Traceback" not in result.stdout, tail(result.stdout)


def assert_nothing_created(name: str) -> None:
    counts = count_resources(ENDPOINT_URL, REGION, name, ACCESS_KEY, SECRET_KEY)
    left = {kind: n for kind, n in counts.items() if n}
    assert not left, f"bad input still created {left}"
    assert not (REPO_ROOT / "outputs" / f"{name}.json").exists()
    assert not (REPO_ROOT / ".secrets" / f"{name}.pem").exists()


@pytest.mark.parametrize(("extra", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_in_preflight(local_stack, extra: dict[str, object], fragment: str) -> None:
    result = run_site({"deployment_name": BAD_NAME, **extra})
    assert_failed_clearly(result, fragment)
    assert "preflight" in result.stdout.split("fatal:")[0].rsplit("TASK [", 1)[-1]
    assert_nothing_created(BAD_NAME)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Ecs_DL", "lowercase"),
        ("9lives", "must start with a lowercase letter"),
        ("a" * 30, "3 to 24"),
        ("ecs--dl", "--"),
    ],
)
def test_bad_deployment_name(local_stack, name: str, fragment: str) -> None:
    result = run_site({"deployment_name": name})
    assert_failed_clearly(result, fragment)
    assert_nothing_created(name)


@pytest.fixture
def foreign_listener() -> Iterator[int]:
    """A port on loopback held by something that is not one of the local target's services."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_in_use_is_refused_before_anything_starts(local_stack, foreign_listener: int) -> None:
    result = run_site({"deployment_name": BAD_NAME, "local_stack_sshd_port": foreign_listener})
    assert_failed_clearly(result, "local_stack_sshd_port")
    assert str(foreign_listener) in result.stdout
    assert_nothing_created(BAD_NAME)


def test_jupyter_port_in_use_is_refused_before_anything_is_created(
    local_stack, foreign_listener: int
) -> None:
    result = run_site({"deployment_name": BAD_NAME, "jupyter_port": foreign_listener})
    assert_failed_clearly(result, f"jupyter_port {foreign_listener}")
    assert "already in use by another program" in result.stdout
    assert_nothing_created(BAD_NAME)


def test_missing_credentials_on_aws(tmp_path) -> None:
    """The AWS inventory without credentials: one clear line, no botocore trace, nothing made."""
    env = {k: v for k, v in playbook_env().items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(tmp_path),
    )
    result = run_site(
        {"deployment_name": BAD_NAME, "source_cidr": "203.0.113.7/32"},
        "-i",
        "inventory/aws",
        env=env,
    )
    assert_failed_clearly(result, "No AWS credentials found")
    assert not (REPO_ROOT / "outputs" / f"{BAD_NAME}.json").exists()
    assert os.path.exists(REPO_ROOT / "inventory" / "aws" / "hosts.yml")


def test_missing_source_cidr_on_aws(tmp_path) -> None:
    result = run_site({"deployment_name": BAD_NAME}, "-i", "inventory/aws")
    assert_failed_clearly(result, "source_cidr is required")
