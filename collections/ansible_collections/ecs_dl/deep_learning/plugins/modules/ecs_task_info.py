#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Describe the tasks of an ECS cluster: of a service, a family, by ARN or by startedBy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_task_info
short_description: Describe the tasks of an ECS cluster, with the EC2 instance each runs on
description:
  - Lists (C(ListTasks)) and describes (C(DescribeTasks)) the tasks of an ECS cluster, filtered
    by service, task definition family, startedBy and desired status, or given by ARN; adds to
    each the EC2 instance id of its container instance (C(DescribeContainerInstances)).
  - With O(wait), waits until a task is C(RUNNING) (a service's) or every task has C(STOPPED)
    (a one-shot task, before reading its exit code). community.aws has ecs_task (run, start,
    stop) but no module that describes tasks.
  - A cluster that does not exist has no tasks.
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
  task_arns:
    description: Describe these tasks (no listing; the filters below are then not used).
    type: list
    elements: str
  service_name:
    description: Only the tasks of this service.
    type: str
  family:
    description: Only the tasks of this task definition family.
    type: str
  started_by:
    description:
      - Only the tasks started with this startedBy value (a service's tasks of one deployment
        have the deployment's id).
      - ListTasks takes startedBy only as its one filter; with O(service_name) or O(family) the
        tasks listed are kept by their startedBy here instead.
    type: str
  desired_status:
    description: Only the tasks with this desired status (ECS lists C(RUNNING) when omitted).
    type: str
    choices: [RUNNING, PENDING, STOPPED]
  wait:
    description:
      - Look again (every O(wait_delay) seconds, at most O(wait_timeout) seconds) until a task
        found is C(RUNNING) (its last status), or until every task found is C(STOPPED).
      - With O(task_arns), C(STOPPED) also waits for ECS to describe each task given (right
        after it is started, DescribeTasks may not know it yet). Without, the tasks are listed
        anew at each look, and finding none counts as all of them stopped.
      - When the time is up, the module fails, returning RV(tasks) as last seen.
    type: str
    choices: [RUNNING, STOPPED]
  wait_timeout:
    description: How long O(wait) waits, in seconds.
    type: int
    default: 300
  wait_delay:
    description: Seconds between two looks while O(wait) waits.
    type: int
    default: 2
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Wait until a task of the Jupyter service's new deployment runs
  ecs_dl.deep_learning.ecs_task_info:
    cluster: ecs-dl
    service_name: ecs-dl-jupyter
    started_by: "{{ deployment_id }}"
    wait: RUNNING
    wait_timeout: 300
  register: jupyter_tasks

- name: Wait until a one-shot task has stopped, then read its exit code
  ecs_dl.deep_learning.ecs_task_info:
    cluster: ecs-dl
    task_arns: ["{{ started.tasks[0].arn }}"]
    wait: STOPPED
    wait_timeout: 600
  register: predict
"""

RETURN = r"""
tasks:
  description: The tasks, oldest first (with O(wait), as the last look saw them).
  returned: always, and when O(wait) gives up
  type: list
  elements: dict
  contains:
    arn:
      description: Task ARN.
      type: str
    id:
      description: The task id (the ARN's last part; CloudWatch log streams end with it).
      type: str
    task_definition_arn:
      description: Task definition ARN.
      type: str
    last_status:
      description: Last status reported by the agent (C(PENDING), C(RUNNING), C(STOPPED), ...).
      type: str
    desired_status:
      description: Desired status.
      type: str
    group:
      description: Task group (C(service:NAME) for a service's tasks).
      type: str
    started_by:
      description: startedBy.
      type: str
    stopped_reason:
      description: Why the task stopped (empty while it runs).
      type: str
    stop_code:
      description: ECS stop code (C(EssentialContainerExited), C(UserInitiated), ...).
      type: str
    container_instance_arn:
      description: Container instance the task is placed on.
      type: str
    ec2_instance_id:
      description: EC2 instance id of that container instance (null when unknown).
      type: str
    containers:
      description: The task's containers.
      type: list
      elements: dict
      contains:
        name:
          description: Container name.
          type: str
        last_status:
          description: Container status.
          type: str
        exit_code:
          description: Exit code once it stopped (null before).
          type: int
        reason:
          description: Why it stopped or could not start.
          type: str
        network_bindings:
          description: Host ports (bindIP, containerPort, hostPort, protocol).
          type: list
          elements: dict
"""

from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.ecs import (
    cluster_exists,
    connect,
    describe_tasks,
    every_task_stopped,
    list_container_instances,
    list_task_arns,
    task_summary,
    wait_until,
)


def summary(task: dict, instances: dict[str, str]) -> dict:
    """task_summary, with the EC2 instance id of the task's container instance."""
    found = task_summary(task)
    found["ec2_instance_id"] = instances.get(task.get("containerInstanceArn") or "")
    return found


def find_tasks(ecs: Any, params: dict) -> list[dict]:
    cluster = params["cluster"]
    if not cluster_exists(ecs, cluster):
        return []
    arns, started_by = params["task_arns"], params["started_by"]
    # ListTasks takes startedBy only alone: with another filter, it is applied here.
    keep_started_by = started_by if params["service_name"] or params["family"] else None
    if arns is None:
        arns = list_task_arns(
            ecs,
            cluster,
            serviceName=params["service_name"],
            family=params["family"],
            startedBy=None if keep_started_by else started_by,
            desiredStatus=params["desired_status"],
        )
    if not arns:
        return []
    tasks = describe_tasks(ecs, cluster, arns)
    if keep_started_by:
        tasks = [task for task in tasks if task.get("startedBy") == keep_started_by]
    instances = {
        ci["containerInstanceArn"]: ci.get("ec2InstanceId")
        for ci in list_container_instances(ecs, cluster)
    }
    found = [summary(task, instances) for task in tasks]
    return sorted(found, key=lambda task: (task["created_at"], task["arn"]))


def waited_for(params: dict, found: list[dict]) -> bool:
    """Whether `found` is what O(wait) waits for."""
    if params["wait"] == "RUNNING":
        return any(task["last_status"] == "RUNNING" for task in found)
    last_status = {task["id"]: task["last_status"] for task in found}
    return every_task_stopped(last_status, params["task_arns"])


def not_yet(params: dict, found: list[dict]) -> str:
    """What a wait that gave up saw, for its message."""
    statuses = ", ".join(f"{task['id']} {task['last_status']}" for task in found) or "none"
    if params["wait"] == "RUNNING":
        return f"no task RUNNING within {params['wait_timeout']} s (tasks: {statuses})"
    return f"not every task STOPPED within {params['wait_timeout']} s (tasks: {statuses})"


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            task_arns=dict(type="list", elements="str"),
            service_name=dict(type="str"),
            family=dict(type="str"),
            started_by=dict(type="str"),
            desired_status=dict(type="str", choices=["RUNNING", "PENDING", "STOPPED"]),
            wait=dict(type="str", choices=["RUNNING", "STOPPED"]),
            wait_timeout=dict(type="int", default=300),
            wait_delay=dict(type="int", default=2),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["wait_timeout"] < 0 or params["wait_delay"] < 1:
        module.fail_json(msg="wait_timeout: 0 or more seconds; wait_delay: 1 or more seconds")
    ecs = connect(module, "ecs")
    try:
        if params["wait"] is None:
            found, done = find_tasks(ecs, params), True
        else:
            found, done = wait_until(
                lambda: find_tasks(ecs, params),
                lambda found: waited_for(params, found),
                timeout=params["wait_timeout"],
                delay=params["wait_delay"],
            )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"tasks of ECS cluster {params['cluster']}")
    if not done:
        module.fail_json(
            msg=f"ECS cluster {params['cluster']}: {not_yet(params, found)}",
            tasks=found,
        )
    module.exit_json(changed=False, tasks=found)


if __name__ == "__main__":
    main()
