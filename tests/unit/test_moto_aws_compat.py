"""The local target's moto (moto_launcher.py with moto_aws_compat.py) drives ECS tasks as AWS does.

A real launcher process on a free port, talked to with boto3 only: the task lifecycle that the
ECS agent reports through SubmitTaskStateChange, and the service scheduler.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

from tests.conftest import moto_launcher


@pytest.fixture(scope="module")
def compat_endpoint() -> Iterator[str]:
    """moto_launcher.py in the foreground on a free port, for this module."""
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def ecs(compat_endpoint: str) -> Any:
    return client("ecs", compat_endpoint)


@pytest.fixture(scope="module")
def ec2(compat_endpoint: str) -> Any:
    return client("ec2", compat_endpoint)


@pytest.fixture(scope="module")
def cluster(ecs: Any, ec2: Any) -> dict[str, str]:
    """A cluster with one registered container instance and a task definition."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    ecs.create_cluster(clusterName="compat")
    document = json.dumps(
        {
            "instanceId": instance["InstanceId"],
            "region": "us-east-1",
            "availabilityZone": "us-east-1a",
        }
    )
    arn = ecs.register_container_instance(
        cluster="compat",
        instanceIdentityDocument=document,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
        ],
    )["containerInstance"]["containerInstanceArn"]
    definition = ecs.register_task_definition(
        family="web",
        containerDefinitions=[
            {
                "name": "web",
                "image": "example/web:1",
                "memoryReservation": 1024,
                "portMappings": [{"containerPort": 80, "hostPort": 8080}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return {"cluster": "compat", "instance": arn, "definition": definition}


def fleet_from_template(
    ec2: Any, name: str, cidr: str, template_data: dict[str, Any], capacity: int
) -> str:
    """A Spot Fleet request of `capacity` t3.large from a new launch template, in a new VPC."""
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet_cidr = cidr.replace(".0.0/16", ".1.0/24")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData=template_data
    )["LaunchTemplate"]["LaunchTemplateId"]
    return ec2.request_spot_fleet(
        SpotFleetRequestConfig={
            "AllocationStrategy": "lowestPrice",
            "IamFleetRole": "arn:aws:iam::123456789012:role/compat-fleet",
            "TargetCapacity": capacity,
            "LaunchTemplateConfigs": [
                {
                    "LaunchTemplateSpecification": {
                        "LaunchTemplateId": template,
                        "Version": "$Latest",
                    },
                    "Overrides": [{"InstanceType": "t3.large", "SubnetId": subnet}],
                }
            ],
        }
    )["SpotFleetRequestId"]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.3)


def describe(ecs: Any, arns: list[str]) -> list[dict[str, Any]]:
    return ecs.describe_tasks(cluster="compat", tasks=arns)["tasks"] if arns else []


def report(ecs: Any, task: dict[str, Any], status: str, exit_code: int | None = None) -> None:
    change: dict[str, Any] = {"containerName": "web", "status": status}
    if exit_code is not None:
        change["exitCode"] = exit_code
    answer = ecs.submit_task_state_change(
        cluster="compat", task=task["taskArn"], status=status, containers=[change]
    )
    assert answer["acknowledgment"] == "ACK"


def test_run_task_stays_pending_until_the_agent_reports(ecs: Any, cluster: dict[str, str]) -> None:
    task = ecs.run_task(cluster="compat", taskDefinition=cluster["definition"])["tasks"][0]
    assert task["lastStatus"] == "PENDING"
    assert describe(ecs, [task["taskArn"]])[0]["lastStatus"] == "PENDING"
    report(ecs, task, "RUNNING")
    running = describe(ecs, [task["taskArn"]])[0]
    assert running["lastStatus"] == "RUNNING"
    assert running["containers"][0]["lastStatus"] == "RUNNING"
    assert "exitCode" not in running["containers"][0]
    report(ecs, task, "STOPPED", exit_code=3)
    stopped = describe(ecs, [task["taskArn"]])[0]
    assert (stopped["lastStatus"], stopped["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert stopped["containers"][0]["exitCode"] == 3
    assert stopped["stopCode"] == "EssentialContainerExited"
    # Its memory and port are free again: a second task fits.
    again = ecs.run_task(cluster="compat", taskDefinition=cluster["definition"])["tasks"]
    assert len(again) == 1
    ecs.stop_task(cluster="compat", task=again[0]["taskArn"], reason="test")
    assert describe(ecs, [again[0]["taskArn"]])[0]["lastStatus"] == "STOPPED"


def test_a_task_is_placed_by_its_memory_reservation_not_its_hard_limit(
    ecs: Any, cluster: dict[str, str]
) -> None:
    """Fix 14: as on AWS, a container with a hard `memory` above what the instance has left
    still fits when its memoryReservation does, and only the reservation is taken."""
    definition = ecs.register_task_definition(
        family="capped",
        containerDefinitions=[
            {"name": "web", "image": "example/web:1", "memory": 8192, "memoryReservation": 512}
        ],
    )["taskDefinition"]["taskDefinitionArn"]

    def free_memory() -> int:
        instance = ecs.describe_container_instances(
            cluster="compat", containerInstances=[cluster["instance"]]
        )["containerInstances"][0]
        return next(
            r["integerValue"] for r in instance["remainingResources"] if r["name"] == "MEMORY"
        )

    before = free_memory()
    placed = ecs.run_task(cluster="compat", taskDefinition=definition, count=2)
    assert len(placed["tasks"]) == 2, placed["failures"]  # 8192 MiB each on a 4096 MiB instance
    assert free_memory() == before - 2 * 512
    for task in placed["tasks"]:
        report(ecs, task, "STOPPED", exit_code=0)
    assert free_memory() == before


def test_list_tasks_refuses_a_family_that_is_not_a_family_name(
    ecs: Any, cluster: dict[str, str]
) -> None:
    """A `family:revision` is no family: AWS refuses it (ansible/ansible#32872)."""
    family = cluster["definition"].rsplit("/", 1)[-1].split(":")[0]
    assert isinstance(ecs.list_tasks(cluster="compat", family=family)["taskArns"], list)
    for not_a_family in (f"{family}:1", cluster["definition"]):
        with pytest.raises(ecs.exceptions.InvalidParameterException, match="not a task def"):
            ecs.list_tasks(cluster="compat", family=not_a_family)


def test_stop_task_leaves_a_started_task_to_its_agent(ecs: Any, cluster: dict[str, str]) -> None:
    task = ecs.run_task(cluster="compat", taskDefinition=cluster["definition"])["tasks"][0]
    report(ecs, task, "RUNNING")
    ecs.stop_task(cluster="compat", task=task["taskArn"], reason="done with it")
    stopping = describe(ecs, [task["taskArn"]])[0]
    assert (stopping["lastStatus"], stopping["desiredStatus"]) == ("RUNNING", "STOPPED")
    assert stopping["stoppedReason"] == "done with it"
    # The port is still taken until the agent has stopped the container.
    assert ecs.run_task(cluster="compat", taskDefinition=cluster["definition"])["tasks"] == []
    report(ecs, task, "STOPPED", exit_code=143)
    assert describe(ecs, [task["taskArn"]])[0]["lastStatus"] == "STOPPED"


def test_the_service_scheduler_starts_replaces_and_stops_tasks(
    ecs: Any, cluster: dict[str, str]
) -> None:
    ecs.create_service(
        cluster="compat", serviceName="svc", taskDefinition=cluster["definition"], desiredCount=1
    )

    def service_tasks() -> list[dict[str, Any]]:
        arns = ecs.list_tasks(cluster="compat", desiredStatus="RUNNING")["taskArns"]
        return [t for t in describe(ecs, arns) if t["group"] == "service:svc"]

    first = wait_for("the service's task", service_tasks)[0]
    assert first["startedBy"].startswith("ecs-svc/")
    service = ecs.describe_services(cluster="compat", services=["svc"])["services"][0]
    assert (service["runningCount"], service["pendingCount"]) == (0, 1)
    report(ecs, first, "RUNNING")
    wait_for(
        "runningCount 1",
        lambda: (
            ecs.describe_services(cluster="compat", services=["svc"])["services"][0]["runningCount"]
            == 1
        ),
    )
    # The container dies (a Spot interruption, a crash): ECS starts another task.
    report(ecs, first, "STOPPED", exit_code=137)
    listed = ecs.list_tasks(cluster="compat", serviceName="svc")["taskArns"]
    assert first["taskArn"] not in listed  # desiredStatus STOPPED now: not listed by default
    second = wait_for(
        "a replacement task",
        lambda: [t for t in service_tasks() if t["taskArn"] != first["taskArn"]],
    )[0]
    report(ecs, second, "RUNNING")
    events = ecs.describe_services(cluster="compat", services=["svc"])["services"][0]["events"]
    assert any("has started 1 tasks" in event["message"] for event in events)
    # Scaled to 0 and deleted: its task is to be stopped (the agent then reports it).
    ecs.update_service(cluster="compat", service="svc", desiredCount=0)
    ecs.delete_service(cluster="compat", service="svc")
    wait_for(
        "the task's desiredStatus STOPPED",
        lambda: describe(ecs, [second["taskArn"]])[0]["desiredStatus"] == "STOPPED",
    )
    report(ecs, second, "STOPPED", exit_code=0)
    time.sleep(2)
    assert service_tasks() == []


def test_a_cluster_with_instances_or_tasks_is_not_deleted(
    ecs: Any, cluster: dict[str, str]
) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="ClusterContainsContainerInstancesException"):
        ecs.delete_cluster(cluster="compat")
    ecs.create_cluster(clusterName="empty")
    assert any(arn.endswith("/empty") for arn in ecs.list_clusters()["clusterArns"])
    ecs.delete_cluster(cluster="empty")
    assert not any(arn.endswith("/empty") for arn in ecs.list_clusters()["clusterArns"])


def test_spot_fleet_instances_get_the_launch_templates_imds_and_volumes(ec2: Any) -> None:
    """As on AWS, a fleet's instances (also those a capacity increase adds) require IMDSv2 and
    have the template's encrypted root volume; plain moto launches them with neither."""
    # An AMI whose root device is /dev/xvda, as the ECS-optimized ones (moto attaches every
    # root volume as /dev/sda1 otherwise).
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    image = next(i for i in images if i.get("RootDeviceName") == "/dev/xvda")
    fleet = fleet_from_template(
        ec2,
        "compat-fleet",
        "10.9.0.0/16",
        {
            "ImageId": image["ImageId"],
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
            "BlockDeviceMappings": [
                {
                    "DeviceName": image["RootDeviceName"],
                    "Ebs": {"VolumeSize": 30, "VolumeType": "gp3", "Encrypted": True},
                }
            ],
        },
        capacity=1,
    )
    ec2.modify_spot_fleet_request(SpotFleetRequestId=fleet, TargetCapacity=2)
    ids = [
        i["InstanceId"]
        for i in ec2.describe_spot_fleet_instances(SpotFleetRequestId=fleet)["ActiveInstances"]
    ]
    assert len(ids) == 2
    instances = [
        i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]
    ]
    assert {i["MetadataOptions"]["HttpTokens"] for i in instances} == {"required"}
    assert {i["MetadataOptions"]["HttpPutResponseHopLimit"] for i in instances} == {1}
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": ids}])[
        "Volumes"
    ]
    assert len(volumes) == 2, volumes
    for volume in volumes:
        assert volume["Encrypted"] is True
        assert (volume["Size"], volume["VolumeType"]) == (30, "gp3")
        assert volume["Attachments"][0]["Device"] == image["RootDeviceName"]


def fleet_instances(ec2: Any, fleet: str) -> list[str]:
    """The fleet's active instances' ids, sorted."""
    active = ec2.describe_spot_fleet_instances(SpotFleetRequestId=fleet)["ActiveInstances"]
    return sorted(i["InstanceId"] for i in active)


def test_a_fleet_scaled_down_terminates_an_instance_and_ecs_deregisters_it(
    ec2: Any, ecs: Any
) -> None:
    """As on AWS: a lower target capacity terminates instances, and ECS makes a terminated
    instance's container instance INACTIVE (its tasks stop); plain moto keeps it ACTIVE."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    fleet = fleet_from_template(ec2, "compat-scale", "10.8.0.0/16", {"ImageId": image}, 2)

    ids = fleet_instances(ec2, fleet)
    assert len(ids) == 2
    ecs.create_cluster(clusterName="compat-scale")
    arns = {}
    for instance_id in ids:
        document = json.dumps({"instanceId": instance_id, "region": "us-east-1"})
        arns[instance_id] = ecs.register_container_instance(
            cluster="compat-scale", instanceIdentityDocument=document
        )["containerInstance"]["containerInstanceArn"]

    ec2.modify_spot_fleet_request(SpotFleetRequestId=fleet, TargetCapacity=1)
    kept = fleet_instances(ec2, fleet)
    assert len(kept) == 1
    (gone,) = set(ids) - set(kept)
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    assert states[gone] in ("shutting-down", "terminated")
    listed = ecs.list_container_instances(cluster="compat-scale")["containerInstanceArns"]
    assert listed == [arns[kept[0]]]
    described = ecs.describe_container_instances(
        cluster="compat-scale", containerInstances=[arns[gone]]
    )["containerInstances"]
    assert [c["status"] for c in described] in ([], ["INACTIVE"])


def test_a_fleet_replaces_a_terminated_instance_which_joins_its_cluster(ec2: Any, ecs: Any) -> None:
    """As on AWS: a maintain fleet launches a replacement for an instance that terminates, and
    the replacement's user data (ECS_CLUSTER) has it join that cluster; the terminated one is
    INACTIVE. A fleet scaled down (or cancelled) replaces nothing."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    script = "#!/bin/bash\ncat <<'EOF' >> /etc/ecs/ecs.config\nECS_CLUSTER=compat-replace\nEOF\n"
    user_data = base64.b64encode(script.encode()).decode()
    fleet = fleet_from_template(
        ec2, "compat-replace", "10.9.0.0/16", {"ImageId": image, "UserData": user_data}, 1
    )
    ecs.create_cluster(clusterName="compat-replace")

    def joined() -> dict[str, str]:
        arns = ecs.list_container_instances(cluster="compat-replace")["containerInstanceArns"]
        described = (
            ecs.describe_container_instances(cluster="compat-replace", containerInstances=arns)[
                "containerInstances"
            ]
            if arns
            else []
        )
        return {c["ec2InstanceId"]: c["status"] for c in described}

    (first,) = fleet_instances(ec2, fleet)
    document = json.dumps({"instanceId": first, "region": "us-east-1"})
    ecs.register_container_instance(cluster="compat-replace", instanceIdentityDocument=document)
    assert joined() == {first: "ACTIVE"}

    ec2.terminate_instances(InstanceIds=[first])
    (second,) = fleet_instances(ec2, fleet)
    assert second != first
    assert joined() == {second: "ACTIVE"}  # the first is INACTIVE: not listed
    config = ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fleet])[
        "SpotFleetRequestConfigs"
    ][0]["SpotFleetRequestConfig"]
    assert (config["TargetCapacity"], config["FulfilledCapacity"]) == (1, 1.0)
    (described,) = ec2.describe_instances(InstanceIds=[second])["Reservations"][0]["Instances"]
    assert described["State"]["Name"] == "running"

    # Scaled to 0: the instance goes and nothing replaces it.
    ec2.modify_spot_fleet_request(SpotFleetRequestId=fleet, TargetCapacity=0)
    assert fleet_instances(ec2, fleet) == []
    assert joined() == {}


