"""Count what a deployment left in an account, through the same APIs a user would call.

Every resource type named in docs/CONTRACTS.md is looked up by the deployment's derived name
or its `Deployment` tag. Anything missing counts 0: absent clusters, roles or repositories are
not errors, so the counts can be taken before, during and after a teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import boto3
from botocore.exceptions import ClientError

# Spot Fleet request states that still hold (or may still launch) instances.
_FLEET_GONE_STATES = {"cancelled", "cancelled_running", "cancelled_terminating", "failed"}
_LIVE_INSTANCE_STATES = ["pending", "running"]

RESOURCE_TYPES: tuple[str, ...] = (
    "key_pairs",
    "vpcs",
    "subnets",
    "internet_gateways",
    "route_tables",
    "security_groups",
    "iam_roles",
    "instance_profiles",
    "s3_buckets",
    "log_groups",
    "ecr_repositories",
    "ecs_clusters",
    "container_instances",
    "launch_templates",
    "spot_fleet_requests",
    "instances",
    "ecs_services",
    "ecs_tasks",
    "task_definitions",
    "ssm_parameters",
    "efs_file_systems",
    "efs_mount_targets",
    "efs_access_points",
    "eventbridge_rules",
    "s3_eventbridge_notifications",
)


TASK_FAMILIES = ("jupyter", "predict", "train", "train-dist", "import", "work-archive")


def task_definition_families(deployment_name: str) -> list[str]:
    """The task definition families of a deployment (docs/CONTRACTS.md)."""
    return [f"{deployment_name}-{kind}" for kind in TASK_FAMILIES]


def role_names(deployment_name: str) -> list[str]:
    """The IAM role names of a deployment (docs/CONTRACTS.md): the services' roles, each
    task definition family's task role and the role EventBridge runs the uploads' task as."""
    return (
        [
            f"{deployment_name}-{suffix}"
            for suffix in ("ecs-instance", "spot-fleet", "task-execution")
        ]
        + [f"{deployment_name}-{family}-task" for family in TASK_FAMILIES]
        + [f"{deployment_name}-uploads-events"]
    )


def uploads_rule_name(deployment_name: str) -> str:
    """The EventBridge rule of a deployment's uploads (docs/CONTRACTS.md)."""
    return f"{deployment_name}-classify-uploads"


def retired_role_names(deployment_name: str) -> list[str]:
    """Roles earlier versions made (the one task role every family shared); teardown removes
    them too."""
    return [f"{deployment_name}-task"]


def bucket_names(deployment_name: str, account: str, region: str) -> list[str]:
    """The S3 bucket names of a deployment (docs/CONTRACTS.md)."""
    return [
        f"{deployment_name}-{kind}-{account}-{region}" for kind in ("input", "output", "models")
    ]


def log_group_name(deployment_name: str) -> str:
    """The CloudWatch log group of a deployment."""
    return f"/ecs/{deployment_name}"


def ecr_repository_name(deployment_name: str) -> str:
    """The ECR repository of a deployment."""
    return f"{deployment_name}/mxnet"


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _absent_is_zero(call: Callable[[], int], *absent_codes: str) -> int:
    """Run a counting call; a 'not found' error code means 0 of that resource."""
    try:
        return call()
    except ClientError as error:
        code = _error_code(error)
        if code in absent_codes or "NotFound" in code or "NoSuch" in code:
            return 0
        raise


def _tags(items: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in items or [] if "Key" in tag}


def _tag_filter(deployment_name: str) -> list[dict[str, Any]]:
    return [{"Name": "tag:Deployment", "Values": [deployment_name]}]


def _fleet_belongs(fleet: dict[str, Any], deployment_name: str) -> bool:
    tags = _tags(fleet.get("Tags"))
    for spec in fleet.get("SpotFleetRequestConfig", {}).get("TagSpecifications", []) or []:
        tags.update(_tags(spec.get("Tags")))
    return tags.get("Deployment") == deployment_name or tags.get("Name") == deployment_name


