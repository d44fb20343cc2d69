"""site.yml on the local target, checked through the API; then its rerun and its teardown.

The tests run in file order (their numbers say so): the deployment is made once (the
`deployment` fixture), inspected, rerun for idempotence, then torn down and checked for leftovers.
"""

from __future__ import annotations

import json
import stat
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.integration.conftest import (
    ACCESS_KEY,
    DEPLOYMENT_ARGS,
    DEPLOYMENT_NAME,
    ENDPOINT_URL,
    LOCAL_AGENT_LABEL,
    REGION,
    REPO_ROOT,
    SECRET_KEY,
    Deployment,
    assert_playbook_ok,
    docker_container_ids,
    docker_network_ids,
    file_digests,
    recap_changed,
    run_playbook,
    tail,
)
from tests.resources import (
    TASK_FAMILIES,
    bucket_names,
    count_resources,
    ecr_repository_name,
    log_group_name,
)

DN = DEPLOYMENT_NAME
OUTPUT_KEYS = {
    "region",
    "endpoint",
    "vpc_id",
    "subnet_ids",
    "security_group_id",
    "key_name",
    "private_key_path",
    "buckets",
    "log_group",
    "ecr_repository_uri",
    "cluster",
    "spot_fleet_request_id",
    "instance_ids",
    "jupyter",
    "jupyter_password",
    "ssh",
    "task_definitions",
    "ssm_parameters",
}
Client = Callable[[str], Any]


def _inventory_var(name: str, default: int) -> int:
    """A port set in the local inventory (inventory/local/group_vars/all.yml), else default."""
    group_vars = REPO_ROOT / "inventory" / "local" / "group_vars" / "all.yml"
    data = yaml.safe_load(group_vars.read_text()) or {}
    value = data.get(name, default)
    return int(value) if str(value).isdigit() else default


def _port(deployment: Deployment, name: str, default: int) -> int:
    value = deployment.outputs.get(name)
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    return _inventory_var(name, default)


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in items or []}


def _by_tag(name: str = "Deployment", value: str = DN) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{name}", "Values": [value]}]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- after site.yml ----------------------------------------------------------------------------


def test_01_outputs_file(deployment: Deployment) -> None:
    assert _mode(deployment.outputs_path) == 0o600, oct(_mode(deployment.outputs_path))
    missing = OUTPUT_KEYS - set(deployment.outputs)
    assert not missing, f"outputs/{DN}.json lacks {sorted(missing)}: {deployment.outputs}"
    assert deployment.outputs["region"] == REGION
    assert deployment.outputs["endpoint"] == ENDPOINT_URL
    assert deployment.outputs["key_name"] == DN
    assert deployment.outputs["cluster"] in (DN, f"arn:aws:ecs:{REGION}:123456789012:cluster/{DN}")
    assert deployment.outputs["log_group"] == log_group_name(DN)
    assert ecr_repository_name(DN) in deployment.outputs["ecr_repository_uri"]


def test_02_key_pair(deployment: Deployment, aws_client: Client) -> None:
    pairs = aws_client("ec2").describe_key_pairs(KeyNames=[DN])["KeyPairs"]
    assert len(pairs) == 1
    pem = REPO_ROOT / ".secrets" / f"{DN}.pem"
    assert pem.is_file(), pem
    assert _mode(pem) == 0o600, oct(_mode(pem))
    assert Path(deployment.outputs["private_key_path"]).resolve() == pem.resolve()


def test_03_vpc(deployment: Deployment, aws_client: Client) -> None:
    ec2 = aws_client("ec2")
    vpcs = ec2.describe_vpcs(Filters=_by_tag())["Vpcs"]
    assert [v["VpcId"] for v in vpcs] == [deployment.outputs["vpc_id"]]
    vpc = vpcs[0]
    assert _tags(vpc.get("Tags")).get("Name") == f"{DN}-vpc"
    for attribute, key in (
        ("enableDnsSupport", "EnableDnsSupport"),
        ("enableDnsHostnames", "EnableDnsHostnames"),
    ):
        answer = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)
        assert answer[key]["Value"] is True, f"{attribute} is off"


def test_04_subnets(deployment: Deployment, aws_client: Client) -> None:
    subnets = aws_client("ec2").describe_subnets(Filters=_by_tag())["Subnets"]
    assert len(subnets) == 2, subnets
    assert sorted(s["SubnetId"] for s in subnets) == sorted(deployment.outputs["subnet_ids"])
    assert {s["VpcId"] for s in subnets} == {deployment.outputs["vpc_id"]}
    assert len({s["AvailabilityZone"] for s in subnets}) == 2, "both subnets in one AZ"
    assert all(s["MapPublicIpOnLaunch"] for s in subnets)
    assert {_tags(s.get("Tags")).get("Name") for s in subnets} == {
        f"{DN}-public-1",
        f"{DN}-public-2",
    }


