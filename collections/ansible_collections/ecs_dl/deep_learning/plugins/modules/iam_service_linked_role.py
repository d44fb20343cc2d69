#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make sure AWS service-linked roles exist (create the missing ones, never delete any)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_service_linked_role
short_description: Create the AWS service-linked roles that are missing
description:
  - For each service principal in O(aws_service_names), finds its service-linked role (the
    roles under the path C(/aws-service-role/<service>/)) and, when there is none, creates it
    with C(iam:CreateServiceLinkedRole). An existing role is left as it is.
  - There is no C(state=absent). A service-linked role belongs to the account, not to one
    deployment (other fleets, tools or people may rely on it); this module never deletes one.
  - When creation is denied (C(AccessDenied)), fails with one line that gives the exact
    C(aws iam create-service-linked-role) commands for someone allowed to run them.
  - Check mode reports what would be created.
options:
  aws_service_names:
    description: Service principals, for example C(spot.amazonaws.com).
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Make sure Spot and Spot Fleet have their service-linked roles
  ecs_dl.deep_learning.iam_service_linked_role:
    aws_service_names: [spot.amazonaws.com, spotfleet.amazonaws.com]
"""

RETURN = r"""
roles:
  description: The service-linked role of each service (null in check mode before it exists).
  returned: always
  type: dict
  sample: {spot.amazonaws.com: AWSServiceRoleForEC2Spot}
created:
  description: The services whose role this run created.
  returned: always
  type: list
  elements: str
  sample: [spotfleet.amazonaws.com]
"""

from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def connect(module: AnsibleAWSModule) -> Any:
    return module.client("iam", retry_decorator=AWSRetry.jittered_backoff())


def find_role(client: Any, service: str) -> str | None:
    """The name of the service's service-linked role, or None."""
    paginator = client.get_paginator("list_roles")
    for page in paginator.paginate(PathPrefix=f"/aws-service-role/{service}/"):
        for role in page.get("Roles", []):
            return role["RoleName"]
    return None


def create_role(client: Any, service: str) -> str:
    response = client.create_service_linked_role(aws_retry=True, AWSServiceName=service)
    return response["Role"]["RoleName"]


def commands(services: list[str]) -> str:
    return "; ".join(f"aws iam create-service-linked-role --aws-service-name {s}" for s in services)


def ensure(module: AnsibleAWSModule, client: Any) -> dict:
    services = module.params["aws_service_names"]
    roles: dict[str, str | None] = {}
    missing: list[str] = []
    for service in services:
        try:
            roles[service] = find_role(client, service)
        except is_boto3_error_code(list(DENIED)):
            roles[service] = None  # cannot list: creating tells whether it exists
        if roles[service] is None:
            missing.append(service)
    created: list[str] = []
    if module.check_mode:
        return {"changed": bool(missing), "roles": roles, "created": missing}
    denied: list[str] = []
    for service in missing:
        try:
            roles[service] = create_role(client, service)
            created.append(service)
        except is_boto3_error_code("InvalidInput") as e:  # "has been taken": it exists
            if "taken" not in str(e):
                raise
            roles[service] = find_role(client, service) or "exists"
        except is_boto3_error_code(list(DENIED)):
            denied.append(service)
    if denied:
        module.fail_json(
            msg=(
                f"Not allowed to create the service-linked role(s) of {', '.join(denied)} "
                "(iam:CreateServiceLinkedRole, AccessDenied), which Spot Fleet needs: ask "
                f"someone allowed to run: {commands(denied)} (once per account), then run "
                "site.yml again."
            ),
            roles=roles,
            created=created,
            changed=bool(created),
        )
    return {"changed": bool(created), "roles": roles, "created": created}


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(aws_service_names=dict(type="list", elements="str", required=True)),
        supports_check_mode=True,
    )
    client = connect(module)
    try:
        result = ensure(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Service-linked roles")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