def _count_ec2(ec2: Any, deployment_name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    by_tag = _tag_filter(deployment_name)

    counts["key_pairs"] = _absent_is_zero(
        lambda: len(ec2.describe_key_pairs(KeyNames=[deployment_name])["KeyPairs"]),
        "InvalidKeyPair.NotFound",
    )
    counts["vpcs"] = len(ec2.describe_vpcs(Filters=by_tag)["Vpcs"])
    counts["subnets"] = len(ec2.describe_subnets(Filters=by_tag)["Subnets"])
    counts["internet_gateways"] = len(
        ec2.describe_internet_gateways(Filters=by_tag)["InternetGateways"]
    )
    counts["route_tables"] = sum(
        1
        for table in ec2.describe_route_tables(Filters=by_tag)["RouteTables"]
        if not any(assoc.get("Main") for assoc in table.get("Associations", []))
    )
    groups: dict[str, dict[str, Any]] = {}
    for filters in (by_tag, [{"Name": "group-name", "Values": [f"{deployment_name}-instances"]}]):
        for group in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]:
            groups[group["GroupId"]] = group
    counts["security_groups"] = sum(1 for g in groups.values() if g["GroupName"] != "default")

    templates = ec2.describe_launch_templates()["LaunchTemplates"]
    counts["launch_templates"] = sum(
        1
        for template in templates
        if template["LaunchTemplateName"] == f"{deployment_name}-ecs-instance"
        or _tags(template.get("Tags")).get("Deployment") == deployment_name
    )

    fleets = [
        fleet
        for fleet in ec2.describe_spot_fleet_requests()["SpotFleetRequestConfigs"]
        if _fleet_belongs(fleet, deployment_name)
        and fleet.get("SpotFleetRequestState") not in _FLEET_GONE_STATES
    ]
    counts["spot_fleet_requests"] = len(fleets)

    instance_ids: set[str] = set()
    for fleet in fleets:
        fleet_instances = ec2.describe_spot_fleet_instances(
            SpotFleetRequestId=fleet["SpotFleetRequestId"]
        )["ActiveInstances"]
        instance_ids.update(item["InstanceId"] for item in fleet_instances)
    live: set[str] = set()
    if instance_ids:
        reservations = ec2.describe_instances(
            InstanceIds=sorted(instance_ids),
            Filters=[{"Name": "instance-state-name", "Values": _LIVE_INSTANCE_STATES}],
        )["Reservations"]
        live.update(i["InstanceId"] for r in reservations for i in r["Instances"])
    reservations = ec2.describe_instances(
        Filters=[*by_tag, {"Name": "instance-state-name", "Values": _LIVE_INSTANCE_STATES}]
    )["Reservations"]
    live.update(i["InstanceId"] for r in reservations for i in r["Instances"])
    counts["instances"] = len(live)
    return counts


def _count_iam(iam: Any, deployment_name: str) -> dict[str, int]:
    def role_exists(name: str) -> int:
        iam.get_role(RoleName=name)
        return 1

    def profile_exists(name: str) -> int:
        iam.get_instance_profile(InstanceProfileName=name)
        return 1

    return {
        "iam_roles": sum(
            _absent_is_zero(lambda n=name: role_exists(n), "NoSuchEntity")
            for name in role_names(deployment_name) + retired_role_names(deployment_name)
        ),
        "instance_profiles": _absent_is_zero(
            lambda: profile_exists(f"{deployment_name}-ecs-instance"), "NoSuchEntity"
        ),
    }


def _count_ecs(ecs: Any, deployment_name: str) -> dict[str, int]:
    clusters = ecs.describe_clusters(clusters=[deployment_name]).get("clusters", [])
    active = [c for c in clusters if c.get("status") == "ACTIVE"]

    def listed(operation: str, key: str, **kwargs: Any) -> list[str]:
        found: list[str] = []
        for page in ecs.get_paginator(operation).paginate(**kwargs):
            found.extend(page.get(key, []))
        return found

    def services() -> int:
        arns = listed("list_services", "serviceArns", cluster=deployment_name)
        if not arns:
            return 0
        described = ecs.describe_services(cluster=deployment_name, services=arns)["services"]
        return sum(1 for service in described if service.get("status") != "INACTIVE")

    def tasks() -> int:
        # Tasks still to run, or told to stop but not yet stopped by their agent.
        running = listed("list_tasks", "taskArns", cluster=deployment_name)
        stopping = listed(
            "list_tasks", "taskArns", cluster=deployment_name, desiredStatus="STOPPED"
        )
        arns = running + stopping
        if not arns:
            return 0
        described = []
        for start in range(0, len(arns), 100):
            described.extend(
                ecs.describe_tasks(cluster=deployment_name, tasks=arns[start : start + 100])[
                    "tasks"
                ]
            )
        return sum(1 for task in described if task.get("lastStatus") != "STOPPED")

    definitions = sum(
        len(
            listed(
                "list_task_definitions", "taskDefinitionArns", familyPrefix=family, status="ACTIVE"
            )
        )
        for family in task_definition_families(deployment_name)
    )
    return {
        "ecs_clusters": len(active),
        "container_instances": (
            _absent_is_zero(
                lambda: len(
                    listed(
                        "list_container_instances", "containerInstanceArns", cluster=deployment_name
                    )
                ),
                "ClusterNotFoundException",
            )
            if active
            else 0
        ),
        "ecs_services": _absent_is_zero(services, "ClusterNotFoundException") if active else 0,
        "ecs_tasks": _absent_is_zero(tasks, "ClusterNotFoundException") if active else 0,
        "task_definitions": definitions,
    }