def settings(endpoint: str, **changes: float) -> dict[str, float]:
    """GET (no changes) or POST /_ecs_dl/settings of the launcher."""
    data = json.dumps(changes).encode() if changes else None
    request = urllib.request.Request(f"{endpoint}/_ecs_dl/settings", data=data)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def instance_state(ec2: Any, instance_id: str) -> str:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]


@pytest.fixture
def vpc_with_instance(ec2: Any) -> dict[str, str]:
    """A VPC with an attached internet gateway, a subnet, a security group and an instance."""
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    group = ec2.create_security_group(GroupName="held", Description="held", VpcId=vpc)["GroupId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[group]
    )["Instances"][0]["InstanceId"]
    return {"vpc": vpc, "subnet": subnet, "igw": igw, "group": group, "instance": instance}


def delete_network(ec2: Any, ids: dict[str, str]) -> None:
    ec2.delete_security_group(GroupId=ids["group"])
    ec2.detach_internet_gateway(InternetGatewayId=ids["igw"], VpcId=ids["vpc"])
    ec2.delete_subnet(SubnetId=ids["subnet"])


def test_a_terminated_instance_is_shutting_down_for_a_while(
    compat_endpoint: str, ec2: Any, vpc_with_instance: dict[str, str]
) -> None:
    assert settings(compat_endpoint)["shutting_down_seconds"] == 5  # the default: on
    settings(compat_endpoint, shutting_down_seconds=2)
    try:
        instance = vpc_with_instance["instance"]
        answer = ec2.terminate_instances(InstanceIds=[instance])["TerminatingInstances"][0]
        assert answer["CurrentState"]["Name"] == "shutting-down"
        assert instance_state(ec2, instance) == "shutting-down"
        # Asked again while it shuts down: still on its way, no error.
        ec2.terminate_instances(InstanceIds=[instance])
        wait_for("terminated", lambda: instance_state(ec2, instance) == "terminated", 10)
    finally:
        settings(compat_endpoint, shutting_down_seconds=5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("group", "resource {group} has a dependent object"),
        ("igw", "Network {vpc} has some mapped public address(es)"),
        ("subnet", "The subnet '{subnet}' has dependencies and cannot be deleted."),
    ],
    ids=["security-group", "internet-gateway", "subnet"],
)
def test_the_vpcs_resources_are_held_until_its_instances_are_terminated(
    compat_endpoint: str, ec2: Any, vpc_with_instance: dict[str, str], call: str, message: str
) -> None:
    ids = vpc_with_instance
    calls = {
        "group": lambda: ec2.delete_security_group(GroupId=ids["group"]),
        "igw": lambda: ec2.detach_internet_gateway(InternetGatewayId=ids["igw"], VpcId=ids["vpc"]),
        "subnet": lambda: ec2.delete_subnet(SubnetId=ids["subnet"]),
    }
    settings(compat_endpoint, shutting_down_seconds=3)
    try:
        for _ in ("running", "shutting-down"):
            with pytest.raises(botocore.exceptions.ClientError) as raised:
                calls[call]()
            error = raised.value.response["Error"]
            assert error["Code"] == "DependencyViolation"
            assert message.format(**ids) in error["Message"]
            if instance_state(ec2, ids["instance"]) == "running":
                ec2.terminate_instances(InstanceIds=[ids["instance"]])
        wait_for("terminated", lambda: instance_state(ec2, ids["instance"]) == "terminated", 10)
        delete_network(ec2, ids)  # once it is terminated, everything goes
    finally:
        settings(compat_endpoint, shutting_down_seconds=5)


