#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start an ECS task on a container instance of one's choosing (StartTask)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_task_start
short_description: Start ECS tasks on the container instances you name (StartTask)
description:
  - Starts one task of a task definition on each container instance given, with container
    overrides and a startedBy, and returns the tasks and ECS's failures. Used to place the
    processes of a distributed training job on chosen instances (each role spread over them).
  - Unlike C(community.aws.ecs_task), which with O(operation=start) lists the cluster's tasks
    with no family (a parameter error) and with O(operation=run) returns a RUNNING task of the
    same family instead of starting one, this always starts new tasks. Starting a task is not
    idempotent; give each job its own O(started_by) to find its tasks again.
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
    description: Container instance ARNs or ids; one task is started on each (at most 10).
    type: list
    elements: str
    required: true
  overrides:
    description: Task overrides as StartTask takes them (C(containerOverrides), ...).
    type: dict
  started_by:
    description: startedBy of the tasks (at most 36 letters, digits, hyphens and underscores).
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Start a worker on the second instance
  ecs_task_start:
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

import os
import re
import sys
from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

try:
    from ansible.module_utils.ecs_dl_ecs import connect
except ImportError:  # run as a plain script (tests): the repository's module_utils folder
    sys.path.insert(
        0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils")
    )
    from ecs_dl_ecs import connect  # type: ignore[no-redef]

STARTED_BY = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
MAX_INSTANCES = 10  # StartTask's limit


def start_tasks(ecs: Any, params: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {
        "cluster": params["cluster"],
        "taskDefinition": params["task_definition"],
        "containerInstances": params["container_instances"],
    }
    if params["overrides"]:
        request["overrides"] = params["overrides"]
    if params["started_by"]:
        request["startedBy"] = params["started_by"]
    response = ecs.start_task(aws_retry=True, **request)
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
            container_instances=dict(type="list", elements="str", required=True),
            overrides=dict(type="dict"),
            started_by=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    instances = params["container_instances"]
    if not instances or len(instances) > MAX_INSTANCES:
        module.fail_json(
            msg=f"container_instances: give 1 to {MAX_INSTANCES} container instances, "
            f"got {len(instances)}"
        )
    if params["started_by"] and not STARTED_BY.match(params["started_by"]):
        module.fail_json(
            msg=f"started_by {params['started_by']!r}: at most 36 letters, digits, hyphens "
            "and underscores"
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