def workspace_name(deployment_name: str) -> str:
    """The creation token (and tag Name) of a deployment's EFS file system and access point."""
    return f"{deployment_name}-work"


def _count_efs(efs: Any, deployment_name: str) -> dict[str, int]:
    """The deployment's file systems (by creation token or Deployment tag), their mount targets
    and their access points."""
    systems = []
    for page in efs.get_paginator("describe_file_systems").paginate():
        for system in page.get("FileSystems", []):
            tags = _tags(system.get("Tags"))
            if system.get("LifeCycleState") in ("deleting", "deleted"):
                continue
            if (
                system.get("CreationToken") == workspace_name(deployment_name)
                or tags.get("Deployment") == deployment_name
            ):
                systems.append(system["FileSystemId"])
    targets = points = 0
    for system in systems:
        targets += len(efs.describe_mount_targets(FileSystemId=system).get("MountTargets", []))
        points += len(efs.describe_access_points(FileSystemId=system).get("AccessPoints", []))
    return {
        "efs_file_systems": len(systems),
        "efs_mount_targets": targets,
        "efs_access_points": points,
    }


def _count_ssm(ssm: Any, deployment_name: str) -> int:
    found = 0
    for page in ssm.get_paginator("describe_parameters").paginate(
        ParameterFilters=[
            {"Key": "Name", "Option": "BeginsWith", "Values": [f"/{deployment_name}/"]}
        ]
    ):
        found += len(page.get("Parameters", []))
    return found


def count_resources(
    endpoint_url: str | None,
    region: str,
    deployment_name: str,
    access_key: str | None,
    secret_key: str | None,
    profile: str | None = None,
) -> dict[str, int]:
    """Count each resource type of `deployment_name`; returns {type: count} for RESOURCE_TYPES."""
    session = boto3.session.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        profile_name=profile,
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    account = client("sts").get_caller_identity()["Account"]
    counts: dict[str, int] = {}
    counts.update(_count_ec2(client("ec2"), deployment_name))
    counts.update(_count_iam(client("iam"), deployment_name))

    s3 = client("s3")
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    ours = existing & set(bucket_names(deployment_name, account, region))
    counts["s3_buckets"] = len(ours)
    # the buckets that send their events to EventBridge (the input bucket, for the uploads)
    counts["s3_eventbridge_notifications"] = sum(
        "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=bucket)
        for bucket in ours
    )
    rules = client("events").list_rules(NamePrefix=uploads_rule_name(deployment_name))["Rules"]
    counts["eventbridge_rules"] = sum(
        rule["Name"] == uploads_rule_name(deployment_name) for rule in rules
    )

    logs = client("logs")
    group = log_group_name(deployment_name)
    counts["log_groups"] = sum(
        1
        for item in logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        if item["logGroupName"] == group
    )

    ecr = client("ecr")
    counts["ecr_repositories"] = _absent_is_zero(
        lambda: len(
            ecr.describe_repositories(repositoryNames=[ecr_repository_name(deployment_name)])[
                "repositories"
            ]
        ),
        "RepositoryNotFoundException",
    )

    counts.update(_count_ecs(client("ecs"), deployment_name))
    counts["ssm_parameters"] = _count_ssm(client("ssm"), deployment_name)
    counts.update(_count_efs(client("efs"), deployment_name))
    return {name: counts.get(name, 0) for name in RESOURCE_TYPES}


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.resources --deployment-name NAME ...`: print the counts as JSON."""
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(
        description="Count the AWS resources of one deployment (by name and Deployment tag)."
    )
    parser.add_argument("--deployment-name", required=True, help="the deployment_name to count")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL") or None,
        help="API endpoint (the local target's moto server); empty for real AWS",
    )
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    parser.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    parser.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    parser.add_argument("--profile", default="", help="a named profile instead of keys")
    args = parser.parse_args(argv)
    counts = count_resources(
        args.endpoint_url or None,
        args.region,
        args.deployment_name,
        args.access_key or None,
        args.secret_key or None,
        profile=args.profile or None,
    )
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
