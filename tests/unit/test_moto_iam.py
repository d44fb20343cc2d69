"""IAM as AWS enforces it on the local target (moto_aws_compat.py fix 9).

A real moto_launcher.py process on a free port. Two deployments' roles are made from the iam
role's own policy templates (roles/iam/templates), as the role registers them; their
credentials come from STS AssumeRole, as ECS gets them for a task. A request signed with them
is checked against the role's policies; the admin key (`testing`) stays unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import jinja2
import pytest
from botocore.exceptions import ClientError

from tests.conftest import moto_launcher

TEMPLATES = Path(__file__).resolve().parents[2] / "roles" / "iam" / "templates"
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
DEPLOYMENTS = ("ecs-dl", "other-dl")


def render(template: str, **variables: Any) -> str:
    """A template of the iam role, rendered with the variables the role gives it."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES))
    text = environment.get_template(template).render(
        iam_partition="aws", aws_region=REGION, aws_account_id=ACCOUNT, **variables
    )
    json.loads(text)  # what the role registers is JSON
    return text


def buckets(deployment: str) -> dict[str, str]:
    return {"data": f"{deployment}-data-x", "models": f"{deployment}-models-x"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def admin(endpoint: str) -> Callable[[str], Any]:
    """A client with the playbooks' admin key."""

    def make(service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make


@pytest.fixture(scope="module")
def deployments(admin: Callable[[str], Any]) -> dict[str, dict[str, str]]:
    """Both deployments' buckets, log group, parameter and roles (the iam role's policies)."""
    iam, s3, ssm, logs = admin("iam"), admin("s3"), admin("ssm"), admin("logs")
    roles = {}
    for deployment in DEPLOYMENTS:
        names = buckets(deployment)
        for bucket in names.values():
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key="seed.txt", Body=b"seed")
        group = f"/ecs/{deployment}"
        logs.create_log_group(logGroupName=group)
        ssm.put_parameter(
            Name=f"/{deployment}/jupyter_password_hash", Value="argon2:x", Type="SecureString"
        )
        trust = render("trust-policy.json.j2", item={"service": "ecs-tasks.amazonaws.com"})
        task = iam.create_role(RoleName=f"{deployment}-task", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(
            RoleName=f"{deployment}-task",
            PolicyName=f"{deployment}-task-data",
            PolicyDocument=render(
                "task-policy.json.j2",
                storage_bucket_names=names,
                storage_log_group_name=group,
            ),
        )
        execution = iam.create_role(
            RoleName=f"{deployment}-task-execution", AssumeRolePolicyDocument=trust
        )
        iam.attach_role_policy(
            RoleName=f"{deployment}-task-execution",
            PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        )
        iam.put_role_policy(
            RoleName=f"{deployment}-task-execution",
            PolicyName=f"{deployment}-task-secrets",
            PolicyDocument=render("execution-policy.json.j2", deployment_name=deployment),
        )
        roles[deployment] = {
            "task": task["Role"]["Arn"],
            "execution": execution["Role"]["Arn"],
            "log_group": group,
        }
    return roles


@pytest.fixture(scope="module")
def as_role(endpoint: str, admin: Callable[[str], Any]) -> Callable[[str, str], Any]:
    """A client with a role's temporary credentials (AssumeRole by the admin, as ECS does)."""

    def make(role_arn: str, service: str) -> Any:
        credentials = admin("sts").assume_role(RoleArn=role_arn, RoleSessionName="unit")[
            "Credentials"
        ]
        assert credentials["AccessKeyId"].startswith("ASIA")
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    return make


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_the_task_role_reads_and_writes_its_own_buckets(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any]
) -> None:
    s3 = as_role(deployments["ecs-dl"]["task"], "s3")
    for bucket in buckets("ecs-dl").values():
        s3.put_object(Bucket=bucket, Key="written.txt", Body=b"by the task")
        assert s3.get_object(Bucket=bucket, Key="written.txt")["Body"].read() == b"by the task"
        assert s3.get_object(Bucket=bucket, Key="seed.txt")["Body"].read() == b"seed"
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
        assert {item["Key"] for item in listed} == {"seed.txt", "written.txt"}


def test_the_task_role_is_denied_another_deployments_bucket(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any]
) -> None:
    s3 = as_role(deployments["ecs-dl"]["task"], "s3")
    other = buckets("other-dl")["data"]
    assert error_code(lambda: s3.get_object(Bucket=other, Key="seed.txt")) == "AccessDenied"
    assert error_code(lambda: s3.put_object(Bucket=other, Key="x", Body=b"x")) == "AccessDenied"
    assert error_code(lambda: s3.list_objects_v2(Bucket=other)) == "AccessDenied"
    # Nor anything the policy does not name, even on its own bucket.
    own = buckets("ecs-dl")["data"]
    assert error_code(lambda: s3.delete_object(Bucket=own, Key="seed.txt")) == "AccessDenied"
    assert error_code(lambda: s3.create_bucket(Bucket="ecs-dl-new")) == "AccessDenied"


