"""Unit tests for the module ec2_spot_fleet: the boto3-calling functions are replaced by a fake."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import (
    AWSRetry,
    RetryingBotoClientWrapper,
)
from ansible_collections.ecs_dl.deep_learning.plugins.modules import ec2_spot_fleet as mod

PRESENT = {
    "name": "ecs-dl-fleet",
    "target_capacity": 2,
    "iam_fleet_role": "arn:aws:iam::123456789012:role/fleet",
    "launch_template_id": "lt-0123",
    "instance_types": ["m5.large", "c5.large"],
    "subnet_ids": ["subnet-a", "subnet-b"],
    "tags": {"Deployment": "ecs-dl"},
    "region": "us-east-1",
}


class FakeFleets:
    """In-memory Spot Fleet API; instances appear as soon as a fleet is requested or grown."""

    def __init__(self) -> None:
        self.requests: dict[str, dict] = {}
        self.instances: dict[str, dict] = {}  # instance id -> {"fleet": id, "state": name}
        self.calls: list[tuple] = []
        self.fulfil = True
        self.history: dict[str, list[dict]] = {}  # request id -> error/information records

    def add(
        self,
        request_id: str,
        name: str,
        state: str = "active",
        capacity: int = 2,
        tags: dict | None = None,
    ) -> None:
        self.requests[request_id] = {
            "SpotFleetRequestId": request_id,
            "SpotFleetRequestState": state,
            "SpotFleetRequestConfig": {
                "TargetCapacity": capacity,
                "FulfilledCapacity": 0.0,
                "IamFleetRole": PRESENT["iam_fleet_role"],
                "AllocationStrategy": "capacityOptimized",
            },
            "Tags": [{"Key": k, "Value": v} for k, v in {"Name": name, **(tags or {})}.items()],
        }
        self._launch(request_id)

    def _launch(self, request_id: str) -> None:
        if not self.fulfil:
            return
        config = self.requests[request_id]["SpotFleetRequestConfig"]
        running = [i for i, v in self.instances.items() if v["fleet"] == request_id]
        for n in range(len(running), config["TargetCapacity"]):
            self.instances[f"i-{request_id[-3:]}{n}"] = {"fleet": request_id, "state": "running"}
        config["FulfilledCapacity"] = float(config["TargetCapacity"])

    # the module's boto3 functions
    def describe_fleet_requests(self, client: Any, request_ids: list[str] | None = None) -> list:
        self.calls.append(("describe", request_ids))
        return [r for i, r in self.requests.items() if not request_ids or i in request_ids]

    def request_fleet(self, client: Any, config: dict) -> str:
        self.calls.append(("request", config))
        request_id = f"sfr-{len(self.requests):03d}"
        tags = {t["Key"]: t["Value"] for t in config["TagSpecifications"][0]["Tags"]}
        name = tags.pop("Name")
        self.add(request_id, name, capacity=config["TargetCapacity"], tags=tags)
        return request_id

    def modify_fleet_capacity(self, client: Any, request_id: str, target: int) -> None:
        self.calls.append(("modify", request_id, target))
        self.requests[request_id]["SpotFleetRequestConfig"]["TargetCapacity"] = target
        self._launch(request_id)

    def cancel_fleets(self, client: Any, request_ids: list[str], terminate: bool) -> dict:
        self.calls.append(("cancel", request_ids, terminate))
        for request_id in request_ids:
            self.requests[request_id]["SpotFleetRequestState"] = "cancelled"
            for v in self.instances.values():
                if v["fleet"] == request_id and terminate:
                    v["state"] = "terminated"
        return {"SuccessfulFleetRequests": [], "UnsuccessfulFleetRequests": []}

    def describe_fleet_instance_ids(self, client: Any, request_id: str) -> list[str]:
        return sorted(
            i
            for i, v in self.instances.items()
            if v["fleet"] == request_id and v["state"] == "running"
        )

    def describe_instances(self, client: Any, instance_ids: list[str]) -> list[dict]:
        return [
            {
                "InstanceId": i,
                "InstanceType": "m5.large",
                "ImageId": "ami-1",
                "Placement": {"AvailabilityZone": "us-east-1a"},
                "PrivateIpAddress": "10.0.0.1",
                "State": {"Name": self.instances[i]["state"]},
            }
            for i in instance_ids
            if i in self.instances
        ]

    def describe_fleet_history(self, client: Any, request_id: str, start_time: Any) -> list:
        self.calls.append(("history", request_id))
        return self.history.get(request_id, [])

    def mutating_calls(self) -> list[tuple]:
        return [c for c in self.calls if c[0] in ("request", "modify", "cancel")]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeFleets:
    api = FakeFleets()
    clock = {"t": 0.0}
    monkeypatch.setattr(mod, "connect", lambda module: object())
    for name in (
        "describe_fleet_requests",
        "request_fleet",
        "modify_fleet_capacity",
        "cancel_fleets",
        "describe_fleet_instance_ids",
        "describe_instances",
        "describe_fleet_history",
    ):
        monkeypatch.setattr(mod, name, getattr(api, name))
    monkeypatch.setattr(mod, "now", lambda: clock["t"])
    monkeypatch.setattr(mod, "sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    return api


def run(capsys: pytest.CaptureFixture, args: dict, check_mode: bool = False) -> dict:
    if check_mode:
        args = {**args, "_ansible_check_mode": True}
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        mod.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exit_info.value.code
    return result


def test_creates_fleet_when_none_is_tagged(fake: FakeFleets, capsys) -> None:
    fake.add("sfr-old", "ecs-dl-fleet", state="cancelled")  # ignored
    fake.add("sfr-other", "someone-else")  # ignored
    result = run(capsys, PRESENT)
    assert result["rc"] == 0 and result["changed"] is True
    request = [c for c in fake.calls if c[0] == "request"][0][1]
    assert request["Type"] == "maintain"
    assert request["TerminateInstancesWithExpiration"] is True
    assert request["AllocationStrategy"] == "capacityOptimized"
    ltc = request["LaunchTemplateConfigs"][0]
    assert ltc["LaunchTemplateSpecification"] == {
        "LaunchTemplateId": "lt-0123",
        "Version": "$Latest",
    }
    assert len(ltc["Overrides"]) == 4  # 2 instance types x 2 subnets
    assert request["TagSpecifications"][0]["ResourceType"] == "spot-fleet-request"
    assert {"Key": "Name", "Value": "ecs-dl-fleet"} in request["TagSpecifications"][0]["Tags"]
    assert result["state"] == "active"
    assert result["target_capacity"] == 2 and result["fulfilled_capacity"] == 2.0
    assert (
        result["instance_ids"] == sorted(result["instance_ids"])
        and len(result["instance_ids"]) == 2
    )
    assert set(result["instances"][0]) >= {
        "instance_id",
        "instance_type",
        "private_ip_address",
        "public_ip_address",
        "availability_zone",
        "image_id",
        "state",
    }


def test_found_by_name_tag_is_not_created_again(fake: FakeFleets, capsys) -> None:
    fake.add("sfr-1", "ecs-dl-fleet", tags={"Deployment": "ecs-dl"})
    result = run(capsys, PRESENT)
    assert result["changed"] is False
    assert result["spot_fleet_request_id"] == "sfr-1"
    assert fake.mutating_calls() == []
    assert not result.get("warnings")


def test_capacity_change_modifies_the_request(fake: FakeFleets, capsys) -> None:
    fake.add("sfr-1", "ecs-dl-fleet", tags={"Deployment": "ecs-dl"})
    result = run(capsys, {**PRESENT, "target_capacity": 3})
    assert result["changed"] is True
    assert fake.mutating_calls() == [("modify", "sfr-1", 3)]
    assert result["target_capacity"] == 3 and len(result["instance_ids"]) == 3


def test_other_differences_only_warn(fake: FakeFleets, capsys) -> None:
    fake.add("sfr-1", "ecs-dl-fleet", tags={"Deployment": "ecs-dl"})
    result = run(capsys, {**PRESENT, "allocation_strategy": "lowestPrice"})
    assert result["changed"] is False
    assert fake.mutating_calls() == []
    warnings = [json.dumps(w) for w in result["warnings"]]  # 2.19: structured
    assert any("AllocationStrategy" in w and "tear the fleet down" in w for w in warnings)


@pytest.mark.parametrize(
    ("existing", "args"),
    [
        (None, PRESENT),
        ("sfr-1", {**PRESENT, "target_capacity": 5}),
        ("sfr-1", {"name": "ecs-dl-fleet", "state": "absent", "region": "us-east-1"}),
    ],
    ids=["create", "modify", "cancel"],
)
def test_check_mode_changes_nothing(fake: FakeFleets, capsys, existing, args) -> None:
    if existing:
        fake.add(existing, "ecs-dl-fleet", tags={"Deployment": "ecs-dl"})
    result = run(capsys, args, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert fake.mutating_calls() == []


def test_absent_cancels_and_is_idempotent(fake: FakeFleets, capsys) -> None:
    fake.add("sfr-1", "ecs-dl-fleet")
    fake.add("sfr-2", "ecs-dl-fleet", state="cancelled_running")  # already cancelled
    absent = {"name": "ecs-dl-fleet", "state": "absent", "region": "us-east-1"}
    first = run(capsys, absent)
    assert first["changed"] is True
    assert first["spot_fleet_request_ids"] == ["sfr-1"]
    assert fake.mutating_calls() == [("cancel", ["sfr-1"], True)]
    assert all(v["state"] == "terminated" for v in fake.instances.values() if v["fleet"] == "sfr-1")
    second = run(capsys, absent)
    assert second["changed"] is False
    assert len(fake.mutating_calls()) == 1


def test_wait_timeout_names_request_and_what_is_missing(fake: FakeFleets, capsys) -> None:
    fake.fulfil = False
    result = run(capsys, {**PRESENT, "wait_timeout": 30})
    assert result["rc"] == 1 and result["failed"] is True
    assert "Timed out after 30s" in result["msg"]
    assert "sfr-000" in result["msg"]
    assert "fulfilled capacity 0 of 2" in result["msg"]
    assert "0 of 2 instances" in result["msg"]


def test_absent_wait_timeout_lists_running_instances(
    fake: FakeFleets, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add("sfr-1", "ecs-dl-fleet")
    monkeypatch.setattr(fake, "cancel_fleets", lambda client, ids, terminate: {})
    monkeypatch.setattr(mod, "cancel_fleets", fake.cancel_fleets)
    result = run(
        capsys,
        {"name": "ecs-dl-fleet", "state": "absent", "wait_timeout": 10, "region": "us-east-1"},
    )
    assert result["rc"] == 1
    assert "sfr-1" in result["msg"] and "i-r-10" in result["msg"]


def client_error(code: str, operation: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": code}}, operation)


def test_throttling_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's calls pass aws_retry=True, so the retrying client retries throttling."""
    monkeypatch.setattr(cloud.time, "sleep", lambda s: None)
    answers: list[Any] = [
        client_error("RequestLimitExceeded", "DescribeSpotFleetRequests"),
        {"SpotFleetRequestConfigs": [{"SpotFleetRequestId": "sfr-1"}]},
    ]

    class Client:
        def describe_spot_fleet_requests(self, **kwargs: Any) -> dict:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    client = RetryingBotoClientWrapper(Client(), AWSRetry.jittered_backoff())
    assert mod.describe_fleet_requests(client) == [{"SpotFleetRequestId": "sfr-1"}]
    assert answers == []