def test_settings_refuse_what_they_do_not_know(compat_endpoint: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        settings(compat_endpoint, shutting_down_typo=1)
    assert raised.value.code == 400
    assert "shutting_down_seconds" in raised.value.read().decode()


# -- fix 15: EFS, as the Jupyter task's volume needs it ------------------------------------------


@pytest.fixture(scope="module")
def efs(compat_endpoint: str) -> Any:
    return client("efs", compat_endpoint)


@pytest.fixture(scope="module")
def file_system(efs: Any, ec2: Any) -> dict[str, Any]:
    """An encrypted, tagged file system with a mount target (and its security group) in each of
    two subnets, and the Jupyter access point (uid/gid 1000, /jupyter made 0755 for 1000)."""
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{n}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"))
    ]
    group = ec2.create_security_group(GroupName="efs-nfs", Description="NFS", VpcId=vpc)["GroupId"]
    made = efs.create_file_system(
        CreationToken="compat-efs", Encrypted=True, Tags=[{"Key": "Name", "Value": "compat"}]
    )
    targets = [
        efs.create_mount_target(
            FileSystemId=made["FileSystemId"], SubnetId=subnet, SecurityGroups=[group]
        )["MountTargetId"]
        for subnet in subnets
    ]
    access_point = efs.create_access_point(
        ClientToken="compat-jupyter",
        FileSystemId=made["FileSystemId"],
        PosixUser={"Uid": 1000, "Gid": 1000},
        RootDirectory={
            "Path": "/jupyter",
            "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "0755"},
        },
        Tags=[{"Key": "Name", "Value": "compat-jupyter"}],
    )
    return {
        "id": made["FileSystemId"],
        "subnets": subnets,
        "group": group,
        "targets": targets,
        "access_point": access_point["AccessPointId"],
    }


