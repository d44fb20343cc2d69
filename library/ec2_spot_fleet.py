#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Request, find and cancel an EC2 Spot Fleet found by its Name tag."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_spot_fleet
short_description: Request, find and cancel an EC2 Spot Fleet by its Name tag
description:
  - Requests a Spot Fleet (type C(maintain)) built from one launch template, with one override
    for every instance type in every subnet, and tags the request C(Name=<name>) plus O(tags).
  - The fleet request is found by its C(Name) tag with C(describe_spot_fleet_requests);
    cancelled and failed requests are ignored. C(ClientToken) is not used for idempotence
    (moto ignores it).
  - A different O(target_capacity) is applied with C(modify_spot_fleet_request). Other
    differences (launch template, instance types, subnets, allocation strategy, fleet role,
    tags) cannot be modified on a Spot Fleet; the module warns that they need a teardown.
  - With O(state=absent) every non-cancelled request with that Name tag is cancelled and, with
    O(wait), the module waits until its instances are terminated, so that subnets and security
    groups can be deleted next.
  - "moto 5.2.5 (the local target) accepts C(LaunchTemplateConfigs): it launches every instance
    with the image and user data of the launch template but with only the B(first) override's
    instance type and subnet, ignores the template's security groups, and answers
    C(describe_spot_fleet_requests) with C(LaunchSpecifications) instead of
    C(LaunchTemplateConfigs) (so launch drift is not detected there)."
options:
  name:
    description: Value of the C(Name) tag that identifies the fleet request.
    type: str
    required: true
  state:
    description: Whether the fleet should exist.
    type: str
    choices: [present, absent]
    default: present
  target_capacity:
    description: Number of capacity units (instances, all weights are 1). Required when present.
    type: int
  iam_fleet_role:
    description: ARN of the IAM role that lets Spot Fleet launch and terminate instances.
      Required when present.
    type: str
  launch_template_id:
    description: Id of the launch template the instances are launched from. Required when present.
    type: str
  launch_template_version:
    description: Version of the launch template (a number, C($Latest) or C($Default)).
    type: str
    default: $Latest
  instance_types:
    description: Instance types to choose from. Required when present.
    type: list
    elements: str
  subnet_ids:
    description: Subnets to launch into. Required when present.
    type: list
    elements: str
  allocation_strategy:
    description: How Spot Fleet picks among the overrides.
    type: str
    default: capacityOptimized
    choices: [lowestPrice, diversified, capacityOptimized, priceCapacityOptimized]
  tags:
    description: Tags for the fleet request, in addition to C(Name).
    type: dict
    default: {}
  wait:
    description:
      - When present, wait until the request is C(active), its fulfilled capacity reaches the
        target, C(describe_spot_fleet_instances) lists that many instances and
        C(describe_instances) knows them all.
      - A request or an instance that EC2 does not know yet just after it was requested
        (C(InvalidSpotFleetRequestId.NotFound), C(InvalidInstanceID.NotFound), eventual
        consistency) is waited for, like throttling, not an error.
      - When absent, wait until the instances of the cancelled requests are terminated.
    type: bool
    default: true
  wait_timeout:
    description: How long to wait, in seconds.
    type: int
    default: 600
  terminate_instances:
    description: When absent, terminate the fleet's instances as the request is cancelled.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Request the cluster's Spot Fleet and wait for its instances
  ec2_spot_fleet:
    name: ecs-dl-fleet
    target_capacity: 1
    iam_fleet_role: arn:aws:iam::123456789012:role/ecs-dl-spot-fleet
    launch_template_id: lt-0123456789abcdef0
    instance_types: [p3.2xlarge, g4dn.xlarge]
    subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
    tags:
      Deployment: ecs-dl
      ManagedBy: ecs-deep-learning
  register: fleet

- name: Cancel the fleet and wait until its instances are terminated
  ec2_spot_fleet:
    name: ecs-dl-fleet
    state: absent
