"""The deployment's security posture, checked on what site.yml made, as an auditor would look.

On the shared test deployment (the `deployment` fixture: site.yml once, teardown at the end of
the session), through boto3 against the endpoint, `docker` and HTTP:

- no security group of the deployment admits the whole internet (0.0.0.0/0, ::/0);
- the fleet's launch template requires IMDSv2 and encrypts its volumes (and the instances say
  the same (moto 5.2 does not apply a launch template to Spot Fleet instances; the local
  target's moto_aws_compat.py does, as AWS));
- every bucket blocks public access (all four settings), has no public ACL grant, and is
  encrypted by default;
- no IAM policy of the deployment's roles (inline or attached, AWS managed ones included)
  allows every action, or every action of a service ("s3:*"), on every resource ("*"); the
  statements that grant anything on "*" are listed in tests/artifacts/iam-resource-star.json;
- the services (ECS, Spot Fleet) may assume the deployment's roles for this account's resources
  only (aws:SourceArn, aws:SourceAccount); each task definition family's task role, used as a
  task gets it, reaches what its task needs and fails the attacks: predict replacing the
  served model or a training job's rendezvous object, any task role on a bucket not the
  deployment's;
- every ACTIVE task definition revision of the deployment runs its containers as a non-root
  user, not privileged, with every capability dropped; the running Jupyter container is run
  that way, and none of its processes has a root uid or a capability;
- Jupyter's API refuses a client that has not logged in.

test_site.py checks what the resources are (names, tags, the exact ingress rules, the task
role's own buckets); this module checks how exposed they are.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import CONTAINER_UID
from tests.integration.conftest import (
    DEPLOYMENT_NAME,
    Deployment,
    docker_container_ids,
    jupyter_trust,
    save_artifact,
)
from tests.integration.processes import PROCESS_LIST, parse_listing
from tests.resources import bucket_names, role_names, task_definition_families

DN = DEPLOYMENT_NAME
Client = Callable[[str], Any]
# IMDSv2's PUT response crosses one hop to the instance itself and a second one to a container
# on the docker bridge: 1 keeps bridge-mode containers off the metadata service (and the
# instance role's credentials) entirely: the deployment's templates say 1.
MAX_HOP_LIMIT = 1
# A service's every action ("iam:*", "s3:*") on "*" is as bad as "*" for that service: full
# control of every user and role, or of every bucket, of the account. Narrower wildcards
# ("ecs:Submit*", "ec2:Describe*") are reported but allowed: AWS's managed policies use them.
SERVICE_WIDE = re.compile(r"^[A-Za-z0-9-]+:\*$")
ROOT_USERS = {"", "0", "root"}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _docker(*args: str) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr.strip()}"
    return result.stdout


# --- network ---------------------------------------------------------------------------------


def _security_groups(deployment: Deployment, ec2: Any) -> list[dict[str, Any]]:
    """The groups in the deployment's VPC, those tagged with it, and the one in the outputs."""
    found: dict[str, dict[str, Any]] = {}
    for filters in (
        [{"Name": "vpc-id", "Values": [deployment.outputs["vpc_id"]]}],
        [{"Name": "tag:Deployment", "Values": [DN]}],
        [{"Name": "group-name", "Values": [f"{DN}-instances"]}],
    ):
        for group in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]:
            found[group["GroupId"]] = group
    return list(found.values())


