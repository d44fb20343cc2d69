#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List the container instances of an ECS cluster."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_container_instance_info
short_description: List the container instances of an ECS cluster
description:
  - Lists the container instances of an ECS cluster with their EC2 instance id, status and
    whether their agent is connected. A cluster that does not exist has none.
  - Used to wait (C(until)/C(retries)) for the Spot Fleet's instances to be C(ACTIVE) container
    instances.
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Wait until every fleet instance is an ACTIVE container instance
  ecs_dl.deep_learning.ecs_container_instance_info:
    cluster: ecs-dl
  register: cluster_instances
  until: >-
    fleet.instance_ids | difference(cluster_instances.container_instances
    | selectattr('status', 'equalto', 'ACTIVE') | map(attribute='ec2_instance_id')) | length == 0
  retries: 60
  delay: 10
"""

RETURN = r"""
container_instances:
  description: The cluster's container instances, sorted by EC2 instance id (empty when the
    cluster does not exist).
  returned: always
  type: list
  elements: dict
  contains:
    arn:
      description: Container instance ARN.
      type: str
    ec2_instance_id:
      description: EC2 instance id.
      type: str
    status:
      description: Status (C(ACTIVE), C(DRAINING), C(REGISTERING), ...).
      type: str
    agent_connected:
      description: Whether the ECS agent is connected.
      type: bool
    running_tasks_count:
      description: Number of running tasks.
      type: int
"""

from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.ecs import (
    cluster_exists,
    list_container_instances,
)
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.ecs import (
    connect as connect_client,
)


def connect(module: AnsibleAWSModule) -> Any:
    return connect_client(module, "ecs")


def summary(container_instance: dict) -> dict:
    return {
        "arn": container_instance.get("containerInstanceArn"),
        "ec2_instance_id": container_instance.get("ec2InstanceId"),
        "status": container_instance.get("status"),
        "agent_connected": container_instance.get("agentConnected"),
        "running_tasks_count": container_instance.get("runningTasksCount"),
    }


def container_instances(ecs: Any, cluster: str) -> list[dict]:
    if not cluster_exists(ecs, cluster):
        return []
    found = [summary(ci) for ci in list_container_instances(ecs, cluster)]
    return sorted(found, key=lambda ci: (ci["ec2_instance_id"] or "", ci["arn"] or ""))


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(cluster=dict(type="str", required=True)),
        supports_check_mode=True,
    )
    ecs = connect(module)
    try:
        found = container_instances(ecs, module.params["cluster"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"ECS cluster {module.params['cluster']}")
    module.exit_json(changed=False, container_instances=found)


if __name__ == "__main__":
    main()