def test_efs_holds_the_file_system_its_mount_targets_and_access_point(
    efs: Any, file_system: dict[str, Any]
) -> None:
    found = efs.describe_file_systems(FileSystemId=file_system["id"])["FileSystems"][0]
    assert found["Encrypted"] is True
    assert found["NumberOfMountTargets"] == 2
    assert {"Key": "Name", "Value": "compat"} in found["Tags"]
    targets = efs.describe_mount_targets(FileSystemId=file_system["id"])["MountTargets"]
    assert sorted(t["SubnetId"] for t in targets) == sorted(file_system["subnets"])
    for target in targets:
        groups = efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])
        assert groups["SecurityGroups"] == [file_system["group"]]
    point = efs.describe_access_points(AccessPointId=file_system["access_point"])["AccessPoints"][0]
    assert point["FileSystemId"] == file_system["id"]
    assert point["PosixUser"] == {"Uid": 1000, "Gid": 1000}
    assert point["RootDirectory"] == {
        "Path": "/jupyter",
        "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "0755"},
    }
    # As on AWS: a file system with mount targets is in use.
    with pytest.raises(efs.exceptions.FileSystemInUse):
        efs.delete_file_system(FileSystemId=file_system["id"])


def test_a_task_definitions_efs_volume_is_kept_intact(
    ecs: Any, file_system: dict[str, Any]
) -> None:
    volume = {
        "name": "work",
        "efsVolumeConfiguration": {
            "fileSystemId": file_system["id"],
            "rootDirectory": "/",
            "transitEncryption": "ENABLED",
            "authorizationConfig": {"accessPointId": file_system["access_point"], "iam": "ENABLED"},
        },
    }
    mount = {"sourceVolume": "work", "containerPath": "/home/jovyan/work", "readOnly": False}
    ecs.register_task_definition(
        family="compat-efs",
        containerDefinitions=[
            {"name": "jupyter", "image": "example/j:1", "memory": 128, "mountPoints": [mount]}
        ],
        volumes=[volume],
    )
    described = ecs.describe_task_definition(taskDefinition="compat-efs")["taskDefinition"]
    assert described["volumes"] == [volume]
    assert described["containerDefinitions"][0]["mountPoints"] == [mount]