"""

RETURN = r"""
spot_fleet_request_id:
  description: Id of the fleet request (null in check mode before it exists).
  returned: state=present
  type: str
  sample: sfr-0123456789abcdef0
state:
  description: State of the fleet request (C(submitted), C(active), C(modifying), ...).
  returned: state=present
  type: str
  sample: active
target_capacity:
  description: Target capacity of the request.
  returned: state=present
  type: int
  sample: 1
fulfilled_capacity:
  description: Capacity the fleet currently runs.
  returned: state=present
  type: float
  sample: 1.0
instance_ids:
  description: Ids of the fleet's instances, sorted (when absent, those being terminated).
  returned: always
  type: list
  elements: str
  sample: [i-0123456789abcdef0]
instances:
  description: The fleet's instances, sorted by instance id.
  returned: state=present
  type: list
  elements: dict
  contains:
    instance_id: {description: Instance id, type: str}
    instance_type: {description: Instance type, type: str}
    image_id: {description: AMI id, type: str}
    availability_zone: {description: Availability zone, type: str}
    subnet_id: {description: Subnet id, type: str}
    private_ip_address: {description: Private IPv4 address, type: str}
    public_ip_address: {description: Public IPv4 address (none on moto), type: str}
    private_dns_name: {description: Private DNS name, type: str}
    public_dns_name: {description: Public DNS name, type: str}
    state: {description: Instance state name, type: str}
spot_fleet_request_ids:
  description: Ids of the requests cancelled by this run.
  returned: state=absent
  type: list
  elements: str
  sample: [sfr-0123456789abcdef0]
