"""The workspace role against the local target's moto: an encrypted EFS file system with a mount
target in each subnet behind a group that admits NFS from the instances' group only, and an
access point as the containers' uid; a rerun changes nothing; absent deletes all of it, but
only once the work was copied (keep_work) or when told to delete it without a copy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import moto_launcher
from tests.resources import count_resources

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "tests" / "integration" / "playbooks" / "workspace.yml"
PENDING_PLAYBOOK = REPO_ROOT / "tests" / "integration" / "playbooks" / "workspace_pending.yml"
NAME = "unit-work"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


def client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def play(endpoint: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOK),
         "-e", f"deployment_name={NAME}", "-e", f"aws_endpoint_url={endpoint}", *extra],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO_ROOT, env=env,
    )  # fmt: skip


def efs_counts(endpoint: str) -> tuple[int, int, int]:
    counts = count_resources(endpoint, "us-east-1", NAME, "testing", "testing")
    return counts["efs_file_systems"], counts["efs_mount_targets"], counts["efs_access_points"]


def changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


@pytest.fixture(scope="module")
def network(endpoint: str) -> dict[str, Any]:
    ec2 = client(endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(zones, 1)
    ]
    group = ec2.create_security_group(GroupName=f"{NAME}-instances", Description="i", VpcId=vpc)
    return {"vpc_id": vpc, "subnet_ids": subnets, "instances_group": group["GroupId"]}


@pytest.fixture(scope="module")
def made(endpoint: str, network: dict[str, Any], tmp_path_factory) -> dict[str, Any]:
    report = tmp_path_factory.mktemp("workspace") / "report.json"
    result = play(endpoint, "-e", json.dumps({**network, "report": str(report)}))
    assert result.returncode == 0, result.stdout[-4000:]
    # how many times the playbook (archive_pending twice, as teardown.yml) said "nothing to copy"
    said = result.stdout.count("no task wrote to it, nothing to copy")
    return {**json.loads(report.read_text()), "said": said}


def test_the_file_system_is_encrypted_with_a_mount_target_in_each_subnet(
    endpoint, network, made
) -> None:
    efs = client(endpoint, "efs")
    (system,) = efs.describe_file_systems(FileSystemId=made["file_system_id"])["FileSystems"]
    assert system["Encrypted"] is True
    assert system["CreationToken"] == f"{NAME}-work"
    assert {t["Key"]: t["Value"] for t in system["Tags"]}["Deployment"] == NAME
    targets = efs.describe_mount_targets(FileSystemId=made["file_system_id"])["MountTargets"]
    assert sorted(t["SubnetId"] for t in targets) == sorted(network["subnet_ids"])
    for target in targets:
        groups = efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])
        (group_id,) = groups["SecurityGroups"]
        (group,) = client(endpoint, "ec2").describe_security_groups(GroupIds=[group_id])[
            "SecurityGroups"
        ]
        assert group["GroupName"] == f"{NAME}-efs"
        rules = [
            (p["IpProtocol"], p["FromPort"], p["ToPort"],
             [g["GroupId"] for g in p["UserIdGroupPairs"]], p.get("IpRanges", []))
            for p in group["IpPermissions"]
        ]  # fmt: skip
        assert rules == [("tcp", 2049, 2049, [network["instances_group"]], [])]


def test_the_access_point_is_the_containers_user(endpoint, made) -> None:
    (point,) = client(endpoint, "efs").describe_access_points(FileSystemId=made["file_system_id"])[
        "AccessPoints"
    ]
    assert point["AccessPointId"] == made["access_point_id"]
    assert point["PosixUser"] == {"Uid": 61000, "Gid": 61000}
    assert point["RootDirectory"] == {
        "Path": "/work",
        "CreationInfo": {"OwnerUid": 61000, "OwnerGid": 61000, "Permissions": "0755"},
    }
    assert made["outputs"]["work"]["path"] == "/home/jovyan/work"


def test_a_rerun_changes_nothing(endpoint, network, made) -> None:
    result = play(endpoint, "-e", json.dumps(network))
    assert result.returncode == 0, result.stdout[-4000:]
    assert changed(result.stdout) == 0, result.stdout[-4000:]


def pending(endpoint: str, tmp_path: Path, definition: str, *extra: str) -> dict[str, list[str]]:
    report = tmp_path / "pending.json"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(PENDING_PLAYBOOK),
         "-e", f"deployment_name={NAME}", "-e", f"aws_endpoint_url={endpoint}",
         "-e", f"definition={definition}", "-e", f"archive_dir={tmp_path / 'work'}",
         "-e", f"report={report}", *extra],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO_ROOT,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    # how many times the playbook (archive_pending twice, as teardown.yml) said "nothing to copy"
    said = result.stdout.count("no task wrote to it, nothing to copy")
    return {**json.loads(report.read_text()), "said": said}


def test_the_work_to_copy_is_what_the_archive_task_mounts_and_no_record_names(
    endpoint, made, tmp_path
) -> None:
    """teardown.yml asks first (archive_pending) whether there is work to copy, which needs an
    instance for the archive task: the file system when the archive definition mounts it and
    the record does not name it; else nothing (keep_work=false, copied, or never mounted)."""
    system_id = made["file_system_id"]
    ecs = client(endpoint, "ecs")
    container = {"name": "archive", "image": "busybox", "memory": 64}
    ecs.register_task_definition(
        family=f"{NAME}-work-archive",
        containerDefinitions=[container],
        volumes=[{"name": "work", "efsVolumeConfiguration": {"fileSystemId": system_id}}],
    )
    ecs.register_task_definition(family=f"{NAME}-other", containerDefinitions=[container])
    archive = f"{NAME}-work-archive"
    assert pending(endpoint, tmp_path, archive) == {
        "pending": [system_id],
        "unused": [],
        "said": 0,
    }
    assert pending(endpoint, tmp_path, archive, "-e", "keep_work=false") == {
        "pending": [],
        "unused": [],
        "said": 0,
    }
    # said once, though asked twice
    assert pending(endpoint, tmp_path, f"{NAME}-other") == {
        "pending": [],
        "unused": [system_id],
        "said": 1,
    }
    (tmp_path / "work.json").write_text(json.dumps({"file_system_id": system_id}))
    assert pending(endpoint, tmp_path, archive) == {"pending": [], "unused": [], "said": 0}


def test_absent_keeps_work_that_was_not_copied_then_deletes_when_told(
    endpoint, made, tmp_path
) -> None:
    archive_dir = tmp_path / "work"
    refused = play(endpoint, "-e", "state=absent", "-e", f"archive_dir={archive_dir}")
    assert refused.returncode != 0
    assert f"The work on {made['file_system_id']} was not copied to {archive_dir}" in refused.stdout
    assert "-e keep_work=false" in refused.stdout
    assert efs_counts(endpoint) == (1, 2, 1)

    gone = play(endpoint, "-e", "state=absent", "-e", "keep_work=false")
    assert gone.returncode == 0, gone.stdout[-4000:]
    assert efs_counts(endpoint) == (0, 0, 0)
    groups = client(endpoint, "ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{NAME}-efs"]}]
    )["SecurityGroups"]
    assert groups == []

    again = play(endpoint, "-e", "state=absent", "-e", "keep_work=false")
    assert again.returncode == 0 and changed(again.stdout) == 0, again.stdout[-4000:]


def test_the_archive_container_is_the_task_definitions_one() -> None:
    import yaml

    workspace = yaml.safe_load((REPO_ROOT / "roles/workspace/defaults/main.yml").read_text())
    definitions = yaml.safe_load((REPO_ROOT / "roles/task_definitions/vars/main.yml").read_text())
    containers = definitions["_task_definitions_containers"]
    assert workspace["workspace_archive_container"] == containers["archive"]["name"]