def test_05_internet_gateway(deployment: Deployment, aws_client: Client) -> None:
    igws = aws_client("ec2").describe_internet_gateways(Filters=_by_tag())["InternetGateways"]
    assert len(igws) == 1, igws
    attachments = igws[0].get("Attachments", [])
    assert [a["VpcId"] for a in attachments] == [deployment.outputs["vpc_id"]]
    # An attached internet gateway's attachment says "available" (EC2's word for attached).
    assert attachments[0].get("State") == "available", attachments


def test_06_route_table(deployment: Deployment, aws_client: Client) -> None:
    ec2 = aws_client("ec2")
    igw_id = ec2.describe_internet_gateways(Filters=_by_tag())["InternetGateways"][0][
        "InternetGatewayId"
    ]
    tables = ec2.describe_route_tables(Filters=_by_tag("Name", f"{DN}-public"))["RouteTables"]
    assert len(tables) == 1, tables
    table = tables[0]
    assert table["VpcId"] == deployment.outputs["vpc_id"]
    default_routes = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    assert [r.get("GatewayId") for r in default_routes] == [igw_id]
    associated = {a["SubnetId"] for a in table.get("Associations", []) if a.get("SubnetId")}
    assert associated == set(deployment.outputs["subnet_ids"])


def test_07_security_group_ingress_exactly(deployment: Deployment, aws_client: Client) -> None:
    groups = aws_client("ec2").describe_security_groups(
        GroupIds=[deployment.outputs["security_group_id"]]
    )["SecurityGroups"]
    assert len(groups) == 1
    group = groups[0]
    assert group["GroupName"] == f"{DN}-instances"
    assert group["VpcId"] == deployment.outputs["vpc_id"]
    source_cidr = "127.0.0.1/32"
    expected = {
        ("tcp", 22, 22, source_cidr),
        (
            "tcp",
            _port(deployment, "container_ssh_port", 2222),
            _port(deployment, "container_ssh_port", 2222),
            source_cidr,
        ),
        (
            "tcp",
            _port(deployment, "jupyter_port", 80),
            _port(deployment, "jupyter_port", 80),
            source_cidr,
        ),
    }
    # and the instances from each other, for a distributed job's parameter-server traffic
    expected.add(("tcp", 1024, 65535, group["GroupId"]))
    actual: set[tuple[str, int, int, str]] = set()
    for permission in group["IpPermissions"]:
        assert not permission.get("Ipv6Ranges"), permission
        assert not permission.get("PrefixListIds"), permission
        for pair in permission.get("UserIdGroupPairs", []):
            actual.add(
                (
                    permission["IpProtocol"],
                    permission.get("FromPort", -1),
                    permission.get("ToPort", -1),
                    pair["GroupId"],
                )
            )
        for ip_range in permission.get("IpRanges", []):
            actual.add(
                (
                    permission["IpProtocol"],
                    permission.get("FromPort", -1),
                    permission.get("ToPort", -1),
                    ip_range["CidrIp"],
                )
            )
    assert actual == expected


def _attached(iam: Any, role: str) -> set[str]:
    policies = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    return {p["PolicyName"] for p in policies}


def test_08_iam_managed_policies(deployment: Deployment, aws_client: Client) -> None:
    del deployment
    iam = aws_client("iam")
    assert "AmazonEC2ContainerServiceforEC2Role" in _attached(iam, f"{DN}-ecs-instance")
    assert "AmazonEC2SpotFleetTaggingRole" in _attached(iam, f"{DN}-spot-fleet")
    assert "AmazonECSTaskExecutionRolePolicy" in _attached(iam, f"{DN}-task-execution")


def _task_role_statements(iam: Any, role: str) -> list[dict[str, Any]]:
    documents: list[Any] = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        documents.append(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
    for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
        documents.append(
            iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)[
                "PolicyVersion"
            ]["Document"]
        )
    statements: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, str):
            document = json.loads(document)
        statements.extend(_as_list(document.get("Statement", [])))
    return statements


# Who may mount the workspace's file system, and how (the others may not at all).
WORK_ACTIONS = {
    "jupyter": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
    "work-archive": ["elasticfilesystem:ClientMount"],
}


