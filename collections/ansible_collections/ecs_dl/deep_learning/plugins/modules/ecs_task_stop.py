#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stop ECS tasks by ARN (StopTask), once each."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_task_stop
short_description: Stop ECS tasks by ARN
description:
  - Sends StopTask, with a reason, for each task given that ECS has not already been told to
    stop (its desiredStatus is not STOPPED). A task ECS does not know (never started, or gone
    from DescribeTasks) is reported, not an error. Changed only when a StopTask was sent.
  - Does not wait for the tasks to stop; poll M(ecs_dl.deep_learning.ecs_task_info) for
    lastStatus STOPPED.
  - Unlike C(community.aws.ecs_task) with O(operation=stop), it needs no task definition and
    lists nothing by family (that module gives its C(task_definition) to ListTasks as the
    family; a C(family:revision) is not one, which AWS refuses, see ansible/ansible#32872).
  - In check mode nothing is stopped; RV(stopped) says what would be.
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
  tasks:
    description: Task ARNs (or ids) to stop.
    type: list
    elements: str
    required: true
  reason:
    description: The stoppedReason ECS records (at most 255 characters).
    type: str
    default: Stopped by ecs-deep-learning
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Stop every task of the job that still runs
  ecs_dl.deep_learning.ecs_task_stop:
    cluster: ecs-dl
    tasks: "{{ running.tasks | map(attribute='arn') | list }}"
    reason: A process of the job failed
"""

RETURN = r"""
stopped:
  description: The tasks StopTask was sent for (would be, in check mode).
  returned: always
  type: list
  elements: str
already_stopping:
  description: The tasks whose desiredStatus was already STOPPED.
  returned: always
  type: list
  elements: str
missing:
  description: The tasks ECS does not know.
  returned: always
  type: list
  elements: str
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
)

MAX_REASON = 255


def stop_tasks(ecs: Any, params: dict[str, Any], check_mode: bool) -> dict[str, list[str]]:
    cluster, wanted = params["cluster"], list(dict.fromkeys(params["tasks"]))
    described = (
        describe_tasks(ecs, cluster, wanted) if wanted and cluster_exists(ecs, cluster) else []
    )
    by_id = {task["taskArn"].rsplit("/", 1)[-1]: task for task in described}
    result: dict[str, list[str]] = {"stopped": [], "already_stopping": [], "missing": []}
    for given in wanted:
        task = by_id.get(given.rsplit("/", 1)[-1])
        if task is None:
            result["missing"].append(given)
        elif task.get("desiredStatus") == "STOPPED":
            result["already_stopping"].append(task["taskArn"])
        else:
            if not check_mode:
                ecs.stop_task(
                    aws_retry=True, cluster=cluster, task=task["taskArn"], reason=params["reason"]
                )
            result["stopped"].append(task["taskArn"])
    return result


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            tasks=dict(type="list", elements="str", required=True),
            reason=dict(type="str", default="Stopped by ecs-deep-learning"),
        ),
        supports_check_mode=True,
    )
    if len(module.params["reason"]) > MAX_REASON:
        module.fail_json(msg=f"reason: at most {MAX_REASON} characters")
    ecs = connect(module)
    try:
        result = stop_tasks(ecs, module.params, module.check_mode)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(
            error, msg=f"Could not stop tasks on cluster {module.params['cluster']}"
        )
    module.exit_json(changed=bool(result["stopped"]), **result)


if __name__ == "__main__":
    main()
