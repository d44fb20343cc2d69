#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Register EC2 instances as ECS container instances, as the ECS agent does on first start."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_container_instance
short_description: Register or deregister EC2 instances as container instances of an ECS cluster
description:
  - Does the ECS agent's first job for the local target, where no agent runs on the instances
    (moto never registers them by itself) - registers each instance with
    C(register_container_instance) and an instance identity document built from
    C(describe_instances) (instanceId, instanceType, imageId, region, availabilityZone,
    accountId from C(sts get_caller_identity), privateIp), and CPU/MEMORY total resources
    sized for the instance type.
  - Idempotent - the cluster's container instances are listed first and an instance that is
    already registered is left alone (moto makes a duplicate when registering twice).
  - On real AWS the ECS agent registers the instances itself. Deregistering is needed there too -
    ECS does not deregister a terminated instance whose agent had disconnected, and
    C(delete_cluster) refuses a cluster that has container instances - so the cluster role runs
    it with I(state=absent) before deleting the cluster.
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
  instance_ids:
    description:
      - EC2 instance ids. Required when present.
      - When absent and omitted, every container instance of the cluster is deregistered.
    type: list
    elements: str
  state:
    description: Whether the instances should be registered.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Register the fleet's instances with the cluster (local target only)
  ecs_dl.deep_learning.ecs_container_instance:
    cluster: ecs-dl
    instance_ids: "{{ fleet.instance_ids }}"

- name: Deregister every container instance of the cluster
  ecs_dl.deep_learning.ecs_container_instance:
    cluster: ecs-dl
    state: absent
"""

RETURN = r"""
container_instances:
  description:
    - When present, the container instances of O(instance_ids) (in check mode, the ones that
      would be registered have a null arn and status C(PENDING_REGISTRATION)).
    - When absent, the container instances that were deregistered.
  returned: always
  type: list
  elements: dict
  contains:
    arn:
      description: Container instance ARN.
      type: str
      sample: arn:aws:ecs:us-east-1:123456789012:container-instance/ecs-dl/0123abcd
    ec2_instance_id:
      description: EC2 instance id.
      type: str
      sample: i-0123456789abcdef0
    status:
      description: Container instance status.
      type: str
      sample: ACTIVE