def test_no_security_group_admits_the_whole_internet(
    deployment: Deployment, aws_client: Client
) -> None:
    groups = _security_groups(deployment, aws_client("ec2"))
    assert deployment.outputs["security_group_id"] in {g["GroupId"] for g in groups}
    open_rules = []
    for group in groups:
        for permission in group.get("IpPermissions", []):
            ranges = [r["CidrIp"] for r in permission.get("IpRanges", [])]
            ranges += [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
            for cidr in ranges:
                if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
                    open_rules.append(
                        (
                            group["GroupId"],
                            group["GroupName"],
                            permission.get("IpProtocol"),
                            permission.get("FromPort"),
                            permission.get("ToPort"),
                            cidr,
                        )
                    )
    assert open_rules == [], f"ingress open to the internet: {open_rules}"


# --- instances ---------------------------------------------------------------------------------


def test_the_launch_template_requires_imdsv2_and_encrypts_its_volumes(
    deployment: Deployment, aws_client: Client
) -> None:
    ec2 = aws_client("ec2")
    template_id = deployment.outputs["launch_template_id"]
    named = ec2.describe_launch_templates(LaunchTemplateNames=[f"{DN}-ecs-instance"])[
        "LaunchTemplates"
    ]
    assert [t["LaunchTemplateId"] for t in named] == [template_id]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)[
        "LaunchTemplateVersions"
    ]
    assert versions, f"launch template {template_id} has no version"
    # Every version: the fleet may be asked for any of them.
    for version in versions:
        data = version["LaunchTemplateData"]
        where = f"{template_id} version {version['VersionNumber']}"
        metadata = data.get("MetadataOptions") or {}
        assert metadata.get("HttpTokens") == "required", f"{where}: IMDSv1 allowed: {metadata}"
        assert metadata.get("HttpEndpoint", "enabled") == "enabled", (
            f"{where}: the ECS agent needs the metadata service: {metadata}"
        )
        hop_limit = metadata.get("HttpPutResponseHopLimit")
        assert hop_limit is not None and 1 <= int(hop_limit) <= MAX_HOP_LIMIT, (
            f"{where}: hop limit {hop_limit}"
        )
        volumes = [m for m in data.get("BlockDeviceMappings", []) if "Ebs" in m]
        assert volumes, f"{where}: no EBS volume mapping (the root volume is not set)"
        unencrypted = [m["DeviceName"] for m in volumes if m["Ebs"].get("Encrypted") is not True]
        assert unencrypted == [], f"{where}: unencrypted volumes {unencrypted}"
        # The mapping is the AMI's root device (the role reads it from the AMI).
        image = ec2.describe_images(ImageIds=[data["ImageId"]])["Images"][0]
        assert image["RootDeviceName"] in {m["DeviceName"] for m in volumes}, (
            f"{where}: the root device {image['RootDeviceName']} is not mapped"
        )


def test_host_network_tasks_are_kept_off_the_instance_metadata(
    deployment: Deployment, aws_client: Client
) -> None:
    """The hop limit keeps bridge-mode containers off 169.254.169.254, not the tasks in network
    mode host (distributed training): the instances' user data rejects those containers' uid's
    packets to it with iptables (from a systemd unit, so a reboot keeps it), and leaves the task
    role endpoint 169.254.170.2 alone."""
    ecs, ec2 = aws_client("ecs"), aws_client("ec2")
    host_uids = set()
    for arn in deployment.outputs["task_definitions"].values():
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        if definition.get("networkMode") == "host":
            for container in definition["containerDefinitions"]:
                user = container.get("user")
                assert user, f"{arn}: container {container['name']} has no user"
                host_uids.add(user.split(":")[0])
    assert host_uids, "no task definition in network mode host (train-dist)"
    version = ec2.describe_launch_template_versions(
        LaunchTemplateId=deployment.outputs["launch_template_id"], Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]
    user_data = base64.b64decode(version["LaunchTemplateData"]["UserData"]).decode()
    for uid in sorted(host_uids):
        rule = f"-I OUTPUT -d 169.254.169.254/32 -m owner --uid-owner {uid} -j REJECT"
        assert rule in user_data, f"the user data does not block uid {uid}:\n{user_data}"
    assert not re.search(r"-d 169\.254\.170\.2", user_data), user_data
    assert "systemctl enable --now ecs-dl-block-imds.service" in user_data, user_data


def test_the_instances_run_no_privileged_container(
    deployment: Deployment, aws_client: Client
) -> None:
    """The ECS agent on AWS refuses privileged containers, as the local agent does: whoever may
    register a task definition (a role with ecs:RegisterTaskDefinition) gets no root on the
    instance that way."""
    version = aws_client("ec2").describe_launch_template_versions(
        LaunchTemplateId=deployment.outputs["launch_template_id"], Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]
    user_data = base64.b64decode(version["LaunchTemplateData"]["UserData"]).decode()
    config = user_data.split("cat >> /etc/ecs/ecs.config <<'CONFIG'\n", 1)[1].split("\nCONFIG\n")[0]
    assert "ECS_DISABLE_PRIVILEGED=true" in config.splitlines(), user_data


