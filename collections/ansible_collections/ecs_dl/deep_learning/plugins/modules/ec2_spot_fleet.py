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
      - While it waits, the fleet's launch errors are read each poll from
        C(describe_spot_fleet_request_history) (events of type C(error), and the
        C(information) events that tell why a launch specification is not used) and the
        request's C(ActivityStatus). Errors that will not heal by waiting (the account's Spot
        Instance or vCPU quota, a fleet role without permissions, a service-linked role that
        cannot be created, an invalid configuration) fail at once with one line naming the
        error and what to do; those that may heal (no Spot capacity for the types right now,
        an instance profile IAM has not propagated yet) are waited on. Every distinct error
        seen is a warning and is returned in RV(fleet_errors).
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
  only_capacity:
    description:
      - With O(state=present), change only the target capacity of the fleet that exists (pause
        to 0 instances, resume with the number before); nothing else is compared or needed but
        O(name) and O(target_capacity). Fails, changing nothing, when there is no such fleet.
      - With O(wait), a smaller capacity waits until the fleet lists no more instances than
        that (Spot Fleet terminates the others) and EC2 describes them as terminated.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Request the cluster's Spot Fleet and wait for its instances
  ecs_dl.deep_learning.ec2_spot_fleet:
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
  ecs_dl.deep_learning.ec2_spot_fleet:
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
activity_status:
  description: The request's C(ActivityStatus) (C(fulfilled), C(pending_fulfillment), C(error)).
  returned: state=present
  type: str
  sample: fulfilled