def test_09_task_roles_least_privilege(deployment: Deployment, aws_client: Client) -> None:
    """Each task definition family's own role names only this deployment's buckets (and
    Jupyter's its log group; Jupyter's and the work archive's the workspace's file system), and
    each family's definition uses its own role."""
    iam = aws_client("iam")
    account = aws_client("sts").get_caller_identity()["Account"]
    buckets = set(bucket_names(DN, account, REGION))
    log_group = log_group_name(DN)
    work = deployment.outputs["work"]
    for family in TASK_FAMILIES:
        role = f"{DN}-{family}-task"
        statements = _task_role_statements(iam, role)
        assert statements, f"the task role {role} has no policy"
        named_buckets: set[str] = set()
        for statement in statements:
            if statement.get("Effect") != "Allow":
                continue
            # A task role names everything it may touch: no action at all on "*" (every
            # role's wildcards on "*" are in tests/integration/test_posture.py).
            resources = _as_list(statement.get("Resource", []))
            assert "*" not in resources, f"{role} allows on '*': {statement}"
            for resource in resources:
                if resource.startswith("arn:aws:s3:::"):
                    bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
                    assert bucket in buckets, f"{bucket} is not one of this deployment's buckets"
                    named_buckets.add(bucket)
                elif resource.startswith("arn:aws:logs:"):
                    assert family == "jupyter", f"{role} may write logs: {statement}"
                    assert f":log-group:{log_group}" in resource, f"{resource} is another log group"
                elif resource.startswith("arn:aws:elasticfilesystem:"):
                    # the workspace: Jupyter's read-write, the archive's read-only, through
                    # the deployment's access point only
                    assert resource.endswith(f":file-system/{work['file_system_id']}"), resource
                    actions = sorted(_as_list(statement["Action"]))
                    assert actions == WORK_ACTIONS[family], f"{role} on the workspace: {actions}"
                    condition = statement["Condition"]["StringEquals"]
                    point = condition["elasticfilesystem:AccessPointArn"]
                    assert point.endswith(f":access-point/{work['access_point_id']}"), point
                else:
                    raise AssertionError(f"{role} names {resource}")
        assert named_buckets, f"{role} names none of the buckets: {statements}"
    # tests/integration/test_posture.py tries what each may and may not do.


def test_10_instance_profile(deployment: Deployment, aws_client: Client) -> None:
    del deployment
    profile = aws_client("iam").get_instance_profile(InstanceProfileName=f"{DN}-ecs-instance")
    roles = [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]]
    assert roles == [f"{DN}-ecs-instance"]


def test_11_buckets(deployment: Deployment, aws_client: Client) -> None:
    s3 = aws_client("s3")
    account = aws_client("sts").get_caller_identity()["Account"]
    names = bucket_names(DN, account, REGION)
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert set(names) <= existing, f"missing buckets {set(names) - existing}"
    outputs_buckets = deployment.outputs["buckets"]
    listed = outputs_buckets.values() if isinstance(outputs_buckets, dict) else outputs_buckets
    assert set(listed) == set(names)
    # Public access blocks and default encryption: tests/integration/test_posture.py.


def test_12_log_group(deployment: Deployment, aws_client: Client) -> None:
    del deployment
    groups = aws_client("logs").describe_log_groups(logGroupNamePrefix=log_group_name(DN))[
        "logGroups"
    ]
    matching = [g for g in groups if g["logGroupName"] == log_group_name(DN)]
    assert len(matching) == 1
    # The storage role's default (the tests' deployment sets no other).
    defaults = yaml.safe_load((REPO_ROOT / "roles/storage/defaults/main.yml").read_text())
    expected = int(defaults["storage_log_retention_days"])
    assert matching[0].get("retentionInDays") == expected, matching[0]


def test_13_ecr_repository(deployment: Deployment, aws_client: Client) -> None:
    ecr = aws_client("ecr")
    repos = ecr.describe_repositories(repositoryNames=[ecr_repository_name(DN)])["repositories"]
    assert len(repos) == 1
    assert repos[0]["imageScanningConfiguration"]["scanOnPush"] is True
    assert repos[0]["repositoryUri"] == deployment.outputs["ecr_repository_uri"]
    policy = ecr.get_lifecycle_policy(repositoryName=ecr_repository_name(DN))
    assert json.loads(policy["lifecyclePolicyText"]).get("rules"), policy


def test_14_cluster(deployment: Deployment, aws_client: Client) -> None:
    del deployment
    clusters = aws_client("ecs").describe_clusters(clusters=[DN])["clusters"]
    assert [c["status"] for c in clusters] == ["ACTIVE"]