def test_the_instances_require_imdsv2_and_have_encrypted_volumes(
    deployment: Deployment, aws_client: Client
) -> None:
    ec2 = aws_client("ec2")
    instance_ids = deployment.outputs["instance_ids"]
    assert instance_ids, "the outputs list no instance"
    reservations = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert sorted(i["InstanceId"] for i in instances) == sorted(instance_ids)
    metadata = {i["InstanceId"]: i.get("MetadataOptions") or {} for i in instances}
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": instance_ids}]
    )["Volumes"]
    # On the local target moto_aws_compat.py gives the fleet's instances the template's
    # settings, as AWS does (plain moto 5.2 does not).
    weak = {iid: m for iid, m in metadata.items() if m.get("HttpTokens") != "required"}
    unencrypted = [v["VolumeId"] for v in volumes if v.get("Encrypted") is not True]
    roots = {(i["InstanceId"], i["RootDeviceName"]) for i in instances}
    attached = {(a["InstanceId"], a["Device"]) for v in volumes for a in v["Attachments"]}
    assert roots <= attached, f"root volumes not attached: {roots - attached}"
    assert weak == {}, f"instances that allow IMDSv1: {weak}"
    assert unencrypted == [], f"unencrypted volumes: {unencrypted}"
    for instance_id, options in metadata.items():
        hop_limit = options.get("HttpPutResponseHopLimit")
        assert hop_limit is not None, f"{instance_id}: no hop limit in {options}"
        assert 1 <= int(hop_limit) <= MAX_HOP_LIMIT, f"{instance_id}: hop limit {hop_limit}"


# --- workspace (EFS) -----------------------------------------------------------------------------


def _file_systems(deployment: Deployment, aws_client: Client) -> list[dict[str, Any]]:
    """The outputs' file system and any other tagged with the deployment."""
    efs = aws_client("efs")
    systems = {deployment.outputs["work"]["file_system_id"]}
    for system in efs.describe_file_systems()["FileSystems"]:
        if {t["Key"]: t["Value"] for t in system.get("Tags", [])}.get("Deployment") == DN:
            systems.add(system["FileSystemId"])
    return [efs.describe_file_systems(FileSystemId=s)["FileSystems"][0] for s in sorted(systems)]


def test_the_workspace_is_encrypted_and_reached_by_the_instances_only(
    deployment: Deployment, aws_client: Client
) -> None:
    """Encrypted at rest; its mount targets' groups admit NFS (2049) from the instances' group
    and nothing else; every task definition that mounts it does so over TLS, with IAM
    authorization, through the access point."""
    efs, ec2, ecs = aws_client("efs"), aws_client("ec2"), aws_client("ecs")
    systems = _file_systems(deployment, aws_client)
    assert systems
    for system in systems:
        assert system["Encrypted"] is True, system["FileSystemId"]
        targets = efs.describe_mount_targets(FileSystemId=system["FileSystemId"])["MountTargets"]
        assert len(targets) == 2, targets
        for target in targets:
            group_ids = efs.describe_mount_target_security_groups(
                MountTargetId=target["MountTargetId"]
            )["SecurityGroups"]
            for group in ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]:
                rules = [
                    (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"),
                     sorted(g["GroupId"] for g in p.get("UserIdGroupPairs", [])),
                     p.get("IpRanges", []) + p.get("Ipv6Ranges", []))
                    for p in group["IpPermissions"]
                ]  # fmt: skip
                assert rules == [
                    ("tcp", 2049, 2049, [deployment.outputs["security_group_id"]], [])
                ], group["GroupId"]
    point = deployment.outputs["work"]["access_point_id"]
    mounting = 0
    for family in task_definition_families(DN):
        definition = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        for volume in definition.get("volumes", []):
            efs_volume = volume.get("efsVolumeConfiguration")
            assert efs_volume, f"{family} has a volume that is not EFS: {volume}"
            mounting += 1
            assert efs_volume["transitEncryption"] == "ENABLED", family
            assert efs_volume["authorizationConfig"] == {"accessPointId": point, "iam": "ENABLED"}
    assert mounting == 2  # Jupyter's, and the work archive's (read-only)


# --- buckets -----------------------------------------------------------------------------------


