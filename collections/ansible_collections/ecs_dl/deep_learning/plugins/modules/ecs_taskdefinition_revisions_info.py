#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List the revisions of ECS task definition families by status."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_taskdefinition_revisions_info
short_description: List the revisions of ECS task definition families
description:
  - Lists (C(ListTaskDefinitions)) the task definition ARNs of each family, oldest first, with
    the given status. community.aws.ecs_taskdefinition_info describes one revision only;
    teardown needs every ACTIVE one, and only those (revision numbers grow with every
    deployment and are never reused).
options:
  families:
    description: Task definition families (exact names).
    type: list
    elements: str
    required: true
  status:
    description: Revisions with this status.
    type: str
    choices: [ACTIVE, INACTIVE]
    default: ACTIVE
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Find the ACTIVE revisions of the deployment's task definitions
  ecs_dl.deep_learning.ecs_taskdefinition_revisions_info:
    families: [ecs-dl-jupyter, ecs-dl-predict, ecs-dl-train]
  register: revisions

- name: Deregister them
  community.aws.ecs_taskdefinition:
    arn: "{{ item }}"
    containers: []
    state: absent
  loop: "{{ revisions.arns }}"
"""

RETURN = r"""
families:
  description: For each family, its revisions' ARNs with that status, oldest first.
  returned: always
  type: dict
  sample: {"ecs-dl-train": ["arn:aws:ecs:us-east-1:123456789012:task-definition/ecs-dl-train:3"]}
arns:
  description: All those ARNs in one list.
  returned: always
  type: list
  elements: str
"""


try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.ecs import (
    connect,
    list_task_definition_arns,
)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            families=dict(type="list", elements="str", required=True),
            status=dict(type="str", choices=["ACTIVE", "INACTIVE"], default="ACTIVE"),
        ),
        supports_check_mode=True,
    )
    ecs = connect(module, "ecs")
    try:
        found = {
            family: list_task_definition_arns(ecs, family, module.params["status"])
            for family in module.params["families"]
        }
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="listing task definitions")
    module.exit_json(
        changed=False, families=found, arns=[arn for arns in found.values() for arn in arns]
    )


if __name__ == "__main__":
    main()