fleet_errors:
  description: The distinct launch errors of the fleet's history seen while waiting, oldest
    first (also given as warnings); C(heals) says whether waiting may clear them.
  returned: state=present, and on failure
  type: list
  elements: dict
  contains:
    timestamp: {description: When EC2 recorded the event, type: str}
    event_type: {description: C(error) or C(information), type: str}
    event_sub_type: {description: "For example C(spotInstanceCountLimitExceeded)", type: str}
    description: {description: EC2's description of the event, type: str}
    kind: {description: "C(quota), C(permissions), C(configuration), C(capacity),
      C(propagation) or C(launch)", type: str}
    heals: {description: Whether waiting may clear it, type: bool}
spot_fleet_request_ids:
  description: Ids of the requests cancelled by this run.
  returned: state=absent
  type: list
  elements: str
  sample: [sfr-0123456789abcdef0]
"""

import datetime
import re
import time
from functools import partial
from typing import Any

try:
    import botocore
    import botocore.parsers
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import (
    is_boto3_error_code,
    paginated_query_with_retries,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Requests in these states are gone or going: never found, never cancelled again
# (moto answers HTTP 500 when a cancelled request is cancelled again).
INACTIVE_STATES = frozenset({"cancelled", "cancelled_running", "cancelled_terminating", "failed"})
POLL_SECONDS = 5
HISTORY_TYPES = ("error", "information")
# Spot Fleet events are kept 48 hours; a request without CreateTime is read that far back.
HISTORY_HOURS = 48
QUOTA_ADVICE = (
    "the account's Spot quota in this region is too small for this fleet. Ask for more: "
    "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code "
    "L-34B43A08 (standard types; L-3819A6DF for G and VT) --desired-value VCPUS, or lower "
    "spot_fleet_target_capacity or choose smaller instance types"
)
SERVICE_LINKED_ROLE_ADVICE = (
    "Spot needs its service-linked roles and these credentials cannot create them; run "
    "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com and aws iam "
    "create-service-linked-role --aws-service-name spotfleet.amazonaws.com (once per account)"
)
# (kind, heals, pattern on "subtype: description", advice): the first match wins, so the
# descriptions that say more come before the subtypes that say less.
LAUNCH_ERRORS: tuple[tuple[str, bool, re.Pattern, str], ...] = (
    (
        "propagation",
        True,
        re.compile(r"invalid iam instance profile|iaminstanceprofile[.a-z]* is invalid", re.I),
        "IAM has not propagated the instance profile yet; waiting",
    ),
    (
        "permissions",
        False,
        re.compile(r"ServiceLinkedRoleCreationNotPermitted|AWSServiceRoleForEC2Spot", re.I),
        SERVICE_LINKED_ROLE_ADVICE,
    ),
    (
        "quota",
        False,
        re.compile(
            r"spotInstanceCountLimitExceeded|MaxSpotInstanceCountExceeded|max spot instance "
            r"count exceeded|VcpuLimitExceeded|vCPU (capacity|limit)|InstanceLimitExceeded",
            re.I,
        ),
        QUOTA_ADVICE,
    ),
    (
        "permissions",
        False,
        re.compile(r"iamFleetRoleInvalid|UnauthorizedOperation|not authorized|AuthFailure", re.I),
        "the fleet role (iam_fleet_role) or these credentials lack a permission the fleet "
        "needs (is the role trusted by spotfleet.amazonaws.com, with "
        "AmazonEC2SpotFleetTaggingRole attached?)",
    ),
    (
        "capacity",
        True,
        re.compile(
            r"InsufficientInstanceCapacity|no Spot capacity|capacity[- ]not[- ]available|"
            r"capacity-oversubscribed|price[- ]too[- ]low|SpotMaxPriceTooLow",
            re.I,
        ),
        "no Spot capacity for these instance types right now; waiting (more types in "
        "spot_fleet_instance_types widen the choice)",
    ),
    (
        "configuration",
        False,
        re.compile(r"^spotFleetRequestConfigurationInvalid", re.I),
        "the fleet's configuration is invalid (launch template, AMI, subnets or types); "
        "fix it and tear the fleet down (teardown.yml) before running site.yml again",
    ),
)
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
    request_ids, which exist: their NotFound is retried as "not yet". (A loop of its own, not
    paginated_query_with_retries: the listing goes through the client's aws_retry, which
    test_ec2_spot_fleet's throttling test pins.)"""
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
    found = paginated_query_with_retries(
        client,
        "describe_spot_fleet_instances",
        retry_decorator=retry_until_request_known,
        SpotFleetRequestId=request_id,
    )
    return sorted(i["InstanceId"] for i in found.get("ActiveInstances", []))


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


def describe_fleet_history(client: Any, request_id: str, start_time: Any) -> list[dict]:
    """The fleet's error and information events since start_time (every page; botocore has no
    paginator for DescribeSpotFleetRequestHistory)."""
    params: dict[str, Any] = {"SpotFleetRequestId": request_id, "StartTime": start_time}
    describe = retry_until_request_known(client.describe_spot_fleet_request_history)
    records: list[dict] = []
    while True:
        page = describe(**params)
        records.extend(
            r for r in page.get("HistoryRecords", []) if r.get("EventType") in HISTORY_TYPES
        )
        if not page.get("NextToken"):
            return records
        params["NextToken"] = page["NextToken"]


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


def classify(record: dict) -> dict:
    """What a history record says: its kind, whether waiting may clear it, what to do."""
    info = record.get("EventInformation") or {}
    sub_type = info.get("EventSubType") or ""
    description = " ".join(str(info.get("EventDescription") or "").split())
    text = f"{sub_type}: {description}"
    kind, heals, advice = "launch", True, "EC2 retries the launch; waiting"
    for candidate, candidate_heals, pattern, candidate_advice in LAUNCH_ERRORS:
        if pattern.search(text):
            kind, heals, advice = candidate, candidate_heals, candidate_advice
            break
    stamp = record.get("Timestamp")
    return {
        "timestamp": stamp.isoformat() if hasattr(stamp, "isoformat") else str(stamp or ""),
        "event_type": record.get("EventType"),
        "event_sub_type": sub_type,
        "description": description,
        "kind": kind,
        "heals": heals,
        "advice": advice,
    }


def history_start(config: dict) -> Any:
    created = config.get("CreateTime")
    if isinstance(created, datetime.datetime):
        return created - datetime.timedelta(minutes=1)
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=HISTORY_HOURS)


def describe_error(error: dict) -> str:
    what = error["event_sub_type"] + (f" ({error['description']})" if error["description"] else "")
    return f"{what} at {error['timestamp']}"


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
        "activity_status": config.get("ActivityStatus"),
        "target_capacity": spec.get("TargetCapacity"),
        "fulfilled_capacity": spec.get("FulfilledCapacity", 0.0),
        "instance_ids": instance_ids,
        "instances": instances,
    }


class LaunchErrors:
    """The fleet's launch errors seen while waiting, each reported once."""

    def __init__(self, module: AnsibleAWSModule, client: Any, request_id: str) -> None:
        self.module, self.client, self.request_id = module, client, request_id
        self.seen: list[dict] = []
        self.available = True

    def read(self, config: dict) -> dict | None:
        """The newest error or information event of the fleet's history (None if none)."""
        if not self.available:
            return None
        try:
            records = describe_fleet_history(self.client, self.request_id, history_start(config))
        except (
            botocore.exceptions.ClientError,
            botocore.exceptions.BotoCoreError,
            botocore.parsers.ResponseParserError,  # an endpoint without the API (plain moto)
        ) as e:
            # A diagnosis, not the wait itself: without it the wait goes on as before.
            self.available = False
            self.module.warn(
                f"Could not read the history of spot fleet request {self.request_id} "
                f"(DescribeSpotFleetRequestHistory: {e}); launch errors will not be reported"
            )
            return None
        errors = [classify(r) for r in sorted(records, key=lambda r: str(r.get("Timestamp")))]
        for error in errors:
            key = (error["event_sub_type"], error["description"])
            if key not in {(e["event_sub_type"], e["description"]) for e in self.seen}:
                self.seen.append(error)
                self.module.warn(
                    f"Spot fleet request {self.request_id}: {describe_error(error)}: "
                    f"{error['advice']}"
                )
        return errors[-1] if errors else None

    def result(self) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "advice"} for e in self.seen]


