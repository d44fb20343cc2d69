"""ECS calls shared by the project's modules ecs_container_instance and
ecs_container_instance_info (each boto3 call in a small function, so unit tests replace it)."""

from __future__ import annotations

from typing import Any


def cluster_exists(ecs: Any, cluster: str) -> bool:
    response = ecs.describe_clusters(aws_retry=True, clusters=[cluster])
    return any(c.get("status") != "INACTIVE" for c in response.get("clusters", []))


def list_container_instances(ecs: Any, cluster: str) -> list[dict]:
    """The cluster's container instances, described (ARN, ec2InstanceId, status, ...)."""
    arns: list[str] = []
    params: dict[str, Any] = {"cluster": cluster}
    while True:
        page = ecs.list_container_instances(aws_retry=True, **params)
        arns.extend(page.get("containerInstanceArns", []))
        if not page.get("nextToken"):
            break
        params["nextToken"] = page["nextToken"]
    described: list[dict] = []
    for start in range(0, len(arns), 100):
        response = ecs.describe_container_instances(
            aws_retry=True, cluster=cluster, containerInstances=arns[start : start + 100]
        )
        described.extend(response.get("containerInstances", []))
    return described


def list_task_arns(ecs: Any, cluster: str, **filters: Any) -> list[str]:
    """ListTasks of a cluster with its filters (serviceName, family, startedBy, desiredStatus)."""
    arns: list[str] = []
    params: dict[str, Any] = {"cluster": cluster, **{k: v for k, v in filters.items() if v}}
    while True:
        page = ecs.list_tasks(aws_retry=True, **params)
        arns.extend(page.get("taskArns", []))
        if not page.get("nextToken"):
            break
        params["nextToken"] = page["nextToken"]
    return arns


def describe_tasks(ecs: Any, cluster: str, arns: list[str]) -> list[dict]:
    """DescribeTasks in chunks of 100."""
    described: list[dict] = []
    for start in range(0, len(arns), 100):
        response = ecs.describe_tasks(
            aws_retry=True, cluster=cluster, tasks=arns[start : start + 100]
        )
        described.extend(response.get("tasks", []))
    return described


def list_task_definition_arns(ecs: Any, family: str, status: str = "ACTIVE") -> list[str]:
    """The task definition ARNs of one family (exactly that family, not the prefix) by status."""
    arns: list[str] = []
    params: dict[str, Any] = {"familyPrefix": family, "status": status, "sort": "ASC"}
    while True:
        page = ecs.list_task_definitions(aws_retry=True, **params)
        arns.extend(page.get("taskDefinitionArns", []))
        if not page.get("nextToken"):
            break
        params["nextToken"] = page["nextToken"]
    # familyPrefix is a prefix: ecs-dl-train would also list ecs-dl-training.
    return [arn for arn in arns if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]