def test_15_spot_fleet_and_container_instances(deployment: Deployment, aws_client: Client) -> None:
    ec2 = aws_client("ec2")
    fleet_id = deployment.outputs["spot_fleet_request_id"]
    fleets = ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fleet_id])[
        "SpotFleetRequestConfigs"
    ]
    assert len(fleets) == 1
    fleet = fleets[0]
    assert fleet["SpotFleetRequestState"] == "active"
    config = fleet["SpotFleetRequestConfig"]
    target = int(config["TargetCapacity"])
    assert target >= 1
    assert int(config.get("FulfilledCapacity", 0)) == target, config
    fleet_instances = ec2.describe_spot_fleet_instances(SpotFleetRequestId=fleet_id)[
        "ActiveInstances"
    ]
    instance_ids = sorted(i["InstanceId"] for i in fleet_instances)
    assert sorted(deployment.outputs["instance_ids"]) == instance_ids

    ecs = aws_client("ecs")
    arns = ecs.list_container_instances(cluster=DN)["containerInstanceArns"]
    described = (
        ecs.describe_container_instances(cluster=DN, containerInstances=arns)["containerInstances"]
        if arns
        else []
    )
    active = sorted(c["ec2InstanceId"] for c in described if c["status"] == "ACTIVE")
    assert len(active) == target, f"{len(active)} ACTIVE container instances, want {target}"
    assert active == instance_ids


# --- rerun ---------------------------------------------------------------------------------------


def test_20_second_site_run_changes_nothing(deployment: Deployment) -> None:
    """...and keeps the model the first run was given, though this run names none: the same
    model in the outputs, nothing downloaded, uploaded or converted again."""
    result = run_playbook("site.yml", *DEPLOYMENT_ARGS)
    assert_playbook_ok(result, "the second site.yml", "site-2.log")
    changed = recap_changed(result.stdout)
    assert changed == 0, f"the second site.yml changed {changed} things:\n{tail(result.stdout)}"
    assert f"Model:     {deployment.outputs['model']['source']}" in result.stdout
    assert (
        json.loads(deployment.outputs_path.read_text())["model_uri"]
        == deployment.outputs["model_uri"]
    )
    # (an include_role task's header has no role prefix)
    for task in ("models : Download the model from", "Run the conversion task"):
        assert task_status(result.stdout, task) == "skipping", f"{task}:\n{tail(result.stdout)}"


def describe_container(container_id: str) -> str:
    """A left container in one line: its name, state, agent, task family and command."""
    shown = subprocess.run(
        ["docker", "inspect", "--format",
         "{{.Name}} {{.State.Status}} agent={{index .Config.Labels \"ecs-dl.local-agent\"}} "
         "created={{.Created}} cmd={{json .Config.Cmd}}", container_id],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return f"{container_id} {shown.stdout.strip() or shown.stderr.strip()}"


def task_status(stdout: str, name: str) -> str:
    """How the task whose header starts with `name` ended: the first word of its first line
    (ok, changed, skipping, ...)."""
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"TASK [{name}")), None)
    assert start is not None, f"no task {name!r} in the output:\n{tail(stdout)}"
    return next(line for line in lines[start + 1 :] if line.strip()).split(":")[0]


# --- teardown ------------------------------------------------------------------------------------