def test_describe_instances_tolerates_terminated_and_gone() -> None:
    class Client:
        def describe_instances(self, InstanceIds: list[str], **kwargs: Any) -> dict:
            if "i-gone" in InstanceIds:
                raise client_error("InvalidInstanceID.NotFound", "DescribeInstances")
            return {"Reservations": [{"Instances": [{"InstanceId": i} for i in InstanceIds]}]}

    assert mod.describe_instances(Client(), ["i-1", "i-gone"]) == [{"InstanceId": "i-1"}]


def test_a_fleet_without_history_api_still_waits(
    fake: FakeFleets, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint without DescribeSpotFleetRequestHistory (plain moto): one warning, the wait
    goes on as before and times out naming what is missing."""
    fake.fulfil = False

    def no_history(client: Any, request_id: str, start_time: Any) -> list:
        fake.calls.append(("history", request_id))
        raise client_error("InvalidAction", "DescribeSpotFleetRequestHistory")

    monkeypatch.setattr(mod, "describe_fleet_history", no_history)
    result = run(capsys, {**PRESENT, "wait_timeout": 20})
    assert result["rc"] == 1 and "Timed out after 20s" in result["msg"]
    assert len([c for c in fake.calls if c[0] == "history"]) == 1  # not asked again
    assert "launch errors will not be reported" in json.dumps(result["warnings"])