def test_an_access_points_client_token_makes_one_access_point(
    efs: Any, file_system: dict[str, Any]
) -> None:
    """A retried CreateAccessPoint (same ClientToken) answers AccessPointAlreadyExists with the
    first one's id, as AWS does; moto made a second access point."""
    with pytest.raises(efs.exceptions.AccessPointAlreadyExists) as raised:
        efs.create_access_point(
            ClientToken="compat-jupyter",
            FileSystemId=file_system["id"],
            PosixUser={"Uid": 1000, "Gid": 1000},
        )
    assert raised.value.response["AccessPointId"] == file_system["access_point"]
    points = efs.describe_access_points(FileSystemId=file_system["id"])["AccessPoints"]
    assert [p["AccessPointId"] for p in points] == [file_system["access_point"]]


def test_an_access_point_needs_a_file_system(efs: Any) -> None:
    before = efs.describe_access_points()["AccessPoints"]
    with pytest.raises(efs.exceptions.FileSystemNotFound):
        efs.create_access_point(ClientToken="nowhere", FileSystemId="fs-0123456789abcdef0")
    assert efs.describe_access_points()["AccessPoints"] == before


def test_deleting_an_unknown_access_point_is_refused(efs: Any) -> None:
    with pytest.raises(efs.exceptions.AccessPointNotFound):
        efs.delete_access_point(AccessPointId="fsap-0123456789abcdef0")


