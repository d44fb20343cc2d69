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
  - Used to wait (C(until)/C(retries)) for a service's task to be C(RUNNING) and for a one-shot
    task to be C(STOPPED), and to read its exit code. community.aws has ecs_task (run, start,
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
    description: Only the tasks started with this startedBy value.
    type: str
  desired_status:
    description: Only the tasks with this desired status (ECS lists C(RUNNING) when omitted).
    type: str
    choices: [RUNNING, PENDING, STOPPED]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Wait until the Jupyter service's task runs
  ecs_dl.deep_learning.ecs_task_info:
    cluster: ecs-dl
    service_name: ecs-dl-jupyter
  register: jupyter_tasks
  until: jupyter_tasks.tasks | selectattr('last_status', 'eq', 'RUNNING') | list | length > 0
  retries: 60
  delay: 5

- name: Wait until a one-shot task has stopped
  ecs_dl.deep_learning.ecs_task_info:
    cluster: ecs-dl
    task_arns: ["{{ run.task[0].taskArn }}"]
  register: predict
  until: predict.tasks[0].last_status == 'STOPPED'
  retries: 120
  delay: 5
"""

RETURN = r"""
tasks:
  description: The tasks, oldest first.
  returned: always
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
    list_container_instances,
    list_task_arns,
)


def summary(task: dict, instances: dict[str, str]) -> dict:
    return {
        "arn": task["taskArn"],
        "id": task["taskArn"].rsplit("/", 1)[-1],
        "task_definition_arn": task.get("taskDefinitionArn"),
        "last_status": task.get("lastStatus"),
        "desired_status": task.get("desiredStatus"),
        "group": task.get("group"),
        "started_by": task.get("startedBy"),
        "stopped_reason": task.get("stoppedReason", ""),
        "stop_code": task.get("stopCode"),
        "created_at": str(task.get("createdAt", "")),
        "container_instance_arn": task.get("containerInstanceArn"),
        "ec2_instance_id": instances.get(task.get("containerInstanceArn") or ""),
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


def find_tasks(ecs: Any, params: dict) -> list[dict]:
    cluster = params["cluster"]
    if not cluster_exists(ecs, cluster):
        return []
    arns = params["task_arns"]
    if arns is None:
        arns = list_task_arns(
            ecs,
            cluster,
            serviceName=params["service_name"],
            family=params["family"],
            startedBy=params["started_by"],
            desiredStatus=params["desired_status"],
        )
    if not arns:
        return []
    tasks = describe_tasks(ecs, cluster, arns)
    instances = {
        ci["containerInstanceArn"]: ci.get("ec2InstanceId")
        for ci in list_container_instances(ecs, cluster)
    }
    found = [summary(task, instances) for task in tasks]
    return sorted(found, key=lambda task: (task["created_at"], task["arn"]))


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            task_arns=dict(type="list", elements="str"),
            service_name=dict(type="str"),
            family=dict(type="str"),
            started_by=dict(type="str"),
            desired_status=dict(type="str", choices=["RUNNING", "PENDING", "STOPPED"]),
        ),
        supports_check_mode=True,
    )
    ecs = connect(module, "ecs")
    try:
        found = find_tasks(ecs, module.params)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"tasks of ECS cluster {module.params['cluster']}")
    module.exit_json(changed=False, tasks=found)


if __name__ == "__main__":
    main()
