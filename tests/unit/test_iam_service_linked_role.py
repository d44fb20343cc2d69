"""The Spot service-linked roles: created when missing, left alone when there, never deleted.

Against the local target's moto (moto_launcher.py on a free port for this module): its fix 11
names the roles as AWS does and refuses a second one as AWS does; the fault injector
(/_ecs_dl/faults) denies CreateServiceLinkedRole as an account without the permission does.
The tests run in order on one server: denied first, while no role exists.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import moto_launcher
from tests.unit.conftest import MODULES

SERVICES = ["spot.amazonaws.com", "spotfleet.amazonaws.com"]
IAM_ROLE = Path(__file__).resolve().parents[2] / "roles" / "iam"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


def faults(endpoint: str, method: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        endpoint + "/_ecs_dl/faults",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def spot_roles(aws) -> list[str]:
    return sorted(
        r["RoleName"]
        for r in aws("iam").list_roles(PathPrefix="/aws-service-role/")["Roles"]
        if r["Path"] in {f"/aws-service-role/{s}/" for s in SERVICES}
    )


def test_denied_creation_gives_the_commands_to_run(run_module, moto_endpoint, aws) -> None:
    faults(moto_endpoint, "DELETE")
    faults(
        moto_endpoint,
        "POST",
        {
            "service": "iam",
            "action": "CreateServiceLinkedRole",
            "code": "AccessDenied",
            "count": None,
        },
    )
    try:
        result = run_module(
            "iam_service_linked_role", aws_service_names=SERVICES, expect_failure=True
        )
    finally:
        faults(moto_endpoint, "DELETE")
    msg = result["msg"]
    assert "\n" not in msg and "AccessDenied" in msg, msg
    for service in SERVICES:
        assert f"aws iam create-service-linked-role --aws-service-name {service}" in msg, msg
    assert spot_roles(aws) == []


def test_check_mode_creates_nothing(run_module, aws) -> None:
    result = run_module(
        "iam_service_linked_role", aws_service_names=SERVICES, _ansible_check_mode=True
    )
    assert result["changed"] is True and result["created"] == SERVICES
    assert spot_roles(aws) == []


def test_missing_roles_are_created_once(run_module, aws) -> None:
    first = run_module("iam_service_linked_role", aws_service_names=SERVICES)
    assert first["changed"] is True and first["created"] == SERVICES
    assert first["roles"] == {
        "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
        "spotfleet.amazonaws.com": "AWSServiceRoleForEC2SpotFleet",
    }
    second = run_module("iam_service_linked_role", aws_service_names=SERVICES)
    assert second["changed"] is False and second["created"] == []
    assert second["roles"] == first["roles"]
    assert spot_roles(aws) == ["AWSServiceRoleForEC2Spot", "AWSServiceRoleForEC2SpotFleet"]


def test_the_iam_role_creates_them_and_its_teardown_leaves_them() -> None:
    present = yaml.safe_load((IAM_ROLE / "tasks" / "present.yml").read_text())
    defaults = yaml.safe_load((IAM_ROLE / "defaults" / "main.yml").read_text())
    assert defaults["iam_service_linked_roles"] == SERVICES
    assert any("ecs_dl.deep_learning.iam_service_linked_role" in task for task in present)
    absent_text = (IAM_ROLE / "tasks" / "absent.yml").read_text()
    absent = yaml.safe_load(absent_text)
    for task in absent:
        dumped = json.dumps(task)
        assert "iam_service_linked_role" not in dumped and "AWSServiceRoleFor" not in dumped
        assert "aws-service-role" not in dumped
        for item in task.get("loop", []) if isinstance(task.get("loop"), list) else []:
            assert "service" not in str(item)
    # the roles the absent tasks delete are the deployment's own, not the linked ones
    names = [r["name"] for r in defaults["iam_roles"]]
    assert all(n.startswith("{{ deployment_name }}") for n in names)
    # and the module has no way to delete one
    module = MODULES / "iam_service_linked_role.py"
    assert "delete_service_linked_role" not in module.read_text()