def test_the_file_system_tag_calls_of_community_aws_efs_answer(
    efs: Any, file_system: dict[str, Any]
) -> None:
    """community.aws.efs and efs_info read and change tags with DescribeTags, CreateTags and
    DeleteTags (moto: HTTP 404); they see the tags ListTagsForResource sees."""
    fs_id = file_system["id"]
    efs.create_tags(FileSystemId=fs_id, Tags=[{"Key": "deployment", "Value": "compat"}])
    tags = efs.describe_tags(FileSystemId=fs_id)["Tags"]
    assert {"Key": "deployment", "Value": "compat"} in tags
    assert efs.list_tags_for_resource(ResourceId=fs_id)["Tags"] == tags
    efs.delete_tags(FileSystemId=fs_id, TagKeys=["deployment"])
    assert efs.describe_tags(FileSystemId=fs_id)["Tags"] == [{"Key": "Name", "Value": "compat"}]
    with pytest.raises(efs.exceptions.FileSystemNotFound):
        efs.describe_tags(FileSystemId="fs-0123456789abcdef0")


def test_community_aws_efs_makes_a_file_system_twice_the_same(
    compat_endpoint: str, ec2: Any, efs: Any, tmp_path: Path
) -> None:
    """The module an EFS role would use: present (changed), present again (unchanged, its tags
    read with DescribeTags), then absent. Without fix 15 its first run fails (HTTP 404)."""
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.78.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="efs-module", Description="NFS", VpcId=vpc)
    present = {
        "name": "compat-module",
        "state": "present",
        "encrypt": True,
        "endpoint_url": compat_endpoint,
        "tags": {"deployment": "compat"},
        "targets": [{"subnet_id": subnet, "security_groups": [group["GroupId"]]}],
    }
    absent = {"name": "compat-module", "state": "absent", "endpoint_url": compat_endpoint}
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"community.aws.efs": present, "register": "first"},
                {"community.aws.efs": present, "register": "second"},
                {"ansible.builtin.copy": {"content": "{{ [first, second] | to_json }}",
                                          "dest": str(tmp_path / "results.json")}},
            ],
        }
    ]  # fmt: skip
    playbook = tmp_path / "efs.yml"
    playbook.write_text(json.dumps(play))
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "ANSIBLE_NOCOLOR": "1",
    }
    env.pop("AWS_PROFILE", None)
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        *("-i", "localhost,", "-c", "local"),
        *("-e", f"ansible_python_interpreter={sys.executable}", str(playbook)),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert result.returncode == 0, result.stdout[-3000:]
    first, second = json.loads((tmp_path / "results.json").read_text())
    assert (first["changed"], second["changed"]) == (True, False)
    file_system = second["efs"]["file_system_id"]
    assert efs.describe_tags(FileSystemId=file_system)["Tags"] == [
        {"Key": "deployment", "Value": "compat"}
    ]
    assert len(efs.describe_mount_targets(FileSystemId=file_system)["MountTargets"]) == 1

    play[0]["tasks"] = [{"community.aws.efs": absent}]
    playbook.write_text(json.dumps(play))
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert result.returncode == 0, result.stdout[-3000:]
    with pytest.raises(efs.exceptions.FileSystemNotFound):
        efs.describe_file_systems(FileSystemId=file_system)


