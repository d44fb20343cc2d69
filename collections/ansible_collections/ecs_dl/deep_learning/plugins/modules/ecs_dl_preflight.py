#!/usr/bin/python
# Copyright: contributors to ecs-deep-learning
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_dl_preflight
short_description: Validate the deployment's inputs and AWS connection before creating anything
description:
  - With O(checks=inputs), validates the deployment's inputs offline (no AWS call, no
    credentials needed) the deployment name, region, VPC and subnet CIDR blocks, instance
    types, target capacity, source CIDR, ports and the pretrained model's files on this
    machine. All problems are reported at once, in one line, joined by C(; ).
  - With O(checks=aws), finds credentials, calls STS C(GetCallerIdentity), checks that
    the region has at least two availability zones and that every instance type exists
    (and is offered in the region). Each failure is one line, never a botocore traceback.
  - With O(checks=aws) and O(spot_fleet_target_capacity), reads the account's Spot vCPU
    quota of each instance family the fleet uses through Service Quotas (C(L-34B43A08) for
    the standard families A, C, D, H, I, M, R, T and Z, C(L-3819A6DF) for G and VT) and
    refuses a fleet whose target capacity times the largest type's vCPUs exceeds it, with
    the command that asks for more. A quota that cannot be read (no permission, another
    family) is a warning.
  - Only reads; never changes anything. Check mode runs the same checks.
version_added: "1.0.0"
author:
  - ecs-deep-learning contributors