def wait_for_fleet(
    module: AnsibleAWSModule, client: Any, request_id: str, target: int
) -> list[dict]:
    """Wait until the fleet runs its target; return the launch errors seen on the way."""
    deadline = now() + module.params["wait_timeout"]
    errors = LaunchErrors(module, client, request_id)
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
                return errors.result()
        status = (
            f"state is {state} (want active), fulfilled capacity {fulfilled:g} of {target}, "
            f"{len(instance_ids)} of {target} instances listed"
        )
        activity = configs[0].get("ActivityStatus") if configs else None
        if activity:
            status += f", activity status {activity}"
        if unknown:
            status += f", not described by EC2 yet: {', '.join(unknown)}"
        newest = errors.read(configs[0]) if configs and not unknown else None
        if newest is not None:
            status += f"; newest launch error: {describe_error(newest)}"
        if newest is not None and not newest["heals"]:
            module.fail_json(
                msg=(
                    f"Spot fleet request {request_id} cannot launch its instances: "
                    f"{describe_error(newest)}: {newest['advice']}. The request stays until "
                    "teardown.yml removes it (or site.yml runs again once this is fixed)."
                ),
                spot_fleet_request_id=request_id,
                fleet_errors=errors.result(),
            )
        if state in INACTIVE_STATES or state == "missing":
            module.fail_json(
                msg=f"Spot fleet request {request_id} will not be fulfilled: {status}",
                spot_fleet_request_id=request_id,
                fleet_errors=errors.result(),
            )
        if now() >= deadline:
            module.fail_json(
                msg=(
                    f"Timed out after {module.params['wait_timeout']}s waiting for spot fleet "
                    f"request {request_id}: {status}"
                ),
                spot_fleet_request_id=request_id,
                fleet_errors=errors.result(),
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
                "fleet_errors": [],
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
    fleet_errors: list[dict] = []
    if params["wait"] and not module.check_mode:
        fleet_errors = wait_for_fleet(module, client, request_id, params["target_capacity"])
    result = fleet_result(client, request_id)
    result["changed"] = changed
    result["fleet_errors"] = fleet_errors
    return result


def ensure_capacity(module: AnsibleAWSModule, client: Any) -> dict:
    """only_capacity: the existing fleet's target capacity, and (wait) its instances."""
    params = module.params
    found = find_fleets(client, params["name"])
    if not found:
        module.fail_json(
            msg=f"No Spot Fleet request named {params['name']} to scale to "
            f"{params['target_capacity']}: deploy it first (site.yml)."
        )
    request_id = found[0]["SpotFleetRequestId"]
    have = found[0].get("SpotFleetRequestConfig", {}).get("TargetCapacity")
    wanted = params["target_capacity"]
    changed = have != wanted
    if changed and not module.check_mode:
        modify_fleet_capacity(client, request_id, wanted)
    fleet_errors: list[dict] = []
    if params["wait"] and not module.check_mode:
        if wanted < (have or 0) or wanted == 0:
            wait_for_shrunk(module, client, request_id, wanted)
        else:
            fleet_errors = wait_for_fleet(module, client, request_id, wanted)
    result = fleet_result(client, request_id)
    result["changed"] = changed
    result["fleet_errors"] = fleet_errors
    return result


def wait_for_shrunk(module: AnsibleAWSModule, client: Any, request_id: str, target: int) -> None:
    """Wait until the fleet lists at most `target` instances and the others are terminated."""
    deadline = now() + module.params["wait_timeout"]
    listed_before = set(describe_fleet_instance_ids(client, request_id))
    while True:
        listed = describe_fleet_instance_ids(client, request_id)
        gone = sorted(listed_before - set(listed))
        states = {i["InstanceId"]: i["State"]["Name"] for i in describe_instances(client, gone)}
        alive = [i for i in gone if states.get(i, "terminated") != "terminated"]
        if len(listed) <= target and not alive:
            return
        if now() > deadline:
            module.fail_json(
                msg=(
                    f"Spot fleet request {request_id} still lists {len(listed)} instance(s) "
                    f"(want {target}) or has {len(alive)} not yet terminated after "
                    f"{module.params['wait_timeout']} s"
                ),
                spot_fleet_request_id=request_id,
            )
        sleep(POLL_SECONDS)


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
        only_capacity=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["target_capacity"])],
        supports_check_mode=True,
    )
    params = module.params
    full = ["iam_fleet_role", "launch_template_id", "instance_types", "subnet_ids"]
    missing = [name for name in full if params["state"] == "present" and params[name] is None]
    if missing and not params["only_capacity"]:
        module.fail_json(
            msg=f"state is present but all of the following are missing: {', '.join(missing)}"
        )
    client = connect(module)
    try:
        if params["state"] == "present" and params["only_capacity"]:
            result = ensure_capacity(module, client)
        elif params["state"] == "present":
            result = ensure_present(module, client)
        else:
            result = ensure_absent(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Spot fleet {module.params['name']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