def test_the_task_role_writes_its_own_log_group_only(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any]
) -> None:
    logs = as_role(deployments["ecs-dl"]["task"], "logs")
    logs.create_log_stream(logGroupName="/ecs/ecs-dl", logStreamName="unit")
    logs.put_log_events(
        logGroupName="/ecs/ecs-dl",
        logStreamName="unit",
        logEvents=[{"timestamp": 1_700_000_000_000, "message": "hello"}],
    )
    denied = error_code(
        lambda: logs.create_log_stream(logGroupName="/ecs/other-dl", logStreamName="unit")
    )
    assert denied == "AccessDeniedException"


def test_the_task_role_reads_no_parameter(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any]
) -> None:
    ssm = as_role(deployments["ecs-dl"]["task"], "ssm")
    denied = error_code(lambda: ssm.get_parameters(Names=["/ecs-dl/jupyter_password_hash"]))
    assert denied == "AccessDeniedException"


def test_the_execution_role_reads_its_deployments_parameters_only(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any]
) -> None:
    ssm = as_role(deployments["ecs-dl"]["execution"], "ssm")
    found = ssm.get_parameters(Names=["/ecs-dl/jupyter_password_hash"], WithDecryption=True)
    assert [p["Value"] for p in found["Parameters"]] == ["argon2:x"]
    other = "/other-dl/jupyter_password_hash"
    assert error_code(lambda: ssm.get_parameters(Names=[other])) == "AccessDeniedException"
    # One name of another deployment among its own: AWS checks each, and refuses the call.
    mixed = ["/ecs-dl/jupyter_password_hash", other]
    assert error_code(lambda: ssm.get_parameters(Names=mixed)) == "AccessDeniedException"
    # By ARN, as a task definition's secrets name them.
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{other}"
    assert error_code(lambda: ssm.get_parameters(Names=[arn])) == "AccessDeniedException"


def test_the_execution_role_ships_logs_with_its_managed_policy(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any]
) -> None:
    logs = as_role(deployments["ecs-dl"]["execution"], "logs")
    logs.create_log_stream(logGroupName="/ecs/ecs-dl", logStreamName="execution")
    logs.put_log_events(
        logGroupName="/ecs/ecs-dl",
        logStreamName="execution",
        logEvents=[{"timestamp": 1_700_000_000_000, "message": "shipped"}],
    )
    s3 = as_role(deployments["ecs-dl"]["execution"], "s3")
    bucket = buckets("ecs-dl")["data"]
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="seed.txt")) == "AccessDenied"


def test_a_wrong_or_unknown_session_token_is_refused(
    endpoint: str, deployments: dict[str, dict[str, str]], admin: Callable[[str], Any]
) -> None:
    credentials = admin("sts").assume_role(
        RoleArn=deployments["ecs-dl"]["task"], RoleSessionName="unit"
    )["Credentials"]
    s3 = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token="not-the-token",
    )
    bucket = buckets("ecs-dl")["data"]
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="seed.txt")) == "InvalidToken"


def test_the_admin_key_stays_unchecked(
    deployments: dict[str, dict[str, str]], admin: Callable[[str], Any]
) -> None:
    del deployments
    s3 = admin("s3")
    assert s3.get_object(Bucket=buckets("other-dl")["data"], Key="seed.txt")["Body"].read()
    found = admin("ssm").get_parameters(Names=["/other-dl/jupyter_password_hash"])
    assert len(found["Parameters"]) == 1
