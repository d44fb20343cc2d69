#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start ECS tasks: on container instances of one's choosing (StartTask), or where ECS places
them (RunTask)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_task_start
short_description: Start ECS tasks, on the container instances you name or where ECS places them
description:
  - With O(container_instances), starts one task of a task definition on each container
    instance given (StartTask), to place the processes of a distributed training job on
    chosen instances (each role spread over them). Without, starts O(count) tasks where ECS
    places them (RunTask, launch type O(launch_type)), as for the predict and train tasks.
  - Either way with container overrides and a startedBy, returning the tasks and ECS's
    failures.
  - Unlike C(community.aws.ecs_task), which first lists the cluster's tasks with the task
    definition as the family (with O(operation=start) no family at all, a parameter error; a
    C(family:revision) is not a family, which AWS refuses, see ansible/ansible#32872), this
    lists nothing and always starts new tasks. Starting a task is not idempotent; give each
    job its own O(started_by) to find its tasks again.
  - In check mode nothing is started and RV(tasks) is empty.
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
  task_definition:
    description: Task definition family (its latest ACTIVE revision), C(family:revision) or ARN.
    type: str
    required: true
  container_instances:
    description:
      - Container instance ARNs or ids; one task is started on each (at most 10), with StartTask.
      - When left out, ECS places O(count) tasks (RunTask).
    type: list
    elements: str
  count:
    description: How many tasks ECS places (1 to 10), without O(container_instances).
    type: int
    default: 1
  launch_type:
    description: The launch type of the tasks ECS places, without O(container_instances).
    type: str
    choices: [EC2, FARGATE, EXTERNAL]
    default: EC2
  overrides:
    description: Task overrides as StartTask takes them (C(containerOverrides), ...).
    type: dict
  started_by:
    description: startedBy of the tasks, letters, digits, hyphens, slashes and underscores (at
      most 36 with O(container_instances), StartTask's limit, else 128).
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Start a worker on the second instance
  ecs_dl.deep_learning.ecs_task_start:
    cluster: ecs-dl
    task_definition: ecs-dl-train-dist
    container_instances: ["{{ instances[1].arn }}"]
    started_by: dist-20261126123456-000001
    overrides:
      containerOverrides:
        - name: train
          environment:
            - {name: DMLC_ROLE, value: worker}
  register: started

- name: Run one predict task where ECS places it
  ecs_dl.deep_learning.ecs_task_start:
    cluster: ecs-dl
    task_definition: ecs-dl-predict:3
    started_by: ecs-dl-predict
  register: started
"""

RETURN = r"""
tasks:
  description: The tasks started (empty in check mode or when ECS started none).
  returned: always
  type: list
  elements: dict
  contains:
    arn:
      description: Task ARN.
      type: str
    id:
      description: Task id (the ARN's last part).
      type: str
    container_instance_arn:
      description: The container instance it was started on.
      type: str
failures:
  description: ECS's failures (C(arn), C(reason), C(detail)), e.g. C(RESOURCE:MEMORY).
  returned: always
  type: list
  elements: dict
"""

import re
from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.ecs import connect

STARTED_BY = re.compile(r"^[A-Za-z0-9_/-]+$")
STARTED_BY_MAX = {"StartTask": 36, "RunTask": 128}
MAX_TASKS = 10  # StartTask's limit of instances, RunTask's of count


def start_tasks(ecs: Any, params: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {
        "cluster": params["cluster"],
        "taskDefinition": params["task_definition"],
    }
    if params["overrides"]:
        request["overrides"] = params["overrides"]
    if params["started_by"]:
        request["startedBy"] = params["started_by"]
    if params["container_instances"] is not None:
        response = ecs.start_task(
            aws_retry=True, containerInstances=params["container_instances"], **request
        )
    else:
        response = ecs.run_task(
            aws_retry=True, count=params["count"], launchType=params["launch_type"], **request
        )
    return {
        "tasks": [
            {
                "arn": task["taskArn"],
                "id": task["taskArn"].rsplit("/", 1)[-1],
                "container_instance_arn": task.get("containerInstanceArn"),
            }
            for task in response.get("tasks", [])
        ],
        "failures": response.get("failures", []),
    }


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            task_definition=dict(type="str", required=True),
            container_instances=dict(type="list", elements="str"),
            count=dict(type="int", default=1),
            launch_type=dict(type="str", choices=["EC2", "FARGATE", "EXTERNAL"], default="EC2"),
            overrides=dict(type="dict"),
            started_by=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    instances = params["container_instances"]
    if instances is not None and not 1 <= len(instances) <= MAX_TASKS:
        module.fail_json(
            msg=f"container_instances: give 1 to {MAX_TASKS} container instances, "
            f"got {len(instances)}"
        )
    if instances is None and not 1 <= params["count"] <= MAX_TASKS:
        module.fail_json(
            msg=f"count: ECS places 1 to {MAX_TASKS} tasks at once, got {params['count']}"
        )
    started_by, api = params["started_by"], "RunTask" if instances is None else "StartTask"
    if started_by and not (STARTED_BY.match(started_by) and len(started_by) <= STARTED_BY_MAX[api]):
        module.fail_json(
            msg=f"started_by {started_by!r}: at most {STARTED_BY_MAX[api]} letters, digits, "
            f"hyphens, slashes and underscores ({api})"
        )
    if module.check_mode:
        module.exit_json(changed=True, tasks=[], failures=[])
    ecs = connect(module)
    try:
        result = start_tasks(ecs, params)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(
            error,
            msg=f"Could not start {params['task_definition']} on cluster {params['cluster']}",
        )
    module.exit_json(changed=bool(result["tasks"]), **result)


if __name__ == "__main__":
    main()
