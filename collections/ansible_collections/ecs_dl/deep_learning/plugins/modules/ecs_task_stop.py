#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stop ECS tasks (StopTask), once each: given by ARN, a job's (by startedBy) or all of a
cluster's; and wait until they have stopped."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_task_stop
short_description: Stop ECS tasks, and wait until they have stopped
description:
  - Sends StopTask, with a reason, for each task chosen that ECS has not already been told to
    stop (its desiredStatus is not STOPPED). Changed only when a StopTask was sent.
  - The tasks are given by ARN (O(tasks); one ECS does not know, never started or gone from
    DescribeTasks, is reported, not an error), or are the cluster's tasks started with
    O(started_by) (a job's), or all the cluster's tasks (O(all_tasks), as teardown stops them).
    The last two are those ECS lists as to run, and those it has been told to stop that have not
    stopped yet (a service's, when the service was deleted).
  - With O(wait), waits until each of them (stopped now or already stopping) has stopped, that
    is until its last status is C(STOPPED), which the agent reports once its containers have
    exited (after their stopTimeout, SIGTERM then SIGKILL).
  - Unlike C(community.aws.ecs_task) with O(operation=stop), it needs no task definition and
    lists nothing by family (that module gives its C(task_definition) to ListTasks as the
    family; a C(family:revision) is not one, which AWS refuses, see ansible/ansible#32872).
  - In check mode nothing is stopped, RV(stopped) says what would be, and nothing is waited for.
  - A cluster that does not exist has no task to stop.
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
  tasks:
    description: Task ARNs (or ids) to stop.
    type: list
    elements: str
  started_by:
    description: Stop the cluster's tasks started with this startedBy (a job's).
    type: str
  all_tasks:
    description: Stop all the cluster's tasks.
    type: bool
    default: false
  reason:
    description: The stoppedReason ECS records (at most 255 characters).
    type: str
    default: Stopped by ecs-deep-learning
  wait:
    description:
      - Wait until every task stopped, or already stopping, has stopped (at most
        O(wait_timeout) seconds, looking every O(wait_delay) seconds).
      - When the time is up, the module fails, returning RV(stopped), RV(already_stopping),
        RV(missing) and RV(tasks) as last seen.
    type: bool
    default: false
  wait_timeout:
    description: How long O(wait) waits, in seconds.
    type: int
    default: 120
  wait_delay:
    description: Seconds between two looks while O(wait) waits.
    type: int
    default: 2
notes:
  - Exactly one of O(tasks), O(started_by) and O(all_tasks=true) chooses the tasks.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Stop the task the wait gave up on, and wait until it has stopped
  ecs_dl.deep_learning.ecs_task_stop:
    cluster: ecs-dl
    tasks: ["{{ started.tasks[0].arn }}"]
    reason: Not done in time
    wait: true
    wait_timeout: 60

- name: Stop every task of the job, and wait until all of it has stopped
  ecs_dl.deep_learning.ecs_task_stop:
    cluster: ecs-dl
    started_by: dist-20261126123456-000001
    reason: A process of the job failed
    wait: true

- name: Stop all the cluster's tasks (teardown)
  ecs_dl.deep_learning.ecs_task_stop:
    cluster: ecs-dl
    all_tasks: true
    reason: The deployment is being torn down
    wait: true
"""

RETURN = r"""
stopped:
  description: The tasks StopTask was sent for (would be, in check mode).
  returned: always
  type: list
  elements: str
already_stopping:
  description: The tasks whose desiredStatus was already STOPPED (given by O(tasks)), or, chosen
    by O(started_by) or O(all_tasks), those of them that had not stopped yet.
  returned: always
  type: list
  elements: str
missing:
  description: The tasks given that ECS does not know.
  returned: always
  type: list
  elements: str
tasks:
  description:
    - The tasks of RV(stopped) and RV(already_stopping), as the wait last saw them, with the
      fields of the tasks M(ecs_dl.deep_learning.ecs_task_info) returns but C(ec2_instance_id).
    - A task DescribeTasks no longer knows is left out.
  returned: with O(wait) (not in check mode), also when the wait gives up
  type: list
  elements: dict
  contains:
    arn:
      description: Task ARN.
      type: str
    id:
      description: Task id.
      type: str
    last_status:
      description: Last status (C(STOPPED) once it has stopped).
      type: str
    stopped_reason:
      description: Why it stopped (O(reason) for the tasks stopped here).
      type: str
    containers:
      description: Its containers (C(name), C(last_status), C(exit_code), ...).
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
    list_task_arns,
    task_id,
    task_summary,
    wait_until,
)

MAX_REASON = 255


def choose_tasks(ecs: Any, params: dict[str, Any]) -> tuple[list[str], list[dict]]:
    """The tasks asked for (ARNs or ids, in order, once each) and DescribeTasks's answer about
    them. Listed by startedBy or for the whole cluster: those to run, and those told to stop
    that have not stopped yet."""
    cluster = params["cluster"]
    if not cluster_exists(ecs, cluster):
        return list(dict.fromkeys(params["tasks"] or [])), []
    if params["tasks"] is not None:
        wanted = list(dict.fromkeys(params["tasks"]))
        return wanted, describe_tasks(ecs, cluster, wanted) if wanted else []
    arns = [
        arn
        for desired in ("RUNNING", "STOPPED")
        for arn in list_task_arns(
            ecs, cluster, startedBy=params["started_by"], desiredStatus=desired
        )
    ]
    described = describe_tasks(ecs, cluster, list(dict.fromkeys(arns))) if arns else []
    chosen = [task for task in described if task.get("lastStatus") != "STOPPED"]
    return [task["taskArn"] for task in chosen], chosen


def stop_tasks(ecs: Any, params: dict[str, Any], check_mode: bool) -> dict[str, list[str]]:
    wanted, described = choose_tasks(ecs, params)
    by_id = {task_id(task["taskArn"]): task for task in described}
    result: dict[str, list[str]] = {"stopped": [], "already_stopping": [], "missing": []}
    for given in wanted:
        task = by_id.get(task_id(given))
        if task is None:
            result["missing"].append(given)
        elif task.get("desiredStatus") == "STOPPED":
            result["already_stopping"].append(task["taskArn"])
        else:
            if not check_mode:
                ecs.stop_task(
                    aws_retry=True,
                    cluster=params["cluster"],
                    task=task["taskArn"],
                    reason=params["reason"],
                )
            result["stopped"].append(task["taskArn"])
    return result


def wait_stopped(ecs: Any, params: dict[str, Any], arns: list[str]) -> tuple[list[dict], bool]:
    """Look at the tasks until every one has stopped, at most wait_timeout seconds."""
    tasks, done = wait_until(
        lambda: describe_tasks(ecs, params["cluster"], arns) if arns else [],
        lambda tasks: every_task_stopped(
            {task_id(task["taskArn"]): task.get("lastStatus", "") for task in tasks}, arns
        ),
        timeout=params["wait_timeout"],
        delay=params["wait_delay"],
    )
    return [task_summary(task) for task in tasks], done


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            tasks=dict(type="list", elements="str"),
            started_by=dict(type="str"),
            all_tasks=dict(type="bool", default=False),
            reason=dict(type="str", default="Stopped by ecs-deep-learning"),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=120),
            wait_delay=dict(type="int", default=2),
        ),
        supports_check_mode=True,
    )
    params = module.params
    chosen_by = [
        name
        for name, given in (
            ("tasks", params["tasks"] is not None),
            ("started_by", bool(params["started_by"])),
            ("all_tasks", params["all_tasks"]),
        )
        if given
    ]
    if len(chosen_by) != 1:
        module.fail_json(
            msg="choose the tasks with exactly one of tasks, started_by and all_tasks=true, "
            f"got: {', '.join(chosen_by) or 'none'}"
        )
    if len(params["reason"]) > MAX_REASON:
        module.fail_json(msg=f"reason: at most {MAX_REASON} characters")
    if params["wait_timeout"] < 0 or params["wait_delay"] < 1:
        module.fail_json(msg="wait_timeout: 0 or more seconds; wait_delay: 1 or more seconds")
    ecs = connect(module)
    try:
        result: dict[str, Any] = stop_tasks(ecs, params, module.check_mode)
        if params["wait"] and not module.check_mode:
            result["tasks"], done = wait_stopped(
                ecs, params, result["stopped"] + result["already_stopping"]
            )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(error, msg=f"Could not stop tasks on cluster {params['cluster']}")
    if params["wait"] and not module.check_mode and not done:
        stopping = [t for t in result["tasks"] if t["last_status"] != "STOPPED"]
        module.fail_json(
            msg=f"ECS cluster {params['cluster']}: not every task stopped within "
            f"{params['wait_timeout']} s (StopTask was sent; not stopped yet: "
            f"{', '.join(t['id'] + ' ' + str(t['last_status']) for t in stopping) or 'none'})",
            changed=bool(result["stopped"]),
            **result,
        )
    module.exit_json(changed=bool(result["stopped"]), **result)


if __name__ == "__main__":
    main()