"""

import time
from functools import partial
from typing import Any

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Requests in these states are gone or going: never found, never cancelled again
# (moto answers HTTP 500 when a cancelled request is cancelled again).
INACTIVE_STATES = frozenset({"cancelled", "cancelled_running", "cancelled_terminating", "failed"})
POLL_SECONDS = 5
# Right after RequestSpotFleet, EC2 can answer a request id it has just given with
# InvalidSpotFleetRequestId.NotFound for a moment (eventual consistency). The calls made with the
# id of a request that exists (just requested, or found by listing) retry it like throttling.
retry_until_request_known = AWSRetry.jittered_backoff(
    catch_extra_error_codes=["InvalidSpotFleetRequestId.NotFound"]
)


# --- boto3 calls (one small function each, so unit tests replace them) -----------------------


def connect(module: AnsibleAWSModule) -> Any:
    """The EC2 client; calls made with aws_retry=True retry throttling (RequestLimitExceeded)."""
    return module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())


def describe_fleet_requests(client: Any, request_ids: list[str] | None = None) -> list[dict]:
    """Every fleet request (the listing that decides whether to request one), or those of
    request_ids, which exist: their NotFound is retried as "not yet"."""
    params: dict[str, Any] = {}
    describe = partial(client.describe_spot_fleet_requests, aws_retry=True)
    if request_ids:
        params["SpotFleetRequestIds"] = request_ids
        describe = retry_until_request_known(client.describe_spot_fleet_requests)
    configs: list[dict] = []
    while True:
        page = describe(**params)
        configs.extend(page.get("SpotFleetRequestConfigs", []))
        if not page.get("NextToken"):
            return configs
        params["NextToken"] = page["NextToken"]


def request_fleet(client: Any, config: dict) -> str:
    response = client.request_spot_fleet(aws_retry=True, SpotFleetRequestConfig=config)
    return response["SpotFleetRequestId"]


def modify_fleet_capacity(client: Any, request_id: str, target_capacity: int) -> None:
    client.modify_spot_fleet_request(
        aws_retry=True, SpotFleetRequestId=request_id, TargetCapacity=target_capacity
    )


def cancel_fleets(client: Any, request_ids: list[str], terminate: bool) -> dict:
    return client.cancel_spot_fleet_requests(
        aws_retry=True, SpotFleetRequestIds=request_ids, TerminateInstances=terminate
    )


def describe_fleet_instance_ids(client: Any, request_id: str) -> list[str]:
    params: dict[str, Any] = {"SpotFleetRequestId": request_id}
    ids: list[str] = []
    describe = retry_until_request_known(client.describe_spot_fleet_instances)
    while True:
        page = describe(**params)
        ids.extend(i["InstanceId"] for i in page.get("ActiveInstances", []))
        if not page.get("NextToken"):
            return sorted(ids)
        params["NextToken"] = page["NextToken"]


def describe_instances(client: Any, instance_ids: list[str]) -> list[dict]:
    """Describe instances; ids EC2 does not know are left out (InvalidInstanceID.NotFound): gone,
    or (just launched) not yet known, which wait_for_fleet waits for."""
    if not instance_ids:
        return []
    try:
        response = client.describe_instances(aws_retry=True, InstanceIds=instance_ids)
    except is_boto3_error_code("InvalidInstanceID.NotFound"):
        if len(instance_ids) == 1:
            return []
        # One unknown id fails the whole call: ask one by one.
        found: list[dict] = []
        for instance_id in instance_ids:
            found.extend(describe_instances(client, [instance_id]))
        return found
    return [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def now() -> float:
    return time.monotonic()


# --- logic ------------------------------------------------------------------------------------


def tag_dict(tags: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def find_fleets(client: Any, name: str) -> list[dict]:
    """Fleet requests tagged Name=<name> that are not cancelled or failed, oldest first."""
    found = [
        c
        for c in describe_fleet_requests(client)
        if tag_dict(c.get("Tags")).get("Name") == name
        and c.get("SpotFleetRequestState") not in INACTIVE_STATES
    ]
    return sorted(found, key=lambda c: str(c.get("CreateTime", "")))


def build_config(params: dict) -> dict:
    tags = {**(params["tags"] or {}), "Name": params["name"]}
    return {
        "IamFleetRole": params["iam_fleet_role"],
        "TargetCapacity": params["target_capacity"],
        "AllocationStrategy": params["allocation_strategy"],
        "Type": "maintain",
        "TerminateInstancesWithExpiration": True,
        "LaunchTemplateConfigs": [
            {
                "LaunchTemplateSpecification": {
                    "LaunchTemplateId": params["launch_template_id"],
                    "Version": params["launch_template_version"],
                },
                "Overrides": [
                    {"InstanceType": instance_type, "SubnetId": subnet_id}
                    for instance_type in params["instance_types"]
                    for subnet_id in params["subnet_ids"]
                ],
            }
        ],
        "TagSpecifications": [
            {
                "ResourceType": "spot-fleet-request",
                "Tags": [{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())],
            }
        ],
    }


def drift(existing: dict, wanted: dict) -> list[str]:
    """What differs, apart from the target capacity, between a found request and the wanted one.

    Only what the API answers is compared: moto answers LaunchSpecifications instead of
    LaunchTemplateConfigs, and then the launch template is not compared.
    """
    have = existing.get("SpotFleetRequestConfig", {})
    differences = []
    for key in ("IamFleetRole", "AllocationStrategy"):
        if have.get(key) is not None and have[key] != wanted[key]:
            differences.append(f"{key} is {have[key]!r}, wanted {wanted[key]!r}")
    if have.get("LaunchTemplateConfigs"):

        def overrides(ltcs: list[dict]) -> set[tuple]:
            return {
                (
                    ltc["LaunchTemplateSpecification"].get("LaunchTemplateId"),
                    str(ltc["LaunchTemplateSpecification"].get("Version")),
                    o.get("InstanceType"),
                    o.get("SubnetId"),
                )
                for ltc in ltcs
                for o in ltc.get("Overrides", [])
            }

        if overrides(have["LaunchTemplateConfigs"]) != overrides(wanted["LaunchTemplateConfigs"]):
            differences.append("launch template, instance types or subnets")
    wanted_tags = tag_dict(wanted["TagSpecifications"][0]["Tags"])
    have_tags = tag_dict(existing.get("Tags"))
    if have_tags != wanted_tags:
        differences.append(f"tags are {have_tags}, wanted {wanted_tags}")
    return differences


def instance_summary(instance: dict) -> dict:
    summary = {
        "InstanceId": instance.get("InstanceId"),
        "InstanceType": instance.get("InstanceType"),
        "ImageId": instance.get("ImageId"),
        "AvailabilityZone": instance.get("Placement", {}).get("AvailabilityZone"),
        "SubnetId": instance.get("SubnetId"),
        "PrivateIpAddress": instance.get("PrivateIpAddress"),
        "PublicIpAddress": instance.get("PublicIpAddress"),
        "PrivateDnsName": instance.get("PrivateDnsName"),
        "PublicDnsName": instance.get("PublicDnsName"),
        "State": instance.get("State", {}).get("Name"),
    }
    return camel_dict_to_snake_dict(summary)


def fleet_result(client: Any, request_id: str) -> dict:
    configs = describe_fleet_requests(client, [request_id])
    config = configs[0] if configs else {}
    spec = config.get("SpotFleetRequestConfig", {})
    instance_ids = describe_fleet_instance_ids(client, request_id) if configs else []
    instances = sorted(
        (instance_summary(i) for i in describe_instances(client, instance_ids)),
        key=lambda i: i["instance_id"],
    )
    return {
        "spot_fleet_request_id": request_id,
        "state": config.get("SpotFleetRequestState"),
        "target_capacity": spec.get("TargetCapacity"),
        "fulfilled_capacity": spec.get("FulfilledCapacity", 0.0),
        "instance_ids": instance_ids,
        "instances": instances,
    }


def wait_for_fleet(module: AnsibleAWSModule, client: Any, request_id: str, target: int) -> None:
    deadline = now() + module.params["wait_timeout"]
    while True:
        configs = describe_fleet_requests(client, [request_id])
        state = configs[0].get("SpotFleetRequestState") if configs else "missing"
        spec = configs[0].get("SpotFleetRequestConfig", {}) if configs else {}
        fulfilled = spec.get("FulfilledCapacity", 0.0) or 0.0
        instance_ids = describe_fleet_instance_ids(client, request_id) if configs else []
        unknown: list[str] = []
        if state == "active" and fulfilled >= target and len(instance_ids) >= target:
            # EC2 may not describe the instances the fleet lists yet (eventual consistency).
            known = {i["InstanceId"] for i in describe_instances(client, instance_ids)}
            unknown = [i for i in instance_ids if i not in known]
            if not unknown:
                return
        status = (
            f"state is {state} (want active), fulfilled capacity {fulfilled:g} of {target}, "
            f"{len(instance_ids)} of {target} instances listed"
        )
        if unknown:
            status += f", not described by EC2 yet: {', '.join(unknown)}"
        if state in INACTIVE_STATES or state == "missing":
            module.fail_json(msg=f"Spot fleet request {request_id} will not be fulfilled: {status}")
        if now() >= deadline:
            module.fail_json(
                msg=(
                    f"Timed out after {module.params['wait_timeout']}s waiting for spot fleet "
                    f"request {request_id}: {status}"
                ),
                spot_fleet_request_id=request_id,
            )
        sleep(POLL_SECONDS)


def wait_for_terminated(
    module: AnsibleAWSModule, client: Any, request_ids: list[str], instance_ids: list[str]
) -> None:
    deadline = now() + module.params["wait_timeout"]
    while True:
        left = sorted(
            i["InstanceId"]
            for i in describe_instances(client, instance_ids)
            if i.get("State", {}).get("Name") != "terminated"
        )
        if not left:
            return
        if now() >= deadline:
            module.fail_json(
                msg=(
                    f"Timed out after {module.params['wait_timeout']}s waiting for the instances "
                    f"of spot fleet request(s) {', '.join(request_ids)} to terminate; "
                    f"still not terminated: {', '.join(left)}"
                )
            )
        sleep(POLL_SECONDS)


def ensure_present(module: AnsibleAWSModule, client: Any) -> dict:
    params = module.params
    wanted = build_config(params)
    found = find_fleets(client, params["name"])
    changed = False
    if len(found) > 1:
        module.warn(
            f"{len(found)} spot fleet requests are tagged Name={params['name']}; using the "
            f"oldest, {found[0]['SpotFleetRequestId']}"
        )
    if not found:
        if module.check_mode:
            return {
                "changed": True,
                "spot_fleet_request_id": None,
                "state": None,
                "target_capacity": params["target_capacity"],
                "fulfilled_capacity": 0.0,
                "instance_ids": [],
                "instances": [],
            }
        request_id = request_fleet(client, wanted)
        changed = True
    else:
        existing = found[0]
        request_id = existing["SpotFleetRequestId"]
        for difference in drift(existing, wanted):
            module.warn(
                f"Spot fleet request {request_id}: {difference}. A spot fleet's launch "
                "specifications cannot be modified: tear the fleet down (state=absent) and "
                "create it again to apply this."
            )
        have_capacity = existing.get("SpotFleetRequestConfig", {}).get("TargetCapacity")
        if have_capacity != params["target_capacity"]:
            changed = True
            if module.check_mode:
                result = fleet_result(client, request_id)
                result.update(changed=True, target_capacity=params["target_capacity"])
                return result
            modify_fleet_capacity(client, request_id, params["target_capacity"])
    if params["wait"] and not module.check_mode:
        wait_for_fleet(module, client, request_id, params["target_capacity"])
    result = fleet_result(client, request_id)
    result["changed"] = changed
    return result


def ensure_absent(module: AnsibleAWSModule, client: Any) -> dict:
    params = module.params
    found = find_fleets(client, params["name"])
    request_ids = [c["SpotFleetRequestId"] for c in found]
    instance_ids: list[str] = []
    for request_id in request_ids:
        instance_ids.extend(describe_fleet_instance_ids(client, request_id))
    instance_ids = sorted(set(instance_ids))
    result = {
        "changed": bool(request_ids),
        "spot_fleet_request_ids": request_ids,
        "instance_ids": instance_ids if params["terminate_instances"] else [],
    }
    if not request_ids or module.check_mode:
        return result
    response = cancel_fleets(client, request_ids, params["terminate_instances"])
    failed = response.get("UnsuccessfulFleetRequests") or []
    if failed:
        module.fail_json(
            msg="Could not cancel spot fleet request(s): "
            + "; ".join(
                f"{f.get('SpotFleetRequestId')}: {f.get('Error', {}).get('Message')}"
                for f in failed
            ),
            **result,
        )
    if params["wait"] and params["terminate_instances"] and instance_ids:
        wait_for_terminated(module, client, request_ids, instance_ids)
    return result


def main() -> None:
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        target_capacity=dict(type="int"),
        iam_fleet_role=dict(type="str"),
        launch_template_id=dict(type="str"),
        launch_template_version=dict(type="str", default="$Latest"),
        instance_types=dict(type="list", elements="str"),
        subnet_ids=dict(type="list", elements="str"),
        allocation_strategy=dict(
            type="str",
            default="capacityOptimized",
            choices=["lowestPrice", "diversified", "capacityOptimized", "priceCapacityOptimized"],
        ),
        tags=dict(type="dict", default={}),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        terminate_instances=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[
            (
                "state",
                "present",
                [
                    "target_capacity",
                    "iam_fleet_role",
                    "launch_template_id",
                    "instance_types",
                    "subnet_ids",
                ],
            )
        ],
        supports_check_mode=True,
    )
    client = connect(module)
    try:
        if module.params["state"] == "present":
            result = ensure_present(module, client)
        else:
            result = ensure_absent(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Spot fleet {module.params['name']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