def _deployment_buckets(deployment: Deployment, aws_client: Client) -> list[str]:
    """The contract's bucket names, the outputs' and any bucket tagged with the deployment."""
    s3 = aws_client("s3")
    account = aws_client("sts").get_caller_identity()["Account"]
    names = set(bucket_names(DN, account, deployment.outputs["region"]))
    listed = deployment.outputs["buckets"]
    names |= set(listed.values() if isinstance(listed, dict) else listed)
    for bucket in s3.list_buckets()["Buckets"]:
        if bucket["Name"] in names or not bucket["Name"].startswith(f"{DN}-"):
            continue
        try:
            tags = s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
        except ClientError:  # untagged, or gone meanwhile
            continue
        if {t["Key"]: t["Value"] for t in tags}.get("Deployment") == DN:
            names.add(bucket["Name"])
    return sorted(names)


PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def test_every_bucket_blocks_public_access_and_is_encrypted(
    deployment: Deployment, aws_client: Client
) -> None:
    s3 = aws_client("s3")
    buckets = _deployment_buckets(deployment, aws_client)
    assert len(buckets) >= 3, buckets
    problems = {}
    for name in buckets:
        found = []
        try:
            block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except ClientError as error:  # NoSuchPublicAccessBlockConfiguration: nothing blocked
            block = {"error": error.response["Error"]["Code"]}
        if block != {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }:
            found.append(f"public access block {block}")
        grants = s3.get_bucket_acl(Bucket=name)["Grants"]
        public = [g for g in grants if g.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES]
        if public:
            found.append(f"public ACL grants {public}")
        try:
            config = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
            rules = config["Rules"]
        except ClientError as error:  # ServerSideEncryptionConfigurationNotFoundError
            rules = [{"error": error.response["Error"]["Code"]}]
        algorithms = {
            r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules
        }
        if not algorithms or not algorithms <= {"AES256", "aws:kms", "aws:kms:dsse"}:
            found.append(f"default encryption {rules}")
        if found:
            problems[name] = found
    assert problems == {}, f"buckets open or unencrypted: {problems}"


# --- IAM ---------------------------------------------------------------------------------------


def _role_policies(iam: Any, role: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, document) of every policy of the role: inline ones and attached ones (customer
    or AWS managed, at their default version)."""
    policies = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        policies.append((f"inline {name}", document))
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"][
            "Document"
        ]
        policies.append((arn, document))
    return [(name, json.loads(d) if isinstance(d, str) else d) for name, d in policies]


def test_no_role_allows_every_action_of_a_service_on_every_resource(
    deployment: Deployment, aws_client: Client
) -> None:
    iam = aws_client("iam")
    roles = set(role_names(DN))
    roles |= {arn.rsplit("/", 1)[-1] for arn in deployment.outputs.get("iam_roles", [])}
    on_everything: list[dict[str, Any]] = []
    too_broad: list[dict[str, Any]] = []
    for role in sorted(roles):
        policies = _role_policies(iam, role)
        assert policies, f"role {role} has no policy (is it the deployment's?)"
        for policy, document in policies:
            for statement in _as_list(document.get("Statement")):
                if statement.get("Effect") != "Allow":
                    continue
                where = {"role": role, "policy": policy, "sid": statement.get("Sid", "")}
                if "NotAction" in statement or "NotResource" in statement:
                    # Allow with NotAction/NotResource grants everything but a list
                    too_broad.append({**where, "statement": statement})
                    continue
                actions = [str(a) for a in _as_list(statement.get("Action"))]
                if "*" not in _as_list(statement.get("Resource")):
                    continue
                on_everything.append(
                    {**where, "actions": actions, "condition": statement.get("Condition")}
                )
                wide = [a for a in actions if a == "*" or SERVICE_WIDE.match(a)]
                if wide:
                    too_broad.append({**where, "actions": wide})
    report = save_artifact("iam-resource-star.json", json.dumps(on_everything, indent=2) + "\n")
    print(f"statements that allow actions on Resource '*' ({report}):")
    for item in on_everything:
        condition = " (with a condition)" if item["condition"] else ""
        print(f"  {item['role']} / {item['policy']}: {', '.join(item['actions'])}{condition}")
    assert too_broad == [], f"statements allowing all of a service on '*': {too_broad}"


def _conditions(document: Any) -> list[dict[str, Any]]:
    """The Condition of each statement of a trust policy as IAM returns it."""
    if isinstance(document, str):
        document = json.loads(document)
    return [statement.get("Condition", {}) for statement in _as_list(document.get("Statement"))]


def test_the_services_assume_the_roles_for_this_accounts_resources_only(
    deployment: Deployment, aws_client: Client
) -> None:
    """The confused-deputy conditions, as AWS documents them for ECS (task and execution roles)
    and Spot Fleet: a service acting for another account's task or fleet cannot assume them.
    EC2 documents none for an instance profile's role."""
    del deployment
    iam = aws_client("iam")
    account = aws_client("sts").get_caller_identity()["Account"]
    region = aws_client("sts").meta.region_name
    wanted = {
        "ecs-tasks.amazonaws.com": f"arn:aws:ecs:{region}:{account}:*",
        "spotfleet.amazonaws.com": f"arn:aws:ec2:{region}:{account}:spot-fleet-request/sfr-*",
        "ec2.amazonaws.com": None,
        "events.amazonaws.com": f"arn:aws:events:{region}:{account}:rule/{DN}-classify-uploads",
    }
    seen = set()
    for role in role_names(DN):
        document = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        services = {
            service
            for statement in _as_list(document.get("Statement"))
            for service in _as_list(statement.get("Principal", {}).get("Service"))
        }
        assert len(services) == 1, f"{role} trusts {services}"
        service = services.pop()
        seen.add(service)
        expected = (
            [{}]
            if wanted[service] is None
            else [
                {
                    "ArnLike": {"aws:SourceArn": wanted[service]},
                    "StringEquals": {"aws:SourceAccount": account},
                }
            ]
        )
        assert _conditions(document) == expected, f"{role}: {document}"
    assert seen == set(wanted)


