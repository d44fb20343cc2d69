"""ECS calls shared by the project's modules ecs_container_instance, ecs_container_instance_info,
ecs_task_info, ecs_task_start, ecs_task_stop and ecs_taskdefinition_revisions_info (each boto3
call in a small function, so unit tests replace it), how they are retried, and how the modules
wait. The listings are botocore's paginators, through amazon.aws's paginated_query_with_retries
(a failed page retries the whole listing).

Every call is retried with AWSRetry's jittered backoff (amazon.aws's defaults: up to 10 tries,
3 s first delay, doubling, at most 60 s) on throttling and on AWS's transient errors. Calls
about a cluster that DescribeClusters has just shown also retry ClusterNotFoundException:
right after CreateCluster ECS's other APIs can still not know the cluster for a moment
(eventual consistency). DescribeClusters itself answers a missing cluster with a failure,
not an error, so cluster_exists() stays the plain yes or no the modules decide on.

Waits (the modules' wait/wait_timeout/wait_delay) look again every few seconds until a deadline,
as ec2_spot_fleet's do, rather than through boto3's ECS waiters (tasks_running, tasks_stopped):
they follow a listing (a service deployment's tasks, a job's, a cluster's), which a waiter on one
DescribeTasks call cannot; a task DescribeTasks does not know yet (MISSING, eventual consistency)
is "not yet", where tasks_stopped would succeed on the tasks it does know; each look keeps the
retries above (throttling, ClusterNotFoundException); and a wait that gives up returns the tasks
as last seen, which the roles' failure messages read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ansible_collections.amazon.aws.plugins.module_utils.botocore import (
    paginated_query_with_retries,
)
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# AWSRetry knows throttling by EC2's and the query APIs' names (RequestLimitExceeded,
# Throttling); ECS, a JSON API, answers ThrottlingException, which it has to be told.
THROTTLING_CODES = ["ThrottlingException"]
Seen = TypeVar("Seen")

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


def task_id(arn: str) -> str:
    """A task's id: its ARN's last part (an id is its own id)."""
    return arn.rsplit("/", 1)[-1]


def task_summary(task: dict) -> dict:
    """A task of DescribeTasks as the modules return it (snake_case, the fields the roles read)."""
    return {
        "arn": task["taskArn"],
        "id": task_id(task["taskArn"]),
        "task_definition_arn": task.get("taskDefinitionArn"),
        "last_status": task.get("lastStatus"),
        "desired_status": task.get("desiredStatus"),
        "group": task.get("group"),
        "started_by": task.get("startedBy"),
        "stopped_reason": task.get("stoppedReason", ""),
        "stop_code": task.get("stopCode"),
        "created_at": str(task.get("createdAt", "")),
        "container_instance_arn": task.get("containerInstanceArn"),
        "containers": [
            {
                "name": container.get("name"),
                "last_status": container.get("lastStatus"),
                "exit_code": container.get("exitCode"),
                "reason": container.get("reason", ""),
                "network_bindings": container.get("networkBindings", []),
            }
            for container in task.get("containers", [])
        ],
    }


def every_task_stopped(last_status: dict[str, str], wanted: Iterable[str] | None = None) -> bool:
    """Whether every task seen (task id -> lastStatus) is STOPPED and, given `wanted` (ARNs or
    ids), whether ECS described each of those: a task it does not know yet is not stopped."""
    return all(status == "STOPPED" for status in last_status.values()) and (
        wanted is None or {task_id(arn) for arn in wanted} <= last_status.keys()
    )


def wait_until(
    look: Callable[[], Seen],
    done: Callable[[Seen], bool],
    timeout: float,
    delay: float,
    sleep: Callable[[float], Any] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Seen, bool]:
    """Look until done(what was seen), every `delay` seconds and once more at the deadline,
    `timeout` seconds from now. Returns the last look and whether it was done."""
    deadline = clock() + timeout
    while True:
        seen = look()
        if done(seen):
            return seen, True
        left = deadline - clock()
        if left <= 0:
            return seen, False
        sleep(min(delay, left))