def load_compat() -> Any:
    """moto_aws_compat.py as a module (its pure functions; apply() is not called)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "roles/local_stack/files/moto_aws_compat.py"
    spec = importlib.util.spec_from_file_location("moto_aws_compat_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_input_transformer_escapes_strings_put_inside_json_strings() -> None:
    compat = load_compat()
    event = {"detail": {"bucket": {"name": "in"}, "object": {"key": 'uploads/a "cat".png'}}}
    transformer = {
        "InputPathsMap": {"key": "$.detail.object.key", "bucket": "$.detail.bucket.name"},
        "InputTemplate": '{"command": ["classify", "s3://<bucket>/<key>"], "object": <key>}',
    }
    assert json.loads(compat.transform_input(transformer, event)) == {
        "command": ["classify", 's3://in/uploads/a "cat".png'],
        "object": 'uploads/a "cat".png',
    }
    missing = {
        "InputPathsMap": {"size": "$.detail.object.size"},
        "InputTemplate": '["<size>", <size>]',
    }
    assert json.loads(compat.transform_input(missing, event)) == ["", None]


@pytest.fixture(scope="module")
def uploads_rule(compat_endpoint: str, ecs: Any, cluster: dict[str, str]) -> dict[str, Any]:
    """A bucket whose events go to EventBridge, a task definition with a task role, a role that
    EventBridge may use to run it on the compat cluster only, and a rule for uploads/ keys whose
    ECS target passes the key in the command (input transformer), as the uploads' rule does."""
    s3, iam, events = (client(name, compat_endpoint) for name in ("s3", "iam", "events"))
    s3.create_bucket(Bucket="compat-uploads")
    s3.put_bucket_notification_configuration(
        Bucket="compat-uploads", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    ecs_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    task_role = iam.create_role(
        RoleName="compat-predict", AssumeRolePolicyDocument=json.dumps(ecs_trust)
    )["Role"]["Arn"]
    definition = ecs.register_task_definition(
        family="compat-predict",
        taskRoleArn=task_role,
        containerDefinitions=[
            {"name": "predict", "image": "example/predict:1", "memoryReservation": 64}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    cluster_arn = ecs.describe_clusters(clusters=["compat"])["clusters"][0]["clusterArn"]
    events_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecs:RunTask",
                "Resource": definition.rpartition(":")[0] + ":*",
                "Condition": {"StringEquals": {"ecs:cluster": cluster_arn}},
            },
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": task_role,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
        ],
    }
    role = iam.create_role(
        RoleName="compat-uploads-events", AssumeRolePolicyDocument=json.dumps(events_trust)
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="compat-uploads-events", PolicyName="run", PolicyDocument=json.dumps(policy)
    )
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": ["compat-uploads"]},
            "object": {"key": [{"prefix": "uploads/"}]},
        },
    }
    events.put_rule(Name="compat-uploads", EventPattern=json.dumps(pattern))
    target = {
        "Id": "classify",
        "Arn": cluster_arn,
        "RoleArn": role,
        "EcsParameters": {"TaskDefinitionArn": definition, "TaskCount": 1, "LaunchType": "EC2"},
        "InputTransformer": {
            "InputPathsMap": {"bucket": "$.detail.bucket.name", "key": "$.detail.object.key"},
            "InputTemplate": '{"containerOverrides": [{"name": "predict", "command": ["classify", "s3://<bucket>/<key>"]}]}',
        },
    }
    events.put_targets(Rule="compat-uploads", Targets=[target])
    return {"s3": s3, "iam": iam, "events": events, "target": target, "definition": definition}