@pytest.fixture(scope="module")
def task_role_s3(deployment: Deployment, aws_client: Client) -> Callable[[str], Any]:
    """An S3 client with a deployed task role's credentials, as the ECS agent gets them for a
    task (STS AssumeRole): the local target's moto checks each request against the role."""
    del deployment
    account = aws_client("sts").get_caller_identity()["Account"]

    def make(family: str) -> Any:
        arn = f"arn:aws:iam::{account}:role/{DN}-{family}-task"
        credentials = aws_client("sts").assume_role(RoleArn=arn, RoleSessionName="posture")[
            "Credentials"
        ]
        admin = aws_client("s3")
        return boto3.client(
            "s3",
            region_name=admin.meta.region_name,
            endpoint_url=admin.meta.endpoint_url,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    return make


@pytest.fixture(scope="module")
def another_bucket(aws_client: Client) -> Iterator[str]:
    """A bucket of someone else in the account (not the deployment's), with an object."""
    s3 = aws_client("s3")
    name = f"{DN}-posture-not-ours"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="models/m/m-0000.params", Body=b"theirs")
    yield name
    for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


# (family, action, bucket kind, key, allowed): the attacks each task role must fail, and what
# its task needs. `other`: a bucket not the deployment's.
TASK_ROLE_ACCESS = [
    ("predict", "put", "models", "models/posture/posture-0000.params", False),
    ("predict", "put", "models", "jobs/posture/scheduler.json", False),
    ("predict", "put", "models", "trained/posture/mlp-0000.params", False),
    ("predict", "get", "other", "models/m/m-0000.params", False),
    ("predict", "put", "other", "models/m/m-0000.params", False),
    ("predict", "put", "output", "posture/not-predictions.json", False),
    ("predict", "put", "output", "predictions/posture.json", True),
    ("predict", "get", "input", "samples/chelsea.jpg", True),
    ("train", "put", "models", "models/posture/posture-0000.params", False),
    ("train", "put", "models", "jobs/posture/scheduler.json", False),
    ("train", "get", "other", "models/m/m-0000.params", False),
    ("train", "put", "models", "trained/posture/mlp-0000.params", True),
    ("train-dist", "put", "models", "models/posture/posture-0000.params", False),
    ("train-dist", "put", "models", "jobs/posture/scheduler.json", True),
    ("import", "put", "models", "jobs/posture/scheduler.json", False),
    ("import", "get", "other", "models/m/m-0000.params", False),
    ("import", "put", "models", "models/posture/posture-0000.params", True),
    ("jupyter", "get", "other", "models/m/m-0000.params", False),
    ("jupyter", "put", "models", "models/posture/posture-0000.params", True),
]


