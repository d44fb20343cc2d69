"""Unit tests for the modules ecs_container_instance and ecs_container_instance_info."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.ecs_dl.deep_learning.plugins.modules import ecs_container_instance as mod
from ansible_collections.ecs_dl.deep_learning.plugins.modules import (
    ecs_container_instance_info as info_mod,
)

CLUSTER = "ecs-dl"


class FakeECS:
    """In-memory ECS cluster + EC2 instances, behind the modules' boto3 functions."""

    def __init__(self) -> None:
        self.clusters = {CLUSTER}
        self.container_instances: list[dict] = []
        self.ec2 = {
            f"i-{n}": {
                "InstanceId": f"i-{n}",
                "InstanceType": "m5.large",
                "ImageId": "ami-1",
                "Placement": {"AvailabilityZone": "us-east-1a"},
                "PrivateIpAddress": f"10.0.0.{n}",
            }
            for n in range(1, 4)
        }
        self.registered: list[tuple] = []
        self.deregistered: list[str] = []

    def cluster_exists(self, ecs: Any, cluster: str) -> bool:
        return cluster in self.clusters

    def list_container_instances(self, ecs: Any, cluster: str) -> list[dict]:
        return [dict(ci) for ci in self.container_instances]

    def describe_instances(self, ec2: Any, instance_ids: list[str]) -> list[dict]:
        return [self.ec2[i] for i in instance_ids if i in self.ec2]

    def describe_instance_type(self, ec2: Any, instance_type: str) -> dict | None:
        return {"VCpuInfo": {"DefaultVCpus": 2}, "MemoryInfo": {"SizeInMiB": 8192}}

    def account_id(self, sts: Any) -> str:
        return "123456789012"

    def register(self, ecs: Any, cluster: str, document: dict, resources: list) -> dict:
        self.registered.append((document, resources))
        ci = {
            "containerInstanceArn": f"arn:ci/{document['instanceId']}",
            "ec2InstanceId": document["instanceId"],
            "status": "ACTIVE",
            "agentConnected": True,
            "runningTasksCount": 0,
        }
        self.container_instances.append(ci)
        return ci

    def deregister(self, ecs: Any, cluster: str, arn: str) -> dict:
        self.deregistered.append(arn)
        ci = next(c for c in self.container_instances if c["containerInstanceArn"] == arn)
        self.container_instances.remove(ci)
        return {**ci, "status": "INACTIVE"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeECS:
    api = FakeECS()
    monkeypatch.setattr(mod, "connect", lambda module, service: service)
    monkeypatch.setattr(info_mod, "connect", lambda module: "ecs")
    for name in (
        "cluster_exists",
        "list_container_instances",
        "describe_instances",
        "describe_instance_type",
        "account_id",
        "register",
        "deregister",
    ):
        monkeypatch.setattr(mod, name, getattr(api, name))
    for name in ("cluster_exists", "list_container_instances"):
        monkeypatch.setattr(info_mod, name, getattr(api, name))
    return api


def run(capsys: pytest.CaptureFixture, module: Any, args: dict, check_mode: bool = False) -> dict:
    args = {"region": "us-east-1", **args}
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        module.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exit_info.value.code
    return result


def test_registers_with_identity_document(fake: FakeECS, capsys) -> None:
    result = run(capsys, mod, {"cluster": CLUSTER, "instance_ids": ["i-1", "i-2"]})
    assert result["rc"] == 0 and result["changed"] is True
    document, resources = fake.registered[0]
    assert document == {
        **document,
        "instanceId": "i-1",
        "instanceType": "m5.large",
        "imageId": "ami-1",
        "region": "us-east-1",
        "availabilityZone": "us-east-1a",
        "accountId": "123456789012",
        "privateIp": "10.0.0.1",
    }
    assert {r["name"]: r["integerValue"] for r in resources} == {"CPU": 2048, "MEMORY": 7700}
    assert result["container_instances"] == [
        {"arn": "arn:ci/i-1", "ec2_instance_id": "i-1", "status": "ACTIVE"},
        {"arn": "arn:ci/i-2", "ec2_instance_id": "i-2", "status": "ACTIVE"},
    ]


def test_registered_instance_is_not_registered_twice(fake: FakeECS, capsys) -> None:
    run(capsys, mod, {"cluster": CLUSTER, "instance_ids": ["i-1"]})
    result = run(capsys, mod, {"cluster": CLUSTER, "instance_ids": ["i-1", "i-2"]})
    assert result["changed"] is True
    assert [d["instanceId"] for d, _ in fake.registered] == ["i-1", "i-2"]
    again = run(capsys, mod, {"cluster": CLUSTER, "instance_ids": ["i-1", "i-2"]})
    assert again["changed"] is False and len(fake.registered) == 2


def test_present_fails_on_missing_cluster_or_instance(fake: FakeECS, capsys) -> None:
    result = run(capsys, mod, {"cluster": "nope", "instance_ids": ["i-1"]})
    assert result["rc"] == 1 and "nope does not exist" in result["msg"]
    result = run(capsys, mod, {"cluster": CLUSTER, "instance_ids": ["i-9"]})
    assert result["rc"] == 1 and "i-9" in result["msg"]


@pytest.mark.parametrize(
    ("instance_ids", "left"),
    [(["i-2"], ["i-1", "i-3"]), (None, [])],
    ids=["listed-instances", "whole-cluster"],
)
def test_absent_deregisters_and_is_idempotent(fake: FakeECS, capsys, instance_ids, left) -> None:
    run(capsys, mod, {"cluster": CLUSTER, "instance_ids": ["i-1", "i-2", "i-3"]})
    args = {"cluster": CLUSTER, "state": "absent", "instance_ids": instance_ids}
    result = run(capsys, mod, args)
    assert result["changed"] is True
    assert all(ci["status"] == "INACTIVE" for ci in result["container_instances"])
    assert sorted(ci["ec2InstanceId"] for ci in fake.container_instances) == left
    assert run(capsys, mod, args)["changed"] is False


def test_absent_on_missing_cluster_is_not_an_error(fake: FakeECS, capsys) -> None:
    result = run(capsys, mod, {"cluster": "nope", "state": "absent"})
    assert result["rc"] == 0 and result["changed"] is False
    assert result["container_instances"] == []


@pytest.mark.parametrize("state", ["present", "absent"])
def test_check_mode_changes_nothing(fake: FakeECS, capsys, state) -> None:
    if state == "absent":
        run(capsys, mod, {"cluster": CLUSTER, "instance_ids": ["i-1"]})
    before = list(fake.container_instances)
    registered = len(fake.registered)
    result = run(
        capsys, mod, {"cluster": CLUSTER, "instance_ids": ["i-1"], "state": state}, check_mode=True
    )
    assert result["changed"] is True
    assert fake.container_instances == before
    assert len(fake.registered) == registered and fake.deregistered == []


@pytest.mark.parametrize(
    ("instance_type", "vcpus", "memory"),
    [
        ("t3.micro", 1, 4096),
        ("m5.large", 2, 8192),
        ("p3.2xlarge", 8, 32768),
        ("g4dn.xlarge", 4, 16384),
        ("weird", 2, 8192),
    ],
)
def test_guess_size(instance_type: str, vcpus: int, memory: int) -> None:
    assert mod.guess_size(instance_type) == (vcpus, memory)


def test_total_resources_falls_back_to_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mod, "describe_instance_type", lambda ec2, t: None)
    resources = {r["name"]: r["integerValue"] for r in mod.total_resources(None, "c5.4xlarge")}
    assert resources == {"CPU": 16 * 1024, "MEMORY": int(65536 * mod.AGENT_MEMORY_RATIO)}


def test_info_lists_container_instances(fake: FakeECS, capsys) -> None:
    run(capsys, mod, {"cluster": CLUSTER, "instance_ids": ["i-2", "i-1"]})
    result = run(capsys, info_mod, {"cluster": CLUSTER})
    assert result["changed"] is False
    assert result["container_instances"] == [
        {
            "arn": "arn:ci/i-1",
            "ec2_instance_id": "i-1",
            "status": "ACTIVE",
            "agent_connected": True,
            "running_tasks_count": 0,
        },
        {
            "arn": "arn:ci/i-2",
            "ec2_instance_id": "i-2",
            "status": "ACTIVE",
            "agent_connected": True,
            "running_tasks_count": 0,
        },
    ]


def test_info_on_missing_cluster_is_empty(fake: FakeECS, capsys) -> None:
    result = run(capsys, info_mod, {"cluster": "nope"})
    assert result["rc"] == 0 and result["container_instances"] == []
