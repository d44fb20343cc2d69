"""The project's modules against an AWS that throttles, fails and is eventually consistent.

The endpoint is the local target's own moto (moto_launcher.py, started on a free port for this
module) with its fault injector (roles/local_stack/files/moto_faults.py): a rule makes the next
`count` matching requests fail with an AWS error in the service's own format, and counts its
"hits", so each test shows the errors were really served. Nothing in the modules or boto3 is
replaced. The modules run as Ansible runs them (run_module, tests/unit/conftest.py) with
botocore's own retries off (AWS_MAX_ATTEMPTS=1): every retry seen here is AnsibleAWSModule's
AWSRetry (amazon.aws's jittered backoff, 0-3 s before the first retry), not botocore's.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tests.conftest import moto_launcher
from tests.unit.conftest import CREDENTIALS, REGION

FAULTS = "/_ecs_dl/faults"
FLEET_ROLE = "arn:aws:iam::123456789012:role/ecs-dl-spot-fleet"
# botocore with no retry of its own: a ClientError is the injected error itself.
ONE_ATTEMPT = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """The local target's moto_launcher, fault injector included (overrides the plain moto)."""
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def module_env() -> dict[str, str]:
    """botocore reads these: one attempt per call, so only AWSRetry retries."""
    return {"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}


class Faults:
    """The fault injector's control API."""

    def __init__(self, endpoint: str) -> None:
        self.url = endpoint + FAULTS

    def request(self, method: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def add(self, service: str, action: str, code: str, count: int | None = 1, **more: Any) -> int:
        rule = {"service": service, "action": action, "code": code, "count": count, **more}
        return int(self.request("POST", rule)["id"])

    def hits(self, rule_id: int) -> int:
        return next(r["hits"] for r in self.request("GET")["rules"] if r["id"] == rule_id)

    def clear(self) -> list[dict]:
        return self.request("DELETE")["rules"]


@pytest.fixture
def faults(moto_endpoint: str) -> Iterator[Faults]:
    injector = Faults(moto_endpoint)
    injector.clear()
    yield injector
    injector.clear()


@pytest.fixture
def raw_client(moto_endpoint: str) -> Callable[[str], Any]:
    """boto3 clients without botocore's retries, for the fault injector's own tests."""
    return lambda service: boto3.client(
        service, endpoint_url=moto_endpoint, region_name=REGION, config=ONE_ATTEMPT, **CREDENTIALS
    )


# --- set-ups: what each module needs to exist; each returns the module's arguments -----------


def new_instance(aws: Callable[[str], Any]) -> str:
    ec2 = aws("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


def new_cluster(aws: Callable[[str], Any], name: str) -> str:
    aws("ecs").create_cluster(clusterName=name)
    return name


def fleet_args(network: dict, name: str) -> dict:
    return {
        "name": name,
        "target_capacity": 1,
        "iam_fleet_role": FLEET_ROLE,
        "launch_template_id": network["launch_template_id"],
        "instance_types": ["m5.large"],
        "subnet_ids": network["subnets"],
        "wait_timeout": 60,
    }


def log_stream(aws: Callable[[str], Any], group: str) -> dict:
    logs = aws("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hello"}],
    )
    return {"log_group_name": group, "log_stream_name": "s"}


def new_task_definition(aws: Callable[[str], Any], family: str) -> str:
    spec = [{"name": "c", "image": "x:1", "memoryReservation": 128}]
    response = aws("ecs").register_task_definition(family=family, containerDefinitions=spec)
    return response["taskDefinition"]["taskDefinitionArn"]


def container_instance_arns(aws: Callable[[str], Any], cluster: str) -> list[str]:
    return aws("ecs").list_container_instances(cluster=cluster)["containerInstanceArns"]


def family_of(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def fleet_requests_named(aws: Callable[[str], Any], name: str) -> list[str]:
    configs = aws("ec2").describe_spot_fleet_requests()["SpotFleetRequestConfigs"]
    return [
        c["SpotFleetRequestId"]
        for c in configs
        if {"Key": "Name", "Value": name} in c.get("Tags", [])
    ]


PREFLIGHT = {"checks": "aws", "spot_fleet_instance_types": ["m5.large"]}


@dataclass(frozen=True)
class Throttled:
    """A module, what it needs (set-up: aws, network -> its arguments), the call throttled,
    how many times, and what its result must then be (check: result, aws -> bool)."""

    module: str
    setup: Callable[[Callable[[str], Any], dict], dict]
    service: str
    action: str
    code: str
    check: Callable[[dict, Callable[[str], Any]], bool]
    count: int = 1


THROTTLED = [
    Throttled(
        "ec2_spot_fleet",
        lambda aws, net: fleet_args(net, "throttled-fleet"),
        "ec2",
        "RequestSpotFleet",
        "RequestLimitExceeded",
        # Requested once: the throttled request made nothing, the retry made the fleet.
        lambda result, aws: (
            fleet_requests_named(aws, "throttled-fleet") == [result["spot_fleet_request_id"]]
        ),
    ),
    Throttled(
        "ecs_container_instance",
        lambda aws, net: {
            "cluster": new_cluster(aws, "throttled-register"),
            "instance_ids": [new_instance(aws)],
        },
        "ecs",
        "RegisterContainerInstance",
        "ThrottlingException",
        # Registered once.
        lambda result, aws: len(container_instance_arns(aws, "throttled-register")) == 1,
    ),
    Throttled(
        "ecs_container_instance_info",
        lambda aws, net: {"cluster": new_cluster(aws, "throttled-info")},
        "ecs",
        "DescribeClusters",
        "ThrottlingException",
        lambda result, aws: result["container_instances"] == [],
    ),
    Throttled(
        "ecs_task_info",
        lambda aws, net: {"cluster": new_cluster(aws, "throttled-tasks"), "family": "f"},
        "ecs",
        "ListTasks",
        "ThrottlingException",
        lambda result, aws: result["tasks"] == [],
    ),
    Throttled(
        "ecs_taskdefinition_revisions_info",
        lambda aws, net: {"families": [family_of(new_task_definition(aws, "throttled-family"))]},
        "ecs",
        "ListTaskDefinitions",
        "ThrottlingException",
        lambda result, aws: (
            list(result["families"]) == ["throttled-family"] and len(result["arns"]) == 1
        ),
    ),
    Throttled(
        "cloudwatchlogs_log_events_info",
        lambda aws, net: log_stream(aws, "/throttled"),
        "logs",
        "GetLogEvents",
        "ThrottlingException",
        lambda result, aws: result["found"] and result["messages"] == ["hello"],
    ),
    Throttled(
        "ecr_authorization_token",
        lambda aws, net: {},
        "ecr",
        "GetAuthorizationToken",
        "ThrottlingException",
        lambda result, aws: bool(result["username"] and result["proxy_endpoint"]),
    ),
    Throttled(
        # The preflight keeps its own botocore retries (2 attempts, to fail fast on an endpoint
        # that does not answer): 3 errors are more than botocore alone gets through.
        "ecs_dl_preflight",
        lambda aws, net: PREFLIGHT,
        "sts",
        "GetCallerIdentity",
        "Throttling",
        lambda result, aws: result["account_id"] == "123456789012",
        count=3,
    ),
]


@pytest.mark.parametrize("case", THROTTLED, ids=[case.module for case in THROTTLED])
def test_throttling_is_retried(run_module, aws, network, faults, case: Throttled) -> None:
    args = case.setup(aws, network)
    rule = faults.add(case.service, case.action, case.code, case.count)
    result = run_module(case.module, **args)
    assert faults.hits(rule) == case.count
    assert case.check(result, aws), result


# (id, set-up(aws) -> module arguments, service, action, error code, words of the message)
DENIED: list[tuple] = [
    (
        "ec2_spot_fleet",
        lambda aws: {"name": "denied-fleet", "state": "absent"},
        "ec2",
        "DescribeSpotFleetRequests",
        "UnauthorizedOperation",
        "Spot fleet denied-fleet",
    ),
    (
        "ecs_container_instance",
        lambda aws: {"cluster": "denied", "state": "absent"},
        "ecs",
        "DescribeClusters",
        "AccessDeniedException",
        "ECS cluster denied",
    ),
    (
        "ecs_container_instance_info",
        lambda aws: {"cluster": new_cluster(aws, "denied-info")},
        "ecs",
        "ListContainerInstances",
        "AccessDeniedException",
        "ECS cluster denied-info",
    ),
    (
        "ecs_task_info",
        lambda aws: {"cluster": new_cluster(aws, "denied-tasks")},
        "ecs",
        "ListTasks",
        "AccessDeniedException",
        "tasks of ECS cluster denied-tasks",
    ),
    (
        "ecs_taskdefinition_revisions_info",
        lambda aws: {"families": ["denied"]},
        "ecs",
        "ListTaskDefinitions",
        "AccessDeniedException",
        "listing task definitions",
    ),
    (
        "cloudwatchlogs_log_events_info",
        lambda aws: {"log_group_name": "/denied", "log_stream_name": "s"},
        "logs",
        "GetLogEvents",
        "AccessDeniedException",
        "log stream /denied:s",
    ),
    (
        "ecr_authorization_token",
        lambda aws: {},
        "ecr",
        "GetAuthorizationToken",
        "AccessDeniedException",
        "Could not get an ECR authorization token",
    ),
    (
        "ecs_dl_preflight",
        lambda aws: PREFLIGHT,
        "ec2",
        "DescribeAvailabilityZones",
        "UnauthorizedOperation",
        "Access denied while listing availability zones",
    ),
]


@pytest.mark.parametrize(
    ("module", "setup", "service", "action", "code", "words"),
    DENIED,
    ids=[case[0] for case in DENIED],
)
def test_access_denied_fails_at_once(
    run_module, aws, faults, module, setup, service, action, code, words
) -> None:
    args = setup(aws)
    rule = faults.add(service, action, code, count=None)  # denied for as long as it stands
    result = run_module(module, expect_failure=True, **args)
    assert faults.hits(rule) == 1, "retried an error that is not retryable"
    msg = result["msg"]
    assert words in msg and code in msg, msg
    assert "\n" not in msg, msg
    assert "Traceback" not in json.dumps(result), result


# --- the waits: "not found" just after creation means "not yet" ------------------------------


def test_spot_fleet_wait_tolerates_request_and_instances_not_known_yet(
    run_module, network, faults
) -> None:
    # The first DescribeSpotFleetInstances and DescribeInstances of the run come right after
    # RequestSpotFleet, in the module's wait.
    request = faults.add("ec2", "DescribeSpotFleetInstances", "InvalidSpotFleetRequestId.NotFound")
    instance = faults.add("ec2", "DescribeInstances", "InvalidInstanceID.NotFound")
    result = run_module("ec2_spot_fleet", **fleet_args(network, "eventual-fleet"))
    assert (faults.hits(request), faults.hits(instance)) == (1, 1)
    assert result["changed"] is True and result["state"] == "active"
    assert len(result["instance_ids"]) == 1
    assert [i["instance_id"] for i in result["instances"]] == result["instance_ids"]


def test_container_instance_registers_instance_and_cluster_not_known_yet(
    run_module, aws, faults
) -> None:
    cluster = new_cluster(aws, "eventual-register")
    instance_id = new_instance(aws)
    not_described = faults.add("ec2", "DescribeInstances", "InvalidInstanceID.NotFound")
    no_cluster = faults.add("ecs", "RegisterContainerInstance", "ClusterNotFoundException")
    result = run_module("ecs_container_instance", cluster=cluster, instance_ids=[instance_id])
    assert (faults.hits(not_described), faults.hits(no_cluster)) == (1, 1)
    [registered] = result["container_instances"]
    assert (registered["ec2_instance_id"], registered["status"]) == (instance_id, "ACTIVE")


def test_container_instance_info_waits_for_a_new_cluster_not_a_missing_one(
    run_module, aws, faults
) -> None:
    cluster = new_cluster(aws, "eventual-info")
    rule = faults.add("ecs", "ListContainerInstances", "ClusterNotFoundException")
    assert run_module("ecs_container_instance_info", cluster=cluster)["container_instances"] == []
    assert faults.hits(rule) == 1
    # A cluster DescribeClusters does not know is the answer "none", at once: never listed.
    faults.clear()
    rule = faults.add("ecs", "ListContainerInstances", "ClusterNotFoundException", count=None)
    assert run_module("ecs_container_instance_info", cluster="absent")["container_instances"] == []
    assert faults.hits(rule) == 0


def test_task_info_describes_a_task_just_run(run_module, aws, faults) -> None:
    cluster = new_cluster(aws, "eventual-tasks")
    ecs = aws("ecs")
    ecs.register_container_instance(
        cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": new_instance(aws)})
    )
    definition = new_task_definition(aws, "eventual-task")
    arn = ecs.run_task(cluster=cluster, taskDefinition=definition)["tasks"][0]["taskArn"]
    rule = faults.add("ecs", "DescribeTasks", "ClusterNotFoundException")
    [task] = run_module("ecs_task_info", cluster=cluster, task_arns=[arn])["tasks"]
    assert faults.hits(rule) == 1
    assert task["arn"] == arn
    # A task ECS does not know yet is no task (the callers' waits ask again), not a failure.
    unknown = arn.rsplit("/", 1)[0] + "/" + "0" * 32
    assert run_module("ecs_task_info", cluster=cluster, task_arns=[unknown])["tasks"] == []


# --- the fault injector itself --------------------------------------------------------------

# (service, action of the call, error code, HTTP status, the call)
PROTOCOLS: list[tuple] = [
    ("ecs", "ListClusters", "ThrottlingException", 400, lambda c: c.list_clusters()),  # JSON
    ("ec2", "DescribeVpcs", "RequestLimitExceeded", 503, lambda c: c.describe_vpcs()),  # EC2
    ("iam", "ListRoles", "Throttling", 400, lambda c: c.list_roles()),  # query
    ("s3", "*", "SlowDown", 503, lambda c: c.list_buckets()),  # REST-XML
]


@pytest.mark.parametrize(
    ("service", "action", "code", "status", "call"), PROTOCOLS, ids=[p[0] for p in PROTOCOLS]
)
def test_injector_fails_count_requests_as_the_service_would(
    raw_client, faults, service, action, code, status, call
) -> None:
    client = raw_client(service)
    rule = faults.add(service, action, code, count=2, status=status)
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as error:
            call(client)
        assert error.value.response["Error"]["Code"] == code
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    call(client)  # the count is spent: moto answers again
    assert faults.hits(rule) == 2


def test_injector_null_count_matches_service_and_action_until_deleted(raw_client, faults) -> None:
    ecs, ec2 = raw_client("ecs"), raw_client("ec2")
    rule = faults.add("ecs", "DescribeClusters", "ServiceUnavailableException", count=None)
    for _ in range(3):
        with pytest.raises(botocore.exceptions.ClientError):
            ecs.describe_clusters(clusters=["x"])
    ecs.list_clusters()  # another action of the service
    ec2.describe_vpcs()  # another service
    faults.add("ecs", "*", "ThrottlingException", access_key="SOMEONEELSE", count=None)
    ecs.list_clusters()  # another caller's key
    [deleted, other_key] = faults.clear()
    assert (deleted["id"], deleted["hits"], other_key["hits"]) == (rule, 3, 0)
    ecs.describe_clusters(clusters=["x"])


@pytest.mark.parametrize(
    "rule", [{"count": 0}, {"count": "3"}, {"colour": "red"}], ids=["zero", "text", "unknown"]
)
def test_injector_refuses_a_bad_rule(faults, rule) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        faults.request("POST", rule)
    assert error.value.code == 400
    assert faults.request("GET")["rules"] == []