@pytest.mark.parametrize(
    ("family", "action", "kind", "key", "allowed"),
    TASK_ROLE_ACCESS,
    ids=[
        f"{f}-{a}-{k}-{key}-{'allowed' if ok else 'denied'}"
        for f, a, k, key, ok in TASK_ROLE_ACCESS
    ],
)
def test_each_task_role_reaches_what_its_task_needs_and_nothing_else(
    deployment: Deployment,
    aws_client: Client,
    task_role_s3: Callable[[str], Any],
    another_bucket: str,
    family: str,
    action: str,
    kind: str,
    key: str,
    allowed: bool,
) -> None:
    """Written as the attack: a task role used on another bucket, or to replace the served
    model or a training job's rendezvous object (tests/unit/test_moto_iam.py has the whole
    table, on the iam role's policies)."""
    bucket = another_bucket if kind == "other" else deployment.outputs["buckets"][kind]
    s3 = task_role_s3(family)

    def call() -> Any:
        if action == "get":
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return s3.put_object(Bucket=bucket, Key=key, Body=b"posture")

    try:
        if allowed:
            call()
        else:
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.response["Error"]["Code"] == "AccessDenied"
    finally:
        if action == "put" and kind != "other":
            aws_client("s3").delete_object(Bucket=bucket, Key=key)


# --- containers ---------------------------------------------------------------------------------


def _non_root(user: str | None) -> bool:
    return (user or "").split(":", 1)[0].strip() not in ROOT_USERS


def _container_problems(container: dict[str, Any]) -> list[str]:
    problems = []
    if container.get("privileged"):
        problems.append("privileged")
    if not _non_root(container.get("user")):
        problems.append(f"user {container.get('user')!r} (root or the image's default)")
    capabilities = (container.get("linuxParameters") or {}).get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append(f"capabilities not all dropped: {capabilities}")
    if capabilities.get("add"):
        problems.append(f"capabilities added: {capabilities['add']}")
    return problems


def test_every_task_definition_runs_non_root_unprivileged_without_capabilities(
    deployment: Deployment, aws_client: Client
) -> None:
    ecs = aws_client("ecs")
    arns = [
        arn
        for family in task_definition_families(DN)
        for arn in ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")[
            "taskDefinitionArns"
        ]
    ]
    assert set(deployment.outputs["task_definitions"].values()) <= set(arns), arns
    problems = {}
    for arn in arns:
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        for container in definition["containerDefinitions"]:
            found = _container_problems(container)
            if found:
                problems[f"{arn.rsplit('/', 1)[-1]} {container['name']}"] = found
    assert problems == {}, f"task definitions that allow more than they need: {problems}"


def _running_jupyter_container(aws_client: Client) -> dict[str, Any]:
    """docker inspect of the container of the Jupyter service's RUNNING task (as ECS says)."""
    ecs = aws_client("ecs")
    arns = ecs.list_tasks(cluster=DN, serviceName=f"{DN}-jupyter", desiredStatus="RUNNING")[
        "taskArns"
    ]
    tasks = ecs.describe_tasks(cluster=DN, tasks=arns)["tasks"] if arns else []
    running = [t["taskArn"] for t in tasks if t["lastStatus"] == "RUNNING"]
    assert len(running) == 1, f"{len(running)} RUNNING tasks of the service {DN}-jupyter"
    ids = docker_container_ids(f"com.amazonaws.ecs.task-arn={running[0]}")
    assert len(ids) == 1, f"{len(ids)} running containers for task {running[0]}"
    container = json.loads(_docker("inspect", ids[0]))[0]
    labels = container["Config"]["Labels"]
    assert labels["com.amazonaws.ecs.cluster"] == DN
    assert labels["com.amazonaws.ecs.task-definition-family"] == f"{DN}-jupyter"
    return container


