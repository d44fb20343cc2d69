"""A Spot Fleet that cannot launch, as AWS shows it: ec2_spot_fleet reads the fleet's history.

The endpoint is the local target's moto (moto_launcher.py, on a free port for this module):
moto_aws_compat.py's fix 9 gives it DescribeSpotFleetRequestHistory and ActivityStatus, and a
fault of moto_faults' POST /_ecs_dl/spot-fleet-faults makes the next fleet fail its launches
with the event AWS records (its EventSubType and EventDescription). The module runs as Ansible
runs it; nothing in it or in boto3 is replaced.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from ansible_collections.ecs_dl.deep_learning.plugins.modules import ec2_spot_fleet as mod

from tests.conftest import moto_launcher

SPOT_FLEET_FAULTS = "/_ecs_dl/spot-fleet-faults"
FLEET_ROLE = "arn:aws:iam::123456789012:role/ecs-dl-spot-fleet"
NO_CAPACITY = (
    "c5.large, ami-0123, Linux/UNIX: InsufficientInstanceCapacity: There is no Spot capacity "
    "available that matches your request."
)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """The local target's moto_launcher (overrides the plain moto of tests/conftest.py)."""
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


def control(url: str, method: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture
def spot_fault(moto_endpoint: str) -> Iterator[Any]:
    """Add a spot fleet fault: spot_fault(sub_type, description, attempts=None, ...)."""
    url = moto_endpoint + SPOT_FLEET_FAULTS
    control(url, "DELETE")

    def add(sub_type: str, description: str = "", **more: Any) -> int:
        body = {"event_sub_type": sub_type, "description": description, **more}
        return int(control(url, "POST", body)["id"])

    yield add
    control(url, "DELETE")


def fleet_args(network: dict, name: str, **more: Any) -> dict:
    return {
        "name": name,
        "target_capacity": 1,
        "iam_fleet_role": FLEET_ROLE,
        "launch_template_id": network["launch_template_id"],
        "instance_types": ["m5.large"],
        "subnet_ids": network["subnets"],
        "wait_timeout": 120,
        **more,
    }


def warnings_of(result: dict) -> str:
    return json.dumps(result.get("warnings", []))  # 2.19: structured


# --- against the local target with AWS's launch failures on ----------------------------------


def test_the_account_quota_fails_at_once_with_how_to_ask_for_more(
    run_module, network, spot_fault
) -> None:
    spot_fault("spotInstanceCountLimitExceeded", "Max spot instance count exceeded")
    started = time.monotonic()
    result = run_module("ec2_spot_fleet", **fleet_args(network, "quota-fleet"), expect_failure=True)
    assert time.monotonic() - started < 30, "waited on an error that never heals"
    msg = result["msg"]
    assert "cannot launch" in msg and "spotInstanceCountLimitExceeded" in msg, msg
    assert "Max spot instance count exceeded" in msg, msg
    assert "aws service-quotas request-service-quota-increase --service-code ec2" in msg, msg
    assert "\n" not in msg
    assert [e["kind"] for e in result["fleet_errors"]] == ["quota"]
    assert result["fleet_errors"][0]["heals"] is False


def test_a_service_linked_role_that_cannot_be_made_fails_with_the_commands(
    run_module, network, spot_fault
) -> None:
    spot_fault(
        "spotFleetRequestConfigurationInvalid",
        "AuthFailure.ServiceLinkedRoleCreationNotPermitted: The provided credentials do not "
        "have permission to create the service-linked role for EC2 Spot Instances.",
    )
    result = run_module("ec2_spot_fleet", **fleet_args(network, "slr-fleet"), expect_failure=True)
    assert "ServiceLinkedRoleCreationNotPermitted" in result["msg"]
    assert (
        "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com"
        in (result["msg"])
    )


def test_no_capacity_is_waited_on_and_reported_when_it_comes_back(
    run_module, network, spot_fault
) -> None:
    # The request's own launch and the first poll find no capacity; the next poll launches.
    spot_fault("allLaunchSpecsTemporarilyBlacklisted", NO_CAPACITY, attempts=2)
    result = run_module("ec2_spot_fleet", **fleet_args(network, "capacity-fleet"))
    assert result["state"] == "active" and len(result["instance_ids"]) == 1
    assert result["activity_status"] == "fulfilled"
    assert [(e["kind"], e["heals"]) for e in result["fleet_errors"]] == [("capacity", True)]
    warnings = warnings_of(result)
    assert "There is no Spot capacity" in warnings and "waiting" in warnings, warnings


def test_an_instance_profile_not_propagated_yet_is_waited_on(
    run_module, network, spot_fault
) -> None:
    # The subtype alone says "configuration invalid" (never heals); the description says more.
    spot_fault(
        "spotFleetRequestConfigurationInvalid",
        "Invalid IAM Instance Profile name: ecs-dl-ecs-instance",
        attempts=2,
    )
    result = run_module("ec2_spot_fleet", **fleet_args(network, "profile-fleet"))
    assert len(result["instance_ids"]) == 1
    assert [e["kind"] for e in result["fleet_errors"]] == ["propagation"]


def test_capacity_that_never_comes_back_times_out_naming_the_error(
    run_module, network, spot_fault
) -> None:
    spot_fault("allLaunchSpecsTemporarilyBlacklisted", NO_CAPACITY)
    started = time.monotonic()
    result = run_module(
        "ec2_spot_fleet",
        **fleet_args(network, "no-capacity-fleet", wait_timeout=6),
        expect_failure=True,
    )
    assert time.monotonic() - started >= 5, "a capacity error must be waited on"
    msg = result["msg"]
    assert "Timed out after 6s" in msg and "activity status error" in msg, msg
    assert "newest launch error: allLaunchSpecsTemporarilyBlacklisted" in msg, msg
    assert "There is no Spot capacity" in msg, msg


# --- the classification table ----------------------------------------------------------------


def record(sub_type: str, description: str = "", event_type: str = "error") -> dict:
    return {
        "EventType": event_type,
        "EventInformation": {"EventSubType": sub_type, "EventDescription": description},
        "Timestamp": datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
    }


@pytest.mark.parametrize(
    ("sub_type", "description", "kind", "heals"),
    [
        ("spotInstanceCountLimitExceeded", "Max spot instance count exceeded", "quota", False),
        ("allLaunchSpecsTemporarilyBlacklisted", "MaxSpotInstanceCountExceeded", "quota", False),
        (
            "launchSpecUnusable",
            "You have requested more vCPU capacity than your current vCPU limit of 4 allows",
            "quota",
            False,
        ),
        ("iamFleetRoleInvalid", "", "permissions", False),
        (
            "allLaunchSpecsTemporarilyBlacklisted",
            "AuthFailure.ServiceLinkedRoleCreationNotPermitted: not permitted",
            "permissions",
            False,
        ),
        ("spotFleetRequestConfigurationInvalid", "The AMI is invalid", "configuration", False),
        ("allLaunchSpecsTemporarilyBlacklisted", NO_CAPACITY, "capacity", True),
        ("launchSpecUnusable", "m5.large, us-east-1a: Spot price too low", "capacity", True),
        (
            "spotFleetRequestConfigurationInvalid",
            "Value (ecs-dl-ecs-instance) for parameter iamInstanceProfile.name is invalid",
            "propagation",
            True,
        ),
        (
            "allLaunchSpecsTemporarilyBlacklisted",
            "Invalid IAM Instance Profile",
            "propagation",
            True,
        ),
        ("launchSpecTemporarilyBlacklisted", "something new", "launch", True),
    ],
)
def test_classification(sub_type: str, description: str, kind: str, heals: bool) -> None:
    error = mod.classify(record(sub_type, description))
    assert (error["kind"], error["heals"]) == (kind, heals)
    assert error["event_sub_type"] == sub_type and error["advice"]
    if not heals:
        assert "waiting" not in error["advice"]
