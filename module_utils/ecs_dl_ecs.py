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