def test_the_running_jupyter_container_is_unprivileged_and_has_no_root_process(
    aws_client: Client,
) -> None:
    container = _running_jupyter_container(aws_client)
    host_config = container["HostConfig"]
    problems = []
    if host_config.get("Privileged") is not False:
        problems.append(f"Privileged {host_config.get('Privileged')}")
    if "ALL" not in (host_config.get("CapDrop") or []):
        problems.append(f"CapDrop {host_config.get('CapDrop')} (not ALL)")
    if host_config.get("CapAdd"):
        problems.append(f"CapAdd {host_config['CapAdd']}")
    if container["Config"]["User"].split(":")[0] != CONTAINER_UID:
        problems.append(f"User {container['Config']['User']!r}, not {CONTAINER_UID}")

    # docker top: the host's view (ps) of the container's processes
    top = _docker("top", container["Id"], "-o", "pid,uid,ruid,suid,args").splitlines()
    assert len(top) > 2, top
    problems += [f"root uid (docker top): {line}" for line in top[1:] if "0" in line.split()[1:4]]

    # /proc inside (docker exec runs as the container's user): every uid and capability set
    listed = _docker("exec", container["Id"], "python", "-c", PROCESS_LIST)
    processes = parse_listing(listed)
    assert any("jupyter" in p["cmd"] for p in processes), processes
    assert any("sshd" in p["cmd"] for p in processes), f"sshd is not running: {processes}"
    problems += [f"uids {p['uids']}: {p}" for p in processes if p["uids"] != [CONTAINER_UID] * 4]
    problems += [
        f"capabilities (effective or bounding): {p}"
        for p in processes
        if int(p["cap_eff"], 16) or int(p["cap_bnd"], 16)
    ]
    assert problems == [], "the Jupyter container:\n" + "\n".join(problems)


def test_no_host_account_can_read_the_jupyter_containers_secrets(aws_client: Client) -> None:
    """The attack of issue 15 item 2: without user namespaces, a container's processes are, on
    the host, processes of its uid; an account of the same uid reads their environment
    (/proc/<pid>/environ), and, through /proc/<pid>/root, their files. The container's uid is
    one no host account has, and no process of the container keeps a secret in its
    environment (the entrypoint moved them into 0600 files before tini started)."""
    import pwd

    container = _running_jupyter_container(aws_client)
    with pytest.raises(KeyError):
        pwd.getpwuid(int(CONTAINER_UID))  # no account of this machine is the container's uid
    top = _docker("top", container["Id"], "-o", "pid,args").splitlines()[1:]
    pids = [line.split()[0] for line in top]
    assert len(pids) >= 3, top  # tini, jupyter, sshd
    secrets = (b"JUPYTER_PASSWORD_HASH=", b"SSH_HOST_KEY=", b"argon2:", b"PRIVATE KEY")
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        held = [secret.decode() for secret in secrets if secret in environ]
        assert not held, f"pid {pid} ({top[pids.index(pid)]}) has {held} in its environment"
    # As the usual first account of a machine (uid 1000), which the containers ran as before:
    # not the container's uid, so /proc keeps the processes' environment and root from it.
    probe = (
        "import sys\n"
        "for pid in sys.argv[1:]:\n"
        "    for what in ('environ', 'root/etc/ssh/ecsdl/ssh_host_ed25519_key'):\n"
        "        try:\n"
        "            open(f'/proc/{pid}/{what}', 'rb').read(); print('READ', pid, what)\n"
        "        except OSError as error:\n"
        "            print('DENIED', pid, what, error.errno)\n"
    )
    # the system's python3: the project's venv may be in a folder uid 1000 cannot enter
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    read = subprocess.run(
        [python, "-c", probe, *pids],
        user=1000,
        group=1000,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "READ" not in read and read.count("DENIED") == 2 * len(pids), read


def test_the_local_instances_sshd_logs_in_its_user_only(deployment: Deployment) -> None:
    """The local target's instance sshd (roles/local_stack) has one keys file for every user
    name: with the deployment's key, only the instance's user may log in (AllowUsers), not
    another account of this machine (daemon here)."""
    import getpass

    host, _, port = deployment.outputs["local_stack"]["sshd"].rpartition(":")

    def ssh(user: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-i", deployment.outputs["private_key_path"], "-p", port,
             "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
             f"{user}@{host}", "true"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    own = ssh(getpass.getuser())
    assert own.returncode == 0, own.stderr
    other = ssh("daemon")
    assert other.returncode == 255 and "Permission denied" in other.stderr, (
        f"daemon logged in with the deployment key (rc {other.returncode}): {other.stderr}"
    )


def test_jupyter_refuses_the_api_without_login(deployment: Deployment) -> None:
    url = deployment.outputs["jupyter"]["url"].rstrip("/") + "/api/contents"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10, context=jupyter_trust(deployment.outputs))  # noqa: S310
    assert refused.value.code == 403, f"{url}: {refused.value.code}"
