"""IAM as AWS enforces it on the local target (moto_aws_compat.py fix 13).

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


# -- the local ECS agent's side: task role credentials, the execution role for secrets -------
@pytest.fixture(scope="module")
def agent(agent_module: Any, endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An Agent (no docker) with its credentials endpoint on a free loopback port."""
    import threading

    from tests.conftest import free_port

    made = agent_module.Agent(
        endpoint=endpoint,
        region=REGION,
        agent_id="unit",
        state_dir=tmp_path_factory.mktemp("agent"),
        docker_host="unix:///nonexistent",
        host_ip="127.0.0.1",
        cleanup_wait=1,
        credentials_address="127.0.0.1",
        credentials_port=free_port(),
    )
    made._our_containers = dict  # no dockerd here: the agent has no containers
    # The agent's own clients: the admin key, made before a test takes it from the environment.
    for service in ("sts", "ssm", "ecs"):
        made._clients[service] = boto3.client(
            service,
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    stopping = threading.Event()
    agent_module.credentials_server(made, stopping)
    yield made
    stopping.set()


@pytest.fixture
def agent_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a task container: no static credentials, no profile."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield


def test_a_task_gets_its_roles_credentials_from_the_agents_endpoint(
    agent: Any,
    endpoint: str,
    deployments: dict[str, dict[str, str]],
    agent_environment: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    del agent_environment
    uri = agent.credentials_uri(deployments["ecs-dl"]["task"])
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri)
    session = boto3.Session(region_name=REGION)
    credentials = session.get_credentials()
    assert credentials is not None and credentials.method == "container-role"
    assert credentials.access_key.startswith("ASIA")
    s3 = session.client("s3", endpoint_url=endpoint)
    own, other = buckets("ecs-dl")["models"], buckets("other-dl")["models"]
    s3.put_object(Bucket=own, Key="from-the-endpoint", Body=b"ok")
    assert s3.get_object(Bucket=own, Key="from-the-endpoint")["Body"].read() == b"ok"
    assert error_code(lambda: s3.get_object(Bucket=other, Key="seed.txt")) == "AccessDenied"
    caller = session.client("sts", endpoint_url=endpoint).get_caller_identity()
    assert ":assumed-role/ecs-dl-task/" in caller["Arn"]


def test_the_endpoint_answers_404_for_an_unknown_id(agent: Any) -> None:
    import urllib.error
    import urllib.request

    base = f"http://127.0.0.1:{agent.credentials_port}"
    for path in ("/v2/credentials/00000000-0000-0000-0000-000000000000", "/v2/credentials/", "/"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(base + path, timeout=5)
        assert caught.value.code == 404, path


def test_the_agent_reads_secrets_with_the_execution_role(
    agent: Any, agent_module: Any, deployments: dict[str, dict[str, str]]
) -> None:
    execution = deployments["ecs-dl"]["execution"]
    own = "/ecs-dl/jupyter_password_hash"
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{own}"
    secrets = [{"name": "A", "valueFrom": own}, {"name": "B", "valueFrom": arn}]
    assert agent._secrets(secrets, execution) == {"A": "argon2:x", "B": "argon2:x"}
    other = [{"name": "A", "valueFrom": "/other-dl/jupyter_password_hash"}]
    with pytest.raises(agent_module.SecretsError, match="AccessDeniedException"):
        agent._secrets(other, execution)
    # Without an execution role the agent's own credentials (the admin key here) are used.
    assert agent._secrets(other) == {"A": "argon2:x"}