def started_by_rule(ecs: Any) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster="compat", startedBy="events-rule/compat-uploads")["taskArns"]
    return describe(ecs, arns)


def failed_invocations(compat_endpoint: str) -> float:
    from datetime import datetime, timedelta

    now = datetime.now(UTC)
    points = client("cloudwatch", compat_endpoint).get_metric_statistics(
        Namespace="AWS/Events",
        MetricName="FailedInvocations",
        Dimensions=[{"Name": "RuleName", "Value": "compat-uploads"}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(p["Sum"] for p in points)


def test_an_upload_starts_the_rules_task_with_the_key(
    compat_endpoint: str, ecs: Any, uploads_rule: dict[str, Any]
) -> None:
    answer = uploads_rule["s3"].get_bucket_notification_configuration(Bucket="compat-uploads")
    assert answer.get("EventBridgeConfiguration") == {}
    uploads_rule["s3"].put_object(Bucket="compat-uploads", Key="elsewhere/x.png", Body=b"x")
    assert started_by_rule(ecs) == []
    uploads_rule["s3"].put_object(Bucket="compat-uploads", Key='uploads/a "cat".png', Body=b"x")
    (task,) = started_by_rule(ecs)
    assert task["taskDefinitionArn"] == uploads_rule["definition"]
    assert task["overrides"]["containerOverrides"][0]["command"] == [
        "classify",
        's3://compat-uploads/uploads/a "cat".png',
    ]
    report(ecs, task, "STOPPED", 0)
    assert failed_invocations(compat_endpoint) == 0


def test_a_role_that_may_not_run_the_task_there_starts_nothing(
    compat_endpoint: str, ecs: Any, uploads_rule: dict[str, Any]
) -> None:
    policy = uploads_rule["iam"].get_role_policy(RoleName="compat-uploads-events", PolicyName="run")
    document = policy["PolicyDocument"]
    narrow = json.loads(json.dumps(document))
    narrow["Statement"][0]["Condition"]["StringEquals"]["ecs:cluster"] += "-other"
    uploads_rule["iam"].put_role_policy(
        RoleName="compat-uploads-events", PolicyName="run", PolicyDocument=json.dumps(narrow)
    )
    try:
        before = {t["taskArn"] for t in started_by_rule(ecs)}
        uploads_rule["s3"].put_object(Bucket="compat-uploads", Key="uploads/b.png", Body=b"x")
        assert {t["taskArn"] for t in started_by_rule(ecs)} == before
        assert failed_invocations(compat_endpoint) == 1
    finally:
        uploads_rule["iam"].put_role_policy(
            RoleName="compat-uploads-events", PolicyName="run", PolicyDocument=json.dumps(document)
        )
    uploads_rule["events"].disable_rule(Name="compat-uploads")
    uploads_rule["s3"].put_object(Bucket="compat-uploads", Key="uploads/c.png", Body=b"x")
    assert {t["taskArn"] for t in started_by_rule(ecs)} == before
