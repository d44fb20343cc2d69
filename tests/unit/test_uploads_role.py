"""The uploads role against the local target's moto: the input bucket's events go to EventBridge,
a rule runs the predict task definition on the cluster for each object put under uploads/ (the
object in the task's command, --verdicts under verdicts/), as a role that may do only that; a
rerun changes nothing; classify_uploads=false and state=absent remove the rule, the role and the
bucket's setting, and a second removal changes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import moto_launcher
from tests.unit.conftest import join_instances, moto_client

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "tests" / "integration" / "playbooks" / "uploads.yml"
NAME = "unit-uploads"
RULE, ROLE = f"{NAME}-classify-uploads", f"{NAME}-uploads-events"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


def play(endpoint: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOK),
         "-e", f"deployment_name={NAME}", "-e", f"aws_endpoint_url={endpoint}", *extra],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO_ROOT, env=env,
    )  # fmt: skip


def changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


@pytest.fixture(scope="module")
def deployment(endpoint: str) -> dict[str, Any]:
    """What site.yml's earlier roles make: the buckets, a cluster with an instance, the predict
    task definition and its roles."""
    s3, ecs, ec2, iam = (moto_client(s, endpoint) for s in ("s3", "ecs", "ec2", "iam"))
    for bucket in ("unit-uploads-input", "unit-uploads-output"):
        s3.create_bucket(Bucket=bucket)
    join_instances(ec2, ecs, NAME, count=1, cpu=2048, memory=4096)
    cluster = ecs.describe_clusters(clusters=[NAME])["clusters"][0]["clusterArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    roles = [
        iam.create_role(RoleName=f"{NAME}-{r}", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        for r in ("predict-task", "task-execution")
    ]
    definition = ecs.register_task_definition(
        family=f"{NAME}-predict",
        taskRoleArn=roles[0],
        executionRoleArn=roles[1],
        containerDefinitions=[{"name": "predict", "image": "x/predict:1", "memoryReservation": 64}],
    )["taskDefinition"]["taskDefinitionArn"]
    return {
        "input_bucket": "unit-uploads-input",
        "output_bucket": "unit-uploads-output",
        "cluster_arn": cluster,
        "task_definition_arn": definition,
        "passed_role_arns": roles,
    }


def rule_tasks(endpoint: str) -> list[dict[str, Any]]:
    ecs = moto_client("ecs", endpoint)
    arns = ecs.list_tasks(cluster=NAME, startedBy=f"events-rule/{RULE}")["taskArns"]
    return ecs.describe_tasks(cluster=NAME, tasks=arns)["tasks"] if arns else []


def eventbridge_on(endpoint: str, bucket: str) -> bool:
    answer = moto_client("s3", endpoint).get_bucket_notification_configuration(Bucket=bucket)
    return "EventBridgeConfiguration" in answer


def made(endpoint: str) -> dict[str, bool]:
    events, iam = moto_client("events", endpoint), moto_client("iam", endpoint)
    return {
        "rule": RULE in [r["Name"] for r in events.list_rules(NamePrefix=RULE)["Rules"]],
        "role": ROLE in [r["RoleName"] for r in iam.list_roles()["Roles"]],
        "eventbridge": eventbridge_on(endpoint, "unit-uploads-input"),
    }


@pytest.fixture(scope="module")
def present(endpoint: str, deployment: dict[str, Any], tmp_path_factory) -> dict[str, Any]:
    report = tmp_path_factory.mktemp("uploads") / "report.json"
    result = play(endpoint, "-e", json.dumps({**deployment, "report": str(report)}))
    assert result.returncode == 0, result.stdout[-4000:]
    return json.loads(report.read_text())


def test_the_rule_its_role_and_the_buckets_setting_are_made_once(
    endpoint: str, deployment: dict[str, Any], present: dict[str, Any]
) -> None:
    assert made(endpoint) == {"rule": True, "role": True, "eventbridge": True}
    assert present["uploads"]["pictures"] == "s3://unit-uploads-input/uploads/"
    assert present["uploads"]["verdicts"] == "s3://unit-uploads-output/verdicts/"
    again = play(endpoint, "-e", json.dumps(deployment))
    assert again.returncode == 0 and changed(again.stdout) == 0, again.stdout[-4000:]


def test_the_rules_role_may_run_that_task_there_and_pass_its_roles_only(
    endpoint: str, deployment: dict[str, Any], present: dict[str, Any]
) -> None:
    iam = moto_client("iam", endpoint)
    trust = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"].endswith(f":rule/{RULE}")
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == [f"{ROLE}-run"]
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    policy = iam.get_role_policy(RoleName=ROLE, PolicyName=f"{ROLE}-run")["PolicyDocument"]
    run, passing = policy["Statement"]
    family = deployment["task_definition_arn"].rpartition(":")[0]
    assert (run["Action"], run["Resource"]) == ("ecs:RunTask", f"{family}:*")
    assert run["Condition"] == {"StringEquals": {"ecs:cluster": deployment["cluster_arn"]}}
    assert passing["Action"] == "iam:PassRole"
    assert sorted(passing["Resource"]) == sorted(deployment["passed_role_arns"])
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }


def test_an_upload_runs_the_predict_task_with_it(
    endpoint: str, deployment: dict[str, Any], present: dict[str, Any]
) -> None:
    s3 = moto_client("s3", endpoint)
    s3.put_object(Bucket="unit-uploads-input", Key="pictures/elsewhere.png", Body=b"x")
    assert rule_tasks(endpoint) == []
    s3.put_object(Bucket="unit-uploads-input", Key="uploads/my cat.png", Body=b"x")
    (task,) = rule_tasks(endpoint)
    assert task["taskDefinitionArn"] == deployment["task_definition_arn"]
    (override,) = task["overrides"]["containerOverrides"]
    assert override["name"] == "predict"
    assert override["command"] == [
        "classify", "--json", "--model", "s3://models/m/m",
        "--verdicts", "s3://unit-uploads-output/verdicts/",
        "s3://unit-uploads-input/uploads/my cat.png",
    ]  # fmt: skip


def test_classify_uploads_false_removes_it_all_and_absent_twice_changes_nothing(
    endpoint: str, deployment: dict[str, Any], present: dict[str, Any]
) -> None:
    off = play(endpoint, "-e", json.dumps({**deployment, "classify_uploads": False}))
    assert off.returncode == 0, off.stdout[-4000:]
    assert made(endpoint) == {"rule": False, "role": False, "eventbridge": False}
    back = play(endpoint, "-e", json.dumps(deployment))
    assert back.returncode == 0 and made(endpoint)["rule"], back.stdout[-4000:]
    for _ in range(2):
        gone = play(endpoint, "-e", json.dumps({**deployment, "state": "absent"}))
        assert gone.returncode == 0, gone.stdout[-4000:]
        assert made(endpoint) == {"rule": False, "role": False, "eventbridge": False}
    assert changed(gone.stdout) == 0


def test_absent_after_the_bucket_is_gone(endpoint: str) -> None:
    args = {"input_bucket": "no-such-bucket-left", "state": "absent"}
    result = play(endpoint, "-e", json.dumps(args))
    assert result.returncode == 0 and changed(result.stdout) == 0, result.stdout[-4000:]