"""

import json
import re
from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.ecs import (
    cluster_exists,
    list_container_instances,
    retry_on_known_cluster,
)
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.ecs import (
    connect as connect_client,
)

# vCPUs by size when describe_instance_types does not know the type.
SIZE_VCPUS = {"nano": 1, "micro": 1, "small": 1, "medium": 1, "large": 2, "xlarge": 4}
MEMORY_MIB_PER_VCPU = 4096
# The ECS agent registers less memory than the instance has (the OS keeps some).
AGENT_MEMORY_RATIO = 0.94


# --- boto3 calls (one small function each, so unit tests replace them) -----------------------


def connect(module: AnsibleAWSModule, service: str) -> Any:
    return connect_client(module, service)


# The instances are the ones a Spot Fleet has just launched: for a moment EC2 may not describe
# them yet (eventual consistency), so "not found" is retried like throttling.
@AWSRetry.jittered_backoff(catch_extra_error_codes=["InvalidInstanceID.NotFound"])
def describe_instances(ec2: Any, instance_ids: list[str]) -> list[dict]:
    response = ec2.describe_instances(InstanceIds=instance_ids)
    return [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]


def describe_instance_type(ec2: Any, instance_type: str) -> dict | None:
    try:
        response = ec2.describe_instance_types(aws_retry=True, InstanceTypes=[instance_type])
    except is_boto3_error_code(["InvalidInstanceType", "InvalidParameterValue"]):
        return None
    types = response.get("InstanceTypes", [])
    return types[0] if types else None


def account_id(sts: Any) -> str:
    return sts.get_caller_identity(aws_retry=True)["Account"]


def register(ecs: Any, cluster: str, document: dict, resources: list[dict]) -> dict:
    response = retry_on_known_cluster(ecs.register_container_instance)(
        cluster=cluster,
        instanceIdentityDocument=json.dumps(document),
        totalResources=resources,
    )
    return response["containerInstance"]


def deregister(ecs: Any, cluster: str, arn: str) -> dict:
    response = retry_on_known_cluster(ecs.deregister_container_instance)(
        cluster=cluster, containerInstance=arn, force=True
    )
    return response["containerInstance"]


# --- logic ------------------------------------------------------------------------------------


def summary(container_instance: dict) -> dict:
    return {
        "arn": container_instance.get("containerInstanceArn"),
        "ec2_instance_id": container_instance.get("ec2InstanceId"),
        "status": container_instance.get("status"),
    }


def guess_size(instance_type: str) -> tuple[int, int]:
    """(vCPUs, memory MiB) guessed from the size part of an instance type (m5.2xlarge: 8)."""
    size = instance_type.rpartition(".")[2]
    match = re.fullmatch(r"(\d+)xlarge", size)
    vcpus = int(match.group(1)) * 4 if match else SIZE_VCPUS.get(size, 2)
    return vcpus, vcpus * MEMORY_MIB_PER_VCPU


def total_resources(ec2: Any, instance_type: str) -> list[dict]:
    info = describe_instance_type(ec2, instance_type)
    if info and info.get("VCpuInfo") and info.get("MemoryInfo"):
        vcpus = int(info["VCpuInfo"]["DefaultVCpus"])
        memory = int(info["MemoryInfo"]["SizeInMiB"])
    else:
        vcpus, memory = guess_size(instance_type)
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": vcpus * 1024},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": int(memory * AGENT_MEMORY_RATIO)},
    ]


def identity_document(instance: dict, region: str, account: str) -> dict:
    return {
        "instanceId": instance["InstanceId"],
        "instanceType": instance["InstanceType"],
        "imageId": instance.get("ImageId"),
        "region": region,
        "availabilityZone": instance.get("Placement", {}).get("AvailabilityZone"),
        "accountId": account,
        "privateIp": instance.get("PrivateIpAddress"),
        "architecture": instance.get("Architecture", "x86_64"),
        "version": "2017-09-30",
        "pendingTime": str(instance.get("LaunchTime", "")),
    }


def registered_by_instance(container_instances: list[dict]) -> dict[str, dict]:
    return {
        ci["ec2InstanceId"]: ci
        for ci in container_instances
        if ci.get("ec2InstanceId") and ci.get("status") != "INACTIVE"
    }


def ensure_present(module: AnsibleAWSModule, ecs: Any) -> dict:
    cluster = module.params["cluster"]
    instance_ids = module.params["instance_ids"]
    if not cluster_exists(ecs, cluster):
        module.fail_json(msg=f"ECS cluster {cluster} does not exist")
    registered = registered_by_instance(list_container_instances(ecs, cluster))
    missing = [i for i in dict.fromkeys(instance_ids) if i not in registered]
    if missing:
        ec2 = connect(module, "ec2")
        instances = {i["InstanceId"]: i for i in describe_instances(ec2, missing)}
        unknown = [i for i in missing if i not in instances]
        if unknown:
            module.fail_json(msg=f"EC2 instance(s) not found: {', '.join(unknown)}")
        if module.check_mode:
            for instance_id in missing:
                registered[instance_id] = {
                    "containerInstanceArn": None,
                    "ec2InstanceId": instance_id,
                    "status": "PENDING_REGISTRATION",
                }
        else:
            account = account_id(connect(module, "sts"))
            for instance_id in missing:
                instance = instances[instance_id]
                document = identity_document(instance, module.region, account)
                resources = total_resources(ec2, instance["InstanceType"])
                registered[instance_id] = register(ecs, cluster, document, resources)
    return {
        "changed": bool(missing),
        "container_instances": [summary(registered[i]) for i in dict.fromkeys(instance_ids)],
    }


def ensure_absent(module: AnsibleAWSModule, ecs: Any) -> dict:
    cluster = module.params["cluster"]
    instance_ids = module.params["instance_ids"]
    if not cluster_exists(ecs, cluster):
        return {"changed": False, "container_instances": []}
    targets = [
        ci
        for ci in list_container_instances(ecs, cluster)
        if ci.get("status") != "INACTIVE"
        and (instance_ids is None or ci.get("ec2InstanceId") in instance_ids)
    ]
    if not module.check_mode:
        targets = [deregister(ecs, cluster, ci["containerInstanceArn"]) for ci in targets]
    return {"changed": bool(targets), "container_instances": [summary(ci) for ci in targets]}


def main() -> None:
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        instance_ids=dict(type="list", elements="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["instance_ids"])],
        supports_check_mode=True,
    )
    ecs = connect(module, "ecs")
    try:
        if module.params["state"] == "present":
            result = ensure_present(module, ecs)
        else:
            result = ensure_absent(module, ecs)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"ECS cluster {module.params['cluster']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