options:
  checks:
    description: Which checks to run.
    type: str
    choices: [inputs, aws]
    default: inputs
  state:
    description:
      - V(present) (site.yml) checks every input.
      - V(absent) (teardown.yml) checks only what teardown needs to find the deployment
        (O(deployment_name), O(region), O(endpoint_url)); with O(checks=aws) give no
        O(spot_fleet_instance_types) to skip their check.
    type: str
    choices: [present, absent]
    default: present
  max_target_capacity:
    description: Largest O(spot_fleet_target_capacity) accepted.
    type: int
    default: 50
  deployment_name:
    description: Name used in every resource name (3..24 lowercase letters, digits, single hyphens).
    type: raw
  network_vpc_cidr:
    description: The VPC's IPv4 block, C(/16) to C(/28).
    type: raw
  network_subnet_cidrs:
    description: Exactly two subnet blocks inside O(network_vpc_cidr), not overlapping.
    type: raw
  spot_fleet_instance_types:
    description: EC2 instance types of the Spot Fleet, for example C(m5.large).
    type: raw
  spot_fleet_target_capacity:
    description:
      - Number of instances, 1 to 50.
      - With O(checks=aws), checked against the account's Spot vCPU quotas.
    type: raw
  source_cidr:
    description:
      - The IPv4 block allowed to reach SSH and Jupyter. Required unless O(local_target=true).
      - C(0.0.0.0/0) only with O(allow_open_source_cidr=true), and then with a warning.
    type: raw
  allow_open_source_cidr:
    description: Allow O(source_cidr=0.0.0.0/0).
    type: bool
    default: false
  local_target:
    description:
      - The deployment goes to a target that stands for AWS on this machine (the local target,
        moto) and must never reach AWS; O(endpoint_url) is then required, and O(source_cidr) may
        be empty (only loopback reaches it).
      - The preflight role gives it as O(endpoint_required) (preflight_endpoint_required).
    type: bool
    default: false
    aliases: [endpoint_required]
  jupyter_port:
    description: Host port of Jupyter on the instance.
    type: raw
  container_ssh_port:
    description: Host port of the container's SSH on the instance; must differ from O(jupyter_port).
    type: raw
  model_source:
    description:
      - The pretrained model the models role uploads. Empty for the deployed one or the
        default; a C(.tflite) file on this machine (it must exist); an C(http://) or
        C(https://) URL of a C(.tflite) file or of a checkpoint prefix (checked for its form
        only); otherwise a checkpoint prefix on this machine whose C(PREFIX-symbol.json),
        C(PREFIX-0000.params) and labels file must exist.
    type: raw
  model_labels:
    description:
      - The labels file (a path or an C(http://)/C(https://) URL); empty for the labels inside
        a C(.tflite) file or C(labels.txt) beside a checkpoint prefix.
    type: raw
  model_sha256:
    description:
      - The SHA-256 the model file must have (the C(.tflite), or a checkpoint's params file);
        64 hex digits, or empty for no check.
    type: raw
  classify_uploads:
    description:
      - With O(state=present) (site.yml's classify_uploads) - a boolean (true, false, yes, no, ...),
        or nothing given; anything else is refused before anything is created.
    type: raw
  keep_work:
    description:
      - With O(state=absent) (teardown.yml's keep_work) - a boolean (true, false, yes, no, ...), or
        nothing given; anything else is refused before anything is deleted.
    type: raw
notes:
  - O(checks=inputs) validates O(region) (the C(aws_region) variable) against the regions
    of botocore's bundled endpoint data for the partitions aws, aws-cn and aws-us-gov.
  - Connection options (O(region), O(endpoint_url), O(access_key), O(secret_key), O(profile))
    come from the playbook's C(module_defaults).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Validate every input before anything is created
  ecs_dl.deep_learning.ecs_dl_preflight:
    checks: inputs
    deployment_name: ecs-dl
    network_vpc_cidr: 10.0.0.0/16
    network_subnet_cidrs: [10.0.1.0/24, 10.0.2.0/24]
    spot_fleet_instance_types: [m5.large, m5a.large]
    spot_fleet_target_capacity: 1
    source_cidr: 203.0.113.7/32
    jupyter_port: 80
    container_ssh_port: 2222
    model_source: /srv/models/mobilenet_v1_0.5_160

- name: Find credentials and check the region and instance types
  ecs_dl.deep_learning.ecs_dl_preflight:
    checks: aws
    spot_fleet_instance_types: [m5.large, m5a.large]
  register: preflight
"""

RETURN = r"""
warnings:
  description: Problems that do not stop the run (for example an allowed C(0.0.0.0/0)).
  returned: always
  type: list
  elements: str
  sample:
    - "source_cidr '0.0.0.0/0' opens SSH and Jupyter to the whole internet
      (allow_open_source_cidr is true)"
errors:
  description: Each problem found by O(checks=inputs); C(msg) joins them with C(; ).
  returned: when O(checks=inputs) fails
  type: list
  elements: str
  sample: ["spot_fleet_target_capacity is 0; it must be from 1 to 50 instances"]
account_id:
  description: The AWS account the credentials belong to.
  returned: when O(checks=aws)
  type: str
  sample: "123456789012"
caller_arn:
  description: The ARN of the identity the credentials belong to.
  returned: when O(checks=aws)
  type: str
  sample: arn:aws:iam::123456789012:user/alice
availability_zones:
  description: Names of the region's available availability zones, sorted.
  returned: when O(checks=aws)
  type: list
  elements: str
  sample: [us-east-1a, us-east-1b, us-east-1c]
region:
  description: The region that was checked.
  returned: when O(checks=aws)
  type: str
  sample: us-east-1
instance_types:
  description: The instance types that were found.
  returned: when O(checks=aws) and O(spot_fleet_instance_types) is given
  type: list
  elements: str
  sample: [m5.large]
gpus_by_instance_type:
  description: The number of GPUs of each instance type (0 without).
  returned: when O(checks=aws) and O(spot_fleet_instance_types) is given
  type: dict
  sample: {g4dn.xlarge: 1, g5.xlarge: 1}
vcpus_by_instance_type:
  description: The default vCPUs of each instance type.
  returned: when O(checks=aws) and O(spot_fleet_instance_types) is given
  type: dict
  sample: {m5.large: 2}
spot_vcpu_quotas:
  description: The Spot vCPU quotas checked, with what the fleet may ask of each (null when
    the quota could not be read).
  returned: when O(checks=aws) and O(spot_fleet_target_capacity) is given
  type: list
  elements: dict
  sample:
    - {quota_code: L-34B43A08, name: All Standard Spot Instance Requests, value: 640.0,
       wanted: 2, instance_types: [m5.large]}
instance_gpus:
  description: The GPUs every instance of the fleet has (the fewest of its types; 0 without).
    A fleet that mixes types with and without GPUs is refused.
  returned: when O(checks=aws) and O(spot_fleet_instance_types) is given
  type: int
  sample: 1
"""

import re
from typing import Any, NoReturn

try:
    import boto3
    import botocore
    import botocore.config
    import botocore.exceptions
    import botocore.parsers
except ImportError:
    pass  # reported by the module when checks=aws

from ansible.module_utils.common.warnings import warn
from ansible_collections.amazon.aws.plugins.module_utils.botocore import HAS_BOTO3
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.validation import (
    TARGET_CAPACITY_MAX,
    known_regions,
    validate_inputs,
    validate_teardown_inputs,
)

MIN_AVAILABILITY_ZONES = 2
# Service Quotas codes of the Spot vCPU quotas, by instance family (the letters before the
# generation digit). Families of neither quota (P, F, X, Inf, ...) are not checked (warning).
SPOT_QUOTA_STANDARD = (
    "L-34B43A08",
    "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests",
)
SPOT_QUOTA_G_VT = ("L-3819A6DF", "All G and VT Spot Instance Requests")
OTHER_FAMILIES = ("inf", "trn", "dl", "hpc", "mac", "u")


def spot_quota_of(instance_type: str) -> tuple[str, str] | None:
    """The Spot vCPU quota (code, name) that covers an instance type, or None."""
    family = re.match(r"[a-z]+", instance_type.lower())
    letters = family.group(0) if family else ""
    if letters.startswith("g") or letters == "vt":
        return SPOT_QUOTA_G_VT
    if not letters or letters in OTHER_FAMILIES:
        return None
    if letters[0] in "acdhimrtz":
        return SPOT_QUOTA_STANDARD
    return None


NO_CREDENTIALS = (
    "No AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "or run 'aws sso login' (or set aws_profile in the inventory)"
)
AUTH_ERROR_CODES = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
}


def one_line(text: Any) -> str:
    """Collapse whitespace so a message from botocore stays on one line."""
    return " ".join(str(text).split())


def aws_error(exc: BaseException, action: str, endpoint: str | None) -> str:
    """Turn a botocore exception into one line that says what to do."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(exc, botocore.exceptions.PartialCredentialsError):
        return f"Incomplete AWS credentials: {one_line(exc)}; {NO_CREDENTIALS}"
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return (
            f"AWS profile not found: {one_line(exc)} "
            "(check aws_profile / AWS_PROFILE and ~/.aws/config)"
        )
    if isinstance(exc, (botocore.exceptions.SSOError, botocore.exceptions.TokenRetrievalError)):
        return f"AWS SSO login needed: {one_line(exc)}; run 'aws sso login'"
    if isinstance(
        exc,
        (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError),
    ):
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or endpoint or "the AWS endpoint"
        hint = " (is the local target's moto server running?)" if endpoint else ""
        return f"Cannot reach the AWS endpoint {url} while {action}{hint}: {one_line(exc)}"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = one_line(error.get("Message", ""))
        if code in AUTH_ERROR_CODES:
            return (
                f"AWS rejected the credentials while {action} ({code}: {message}); {NO_CREDENTIALS}"
            )
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return f"Access denied while {action} ({code}): {message}"
        return f"AWS error while {action} ({code}): {message}"
    return f"AWS error while {action}: {type(exc).__name__}: {one_line(exc)}"


class Preflight:
    """The ``aws`` checks; each boto3 call is a small method so tests can replace it."""

    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.endpoint: str | None = module.params.get("endpoint_url") or None
        # Fail fast: a closed port or an unreachable endpoint should not retry for a minute.
        self.config = botocore.config.Config(
            connect_timeout=10,
            read_timeout=30,
            retries={"total_max_attempts": 2, "mode": "standard"},
        )
        # Throttling (Throttling, RequestLimitExceeded) is still retried, with AWSRetry's
        # jittered backoff: it only retries AWS's error codes, never a connection that failed.
        self.retry = AWSRetry.jittered_backoff()

    def fail(self, msg: str) -> NoReturn:
        self.module.fail_json(msg=msg)

    def client(self, service: str) -> Any:
        return self.module.client(service, config=self.config, retry_decorator=self.retry)

    def call(self, action: str, func: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return func(aws_retry=True, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            self.fail(aws_error(exc, action, self.endpoint))

    def caller_identity(self) -> dict[str, Any]:
        return self.call("calling sts GetCallerIdentity", self.client("sts").get_caller_identity)

    def availability_zones(self) -> list[str]:
        response = self.call(
            "listing availability zones (ec2 DescribeAvailabilityZones)",
            self.client("ec2").describe_availability_zones,
        )
        return sorted(
            zone["ZoneName"]
            for zone in response.get("AvailabilityZones", [])
            if zone.get("State", "available") == "available"
            and zone.get("ZoneType", "availability-zone") == "availability-zone"
        )

    def unknown_instance_types(self, instance_types: list[str]) -> list[str]:
        """The types EC2 does not know; asks one by one only when the batch call fails."""
        ec2 = self.client("ec2")
        try:
            ec2.describe_instance_types(aws_retry=True, InstanceTypes=instance_types)
            return []
        except botocore.exceptions.ClientError as exc:
            if not exc.response.get("Error", {}).get("Code", "").startswith("InvalidInstanceType"):
                self.fail(
                    aws_error(
                        exc, "checking instance types (ec2 DescribeInstanceTypes)", self.endpoint
                    )
                )
        except botocore.exceptions.BotoCoreError as exc:
            self.fail(
                aws_error(exc, "checking instance types (ec2 DescribeInstanceTypes)", self.endpoint)
            )
        unknown = []
        for instance_type in instance_types:
            try:
                ec2.describe_instance_types(aws_retry=True, InstanceTypes=[instance_type])
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code", "").startswith("InvalidInstanceType"):
                    unknown.append(instance_type)
                else:
                    self.fail(
                        aws_error(exc, f"checking instance type {instance_type}", self.endpoint)
                    )
            except botocore.exceptions.BotoCoreError as exc:
                self.fail(aws_error(exc, f"checking instance type {instance_type}", self.endpoint))
        return unknown

    def instance_type_facts(self, instance_types: list[str]) -> dict[str, dict[str, int]]:
        """The GPUs (GpuInfo) and default vCPUs (VCpuInfo) of each known instance type."""
        response = self.call(
            "checking instance types (ec2 DescribeInstanceTypes)",
            self.client("ec2").describe_instance_types,
            InstanceTypes=instance_types,
        )
        return {
            item["InstanceType"]: {
                "gpus": sum(gpu.get("Count", 0) for gpu in item.get("GpuInfo", {}).get("Gpus", [])),
                "vcpus": int(item.get("VCpuInfo", {}).get("DefaultVCpus", 0)),
            }
            for item in response.get("InstanceTypes", [])
        }

    def service_quota(self, quota_code: str) -> float | None:
        """The account's value of an EC2 quota (its AWS default when none was applied), or
        None when it cannot be read (a warning says why)."""
        quotas = self.client("service-quotas")
        action = f"reading the Spot vCPU quota {quota_code} (service-quotas GetServiceQuota)"
        try:
            try:
                response = quotas.get_service_quota(
                    aws_retry=True, ServiceCode="ec2", QuotaCode=quota_code
                )
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
                    raise
                response = quotas.get_aws_default_service_quota(
                    aws_retry=True, ServiceCode="ec2", QuotaCode=quota_code
                )
            return float(response["Quota"]["Value"])
        except (
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            botocore.parsers.ResponseParserError,  # an endpoint without the API
            KeyError,
            TypeError,
            ValueError,
        ) as exc:
            detail = (
                aws_error(exc, action, self.endpoint)
                if isinstance(
                    exc, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
                )
                else f"{action}: {type(exc).__name__}: {one_line(exc)}"
            )
            warn(f"Spot vCPU quota {quota_code} unknown, not checked: {detail}")
            return None

    def check_spot_quotas(
        self, instance_types: list[str], capacity: int, vcpus: dict[str, int], region: str
    ) -> list[dict[str, Any]]:
        """Refuse a fleet whose capacity times its largest type's vCPUs exceeds a quota."""
        by_quota: dict[tuple[str, str], list[str]] = {}
        for instance_type in instance_types:
            quota = spot_quota_of(instance_type)
            if quota is None:
                warn(
                    f"No Spot vCPU quota is checked for {instance_type} (not a standard, G or "
                    "VT type): see Service Quotas, Amazon EC2, '... Spot Instance Requests'"
                )
                continue
            by_quota.setdefault(quota, []).append(instance_type)
        checked = []
        for (code, name), types in by_quota.items():
            largest = max(types, key=lambda t: vcpus.get(t, 0))
            wanted = capacity * vcpus.get(largest, 0)
            value = self.service_quota(code)
            checked.append(
                dict(quota_code=code, name=name, value=value, wanted=wanted, instance_types=types)
            )
            if value is not None and wanted > value:
                self.fail(
                    f"Spot vCPU quota {code} ({name}) in {region} is {value:g} vCPUs, but "
                    f"spot_fleet_target_capacity {capacity} x {vcpus[largest]} vCPUs "
                    f"({largest}) may need {wanted}: lower the capacity, choose smaller types, "
                    "or ask for more with aws service-quotas request-service-quota-increase "
                    f"--service-code ec2 --quota-code {code} --desired-value {wanted} "
                    f"--region {region} (the quota counts every running Spot Instance of "
                    "the account in the region). Nothing was created."
                )
        return checked

    def offered_instance_types(self, instance_types: list[str]) -> list[str]:
        response = self.call(
            "checking instance type offerings (ec2 DescribeInstanceTypeOfferings)",
            self.client("ec2").describe_instance_type_offerings,
            LocationType="region",
            Filters=[{"Name": "instance-type", "Values": instance_types}],
        )
        return sorted({o["InstanceType"] for o in response.get("InstanceTypeOfferings", [])})

    def check_profile(self) -> None:
        """A missing profile would otherwise surface as a generic connection failure."""
        profile = self.module.params.get("profile")
        if not profile:
            return
        try:
            boto3.session.Session(profile_name=profile)
        except botocore.exceptions.BotoCoreError as exc:
            self.fail(aws_error(exc, f"loading AWS profile {profile}", self.endpoint))

    def run(self) -> dict[str, Any]:
        region = self.module.region
        if not region:
            self.fail("No AWS region set: set aws_region in the inventory (or AWS_REGION)")
        self.check_profile()
        identity = self.caller_identity()
        zones = self.availability_zones()
        if len(zones) < MIN_AVAILABILITY_ZONES:
            self.fail(
                f"Region {region} has {len(zones)} available availability zone(s) "
                f"({', '.join(zones) or 'none'}); the network needs {MIN_AVAILABILITY_ZONES} "
                "for its two subnets"
            )
        result: dict[str, Any] = dict(
            changed=False,
            account_id=identity.get("Account"),
            caller_arn=identity.get("Arn"),
            availability_zones=zones,
            region=region,
        )
        instance_types = self.module.params.get("spot_fleet_instance_types")
        if instance_types:
            if not isinstance(instance_types, list) or not all(
                isinstance(t, str) for t in instance_types
            ):
                self.fail(
                    f"spot_fleet_instance_types must be a list of strings, got {instance_types!r}"
                )
            unknown = self.unknown_instance_types(instance_types)
            if unknown:
                self.fail(
                    "Unknown EC2 instance type(s) in spot_fleet_instance_types: "
                    f"{', '.join(unknown)} (region {region})"
                )
            offered = self.offered_instance_types(instance_types)
            missing = [t for t in instance_types if t not in offered]
            if offered and missing:
                self.fail(f"Instance type(s) not offered in region {region}: {', '.join(missing)}")
            if not offered:
                # moto has no offering data for some regions; AWS always has some.
                warn(f"Could not confirm that {', '.join(instance_types)} are offered in {region}")
            result["instance_types"] = list(instance_types)
            facts = self.instance_type_facts(instance_types)
            gpus = {t: f["gpus"] for t, f in facts.items()}
            with_gpus = [t for t in instance_types if gpus.get(t, 0) > 0]
            if with_gpus and len(with_gpus) < len(instance_types):
                without = [t for t in instance_types if t not in with_gpus]
                self.fail(
                    "spot_fleet_instance_types mixes GPU instance types "
                    f"({', '.join(f'{t}: {gpus[t]} GPU' for t in with_gpus)}) with types "
                    f"without GPUs ({', '.join(without)}): the fleet's instances must be all "
                    "one or the other (the AMI, the image and the task definitions differ)"
                )
            result["gpus_by_instance_type"] = {t: gpus.get(t, 0) for t in instance_types}
            result["instance_gpus"] = min(gpus.get(t, 0) for t in instance_types)
            vcpus = {t: f["vcpus"] for t, f in facts.items()}
            result["vcpus_by_instance_type"] = {t: vcpus.get(t, 0) for t in instance_types}
            capacity = self.module.params.get("spot_fleet_target_capacity")
            if capacity is not None:
                try:
                    capacity = int(capacity)
                except (TypeError, ValueError):
                    self.fail(f"spot_fleet_target_capacity must be a number, got {capacity!r}")
                result["spot_vcpu_quotas"] = self.check_spot_quotas(
                    instance_types, capacity, vcpus, region
                )
        return result


def check_inputs(module: AnsibleAWSModule) -> dict[str, Any]:
    params = module.params
    if params["state"] == "absent":
        result = validate_teardown_inputs(
            deployment_name=params["deployment_name"],
            region=params["region"],
            local_target=params["local_target"],
            endpoint_url=params["endpoint_url"],
            regions=known_regions(),
            keep_work=params["keep_work"],
        )
    else:
        result = validate_inputs(
            deployment_name=params["deployment_name"],
            region=params["region"],
            vpc_cidr=params["network_vpc_cidr"],
            subnet_cidrs=params["network_subnet_cidrs"],
            instance_types=params["spot_fleet_instance_types"],
            target_capacity=params["spot_fleet_target_capacity"],
            source_cidr=params["source_cidr"],
            allow_open_source_cidr=params["allow_open_source_cidr"],
            local_target=params["local_target"],
            ports={
                "jupyter_port": params["jupyter_port"],
                "container_ssh_port": params["container_ssh_port"],
            },
            endpoint_url=params["endpoint_url"],
            regions=known_regions(),
            max_target_capacity=params["max_target_capacity"],
            model_source=params["model_source"],
            model_labels=params["model_labels"],
            model_sha256=params["model_sha256"],
            classify_uploads=params["classify_uploads"],
        )
    for warning in result.warnings:
        # ansible's own warn(): AnsibleAWSModule.warn() would also pass them to exit_json,
        # which ansible-core 2.19 reports as deprecated.
        warn(warning)
    if result.errors:
        module.fail_json(
            msg=f"Invalid input ({len(result.errors)} problem(s)): {'; '.join(result.errors)}",
            errors=result.errors,
        )
    return dict(changed=False)


def main() -> None:
    argument_spec = dict(
        checks=dict(type="str", choices=["inputs", "aws"], default="inputs"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        max_target_capacity=dict(type="int", default=TARGET_CAPACITY_MAX),
        deployment_name=dict(type="raw"),
        network_vpc_cidr=dict(type="raw"),
        network_subnet_cidrs=dict(type="raw"),
        spot_fleet_instance_types=dict(type="raw"),
        spot_fleet_target_capacity=dict(type="raw"),
        source_cidr=dict(type="raw"),
        allow_open_source_cidr=dict(type="bool", default=False),
        local_target=dict(type="bool", default=False, aliases=["endpoint_required"]),
        jupyter_port=dict(type="raw"),
        container_ssh_port=dict(type="raw"),
        model_source=dict(type="raw"),
        model_labels=dict(type="raw"),
        model_sha256=dict(type="raw"),
        keep_work=dict(type="raw"),
        classify_uploads=dict(type="raw"),
    )
    # check_boto3=False: the input checks must work without boto3 and without credentials.
    module = AnsibleAWSModule(
        argument_spec=argument_spec, supports_check_mode=True, check_boto3=False
    )

    if module.params["checks"] == "inputs":
        module.exit_json(**check_inputs(module))

    if not HAS_BOTO3:
        module.fail_json(
            msg="checks=aws needs the Python libraries boto3 and botocore on the control node"
        )
    module.exit_json(**Preflight(module).run())


if __name__ == "__main__":
    main()
