"""ECS calls shared by the project's modules ecs_container_instance, ecs_container_instance_info,
ecs_task_info and ecs_taskdefinition_revisions_info (each boto3 call in a small function, so
unit tests replace it), and how they are retried. The listings are botocore's paginators, through
amazon.aws's paginated_query_with_retries (a failed page retries the whole listing).

Every call is retried with AWSRetry's jittered backoff (amazon.aws's defaults: up to 10 tries,
3 s first delay, doubling, at most 60 s) on throttling and on AWS's transient errors. Calls
about a cluster that DescribeClusters has just shown also retry ClusterNotFoundException:
right after CreateCluster ECS's other APIs can still not know the cluster for a moment
(eventual consistency). DescribeClusters itself answers a missing cluster with a failure,
not an error, so cluster_exists() stays the plain yes or no the modules decide on.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import (
    paginated_query_with_retries,
)
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# AWSRetry knows throttling by EC2's and the query APIs' names (RequestLimitExceeded,
# Throttling); ECS, a JSON API, answers ThrottlingException, which it has to be told.
THROTTLING_CODES = ["ThrottlingException"]
retry_throttling = AWSRetry.jittered_backoff(catch_extra_error_codes=THROTTLING_CODES)
# For the calls on a cluster known to exist: ClusterNotFoundException means "not yet".
retry_on_known_cluster = AWSRetry.jittered_backoff(
    catch_extra_error_codes=[*THROTTLING_CODES, "ClusterNotFoundException"]
)


def connect(module: Any, service: str = "ecs") -> Any:
    """A client whose calls made with aws_retry=True retry throttling (ThrottlingException too)."""
    return module.client(service, retry_decorator=retry_throttling)


def cluster_exists(ecs: Any, cluster: str) -> bool:
    response = ecs.describe_clusters(aws_retry=True, clusters=[cluster])
    return any(c.get("status") != "INACTIVE" for c in response.get("clusters", []))


def list_container_instances(ecs: Any, cluster: str) -> list[dict]:
    """The cluster's container instances, described (ARN, ec2InstanceId, status, ...)."""
    arns = paginated_query_with_retries(
        ecs, "list_container_instances", retry_decorator=retry_on_known_cluster, cluster=cluster
    ).get("containerInstanceArns", [])
    described: list[dict] = []
    for start in range(0, len(arns), 100):
        response = retry_on_known_cluster(ecs.describe_container_instances)(
            cluster=cluster, containerInstances=arns[start : start + 100]
        )
        described.extend(response.get("containerInstances", []))
    return described


def list_task_arns(ecs: Any, cluster: str, **filters: Any) -> list[str]:
    """ListTasks of a cluster with its filters (serviceName, family, startedBy, desiredStatus)."""
    params: dict[str, Any] = {"cluster": cluster, **{k: v for k, v in filters.items() if v}}
    return paginated_query_with_retries(
        ecs, "list_tasks", retry_decorator=retry_on_known_cluster, **params
    ).get("taskArns", [])


def describe_tasks(ecs: Any, cluster: str, arns: list[str]) -> list[dict]:
    """DescribeTasks in chunks of 100. A task ECS does not know (yet) is left out: DescribeTasks
    lists it under failures (MISSING), and the callers' waits take that as "not yet"."""
    described: list[dict] = []
    for start in range(0, len(arns), 100):
        response = retry_on_known_cluster(ecs.describe_tasks)(
            cluster=cluster, tasks=arns[start : start + 100]
        )
        described.extend(response.get("tasks", []))
    return described


def list_task_definition_arns(ecs: Any, family: str, status: str = "ACTIVE") -> list[str]:
    """The task definition ARNs of one family (exactly that family, not the prefix) by status."""
    arns = paginated_query_with_retries(
        ecs,
        "list_task_definitions",
        retry_decorator=retry_throttling,
        familyPrefix=family,
        status=status,
        sort="ASC",
    ).get("taskDefinitionArns", [])
    # familyPrefix is a prefix: ecs-dl-train would also list ecs-dl-training.
    return [arn for arn in arns if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]