@contextmanager
def shutting_down_for(seconds: float) -> Iterator[None]:
    """The local moto keeps terminated instances shutting-down (holding their VPC's security
    groups, subnets and internet gateway: DependencyViolation) this long, then as before."""

    def post(value: float) -> None:
        request = urllib.request.Request(
            f"{ENDPOINT_URL}/_ecs_dl/settings",
            data=json.dumps({"shutting_down_seconds": value}).encode(),
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["shutting_down_seconds"] == value

    with urllib.request.urlopen(f"{ENDPOINT_URL}/_ecs_dl/settings", timeout=10) as response:
        before = json.loads(response.read())["shutting_down_seconds"]
    post(seconds)
    try:
        yield
    finally:
        post(before)


def test_30_teardown_leaves_nothing(deployment: Deployment, aws_client: Client) -> None:
    """Teardown resumed after an interrupted one had cancelled the fleet: its instances are
    still shutting down (on AWS for a minute or more), and until they have terminated EC2
    refuses to delete the VPC's security group, internet gateway and subnets."""
    # A one-shot task still running when teardown starts: teardown has to stop it too.
    ecs = aws_client("ecs")
    running = ecs.run_task(
        cluster=DN,
        taskDefinition=deployment.outputs["task_definitions"]["train"],
        overrides={
            "containerOverrides": [
                {"name": "train", "command": ["python", "-c", "import time; time.sleep(600)"]}
            ]
        },
    )["tasks"][0]["taskArn"]
    deadline = time.monotonic() + 120
    while ecs.describe_tasks(cluster=DN, tasks=[running])["tasks"][0]["lastStatus"] != "RUNNING":
        assert time.monotonic() < deadline, "the long task did not start in 120 s"
        time.sleep(1)
    # On AWS, SSH keeps the instances' host keys in .secrets/<name>-known_hosts (accept-new):
    # teardown removes the deployment's own file, and no other deployment's.
    secrets = REPO_ROOT / ".secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    host_key = "[203.0.113.9]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5\n"
    (secrets / f"{DN}-known_hosts").write_text(host_key)
    other = secrets / "ecs-dl-other-known_hosts"
    other.write_text(host_key)
    ec2 = aws_client("ec2")
    fleets = [
        c["SpotFleetRequestId"]
        for c in ec2.describe_spot_fleet_requests()["SpotFleetRequestConfigs"]
        if {"Key": "Name", "Value": DN} in c.get("Tags", [])
        and c["SpotFleetRequestState"] == "active"
    ]
    assert len(fleets) == 1, fleets
    # The work in the workspace (the local agent's folder of its EFS file system), which
    # teardown must deliver to outputs/<name>-work/ before it deletes the file system; an
    # interrupted teardown had copied it before it cancelled the fleet.
    work_folder = (
        REPO_ROOT / ".local" / "ecs-agent" / "efs" / deployment.outputs["work"]["file_system_id"]
    )
    work_before = file_digests(work_folder / "work")
    assert "classify.ipynb" in work_before, sorted(work_before)
    archived = run_playbook("tests/integration/playbooks/workspace_archive.yml", *DEPLOYMENT_ARGS)
    assert_playbook_ok(archived, "the workspace's archive step", "teardown-archive.log")
    with shutting_down_for(60):
        # What the interrupted teardown did before it stopped (the cancel, no wait).
        ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=fleets, TerminateInstances=True)
        result = run_playbook("teardown.yml", *DEPLOYMENT_ARGS)
    other_kept = other.exists()
    other.unlink(missing_ok=True)
    assert_playbook_ok(result, "teardown.yml", "teardown-1.log")
    assert other_kept, "teardown removed another deployment's known_hosts"
    counts = count_resources(ENDPOINT_URL, REGION, DN, ACCESS_KEY, SECRET_KEY)
    print(f"resources of {DN} after teardown: {json.dumps(counts, sort_keys=True)}")
    left = {kind: n for kind, n in counts.items() if n}
    assert not left, f"teardown left {left}"
    assert not deployment.outputs_path.exists(), f"{deployment.outputs_path} is still there"
    # The containers the local ECS agent ran for the deployment's tasks are gone too.
    containers = docker_container_ids(
        f"com.amazonaws.ecs.cluster={DN}", LOCAL_AGENT_LABEL, include_stopped=True
    )
    assert containers == [], "teardown left the containers:\n" + "\n".join(
        describe_container(c) for c in containers
    )
    # and so is the docker network of its host-mode tasks (distributed training)
    networks = docker_network_ids(f"com.amazonaws.ecs.cluster={DN}", LOCAL_AGENT_LABEL)
    assert networks == [], f"teardown left the docker networks {networks}"
    left_files = sorted(p.name for p in secrets.glob(f"{DN}*")) if secrets.is_dir() else []
    assert left_files == [], f"teardown left {left_files} in {secrets}"
    # The work is on this machine, byte for byte, and the file system's folder is gone.
    assert file_digests(REPO_ROOT / "outputs" / f"{DN}-work") == work_before
    record = json.loads((REPO_ROOT / "outputs" / f"{DN}-work.json").read_text())
    assert record["file_system_id"] == deployment.outputs["work"]["file_system_id"]
    deadline = time.monotonic() + 60
    while work_folder.exists():
        assert time.monotonic() < deadline, f"{work_folder} is still there 60 s after teardown"
        time.sleep(1)


def test_31_second_teardown_changes_nothing(deployment: Deployment) -> None:
    del deployment
    result = run_playbook("teardown.yml", *DEPLOYMENT_ARGS)
    assert_playbook_ok(result, "the second teardown.yml", "teardown-2.log")
    changed = recap_changed(result.stdout)
    assert changed == 0, f"the second teardown.yml changed {changed}:\n{tail(result.stdout)}"
