"""IAM as AWS enforces it on the local target (moto_aws_compat.py fix 13).

A real moto_launcher.py process on a free port. Two deployments' roles are made from the iam
role's own policy templates (roles/iam/templates), as the role registers them; their
credentials come from STS AssumeRole, as ECS gets them for a task. A request signed with them
is checked against the role's policies; the admin key (`testing`) stays unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import moto_launcher
from tests.iam_policies import render_template, role_settings, task_policy, trust_policy

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
DEPLOYMENTS = ("ecs-dl", "other-dl")
# What each deployment's buckets hold (by bucket kind): the samples and uploads predict reads,
# a served model and its original, a trained checkpoint, a distributed job's rendezvous object.
SEEDED = {
    "input": ["seed.txt", "samples/chelsea.jpg", "uploads/0123-cat.jpg"],
    "output": ["seed.txt", "predictions/earlier.json"],
    "models": [
        "seed.txt",
        "models/m/m-symbol.json",
        "models/m/m-0000.params",
        "models/m/source/m.tflite",
        "trained/digits/mlp-0000.params",
        "trained-dist/digits/mlp-0000.params",
        "jobs/job-1/scheduler.json",
    ],
}


def buckets(deployment: str) -> dict[str, str]:
    """The storage role's buckets (storage_bucket_names) of a deployment, by kind."""
    return {kind: f"{deployment}-{kind}-x" for kind in ("input", "output", "models")}


def task_role(deployment: str, family: str) -> str:
    """A task role's name: <family>-task (the iam role's iam_task_roles)."""
    return f"{deployment}-{family}-task"


FAMILIES = ("jupyter", "predict", "train", "train-dist", "import", "work-archive")


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
    """Both deployments' buckets, log group, parameter and roles, as the iam role makes them
    (its defaults' roles, trust policies and task policies, its execution policy)."""
    iam, s3, ssm, logs = admin("iam"), admin("s3"), admin("ssm"), admin("logs")
    roles: dict[str, dict[str, str]] = {}
    for deployment in DEPLOYMENTS:
        names = buckets(deployment)
        for kind, bucket in names.items():
            s3.create_bucket(Bucket=bucket)
            for key in SEEDED[kind]:
                s3.put_object(Bucket=bucket, Key=key, Body=b"seed")
        group = f"/ecs/{deployment}"
        logs.create_log_group(logGroupName=group)
        ssm.put_parameter(
            Name=f"/{deployment}/jupyter_password_hash", Value="argon2:x", Type="SecureString"
        )
        settings = role_settings(deployment, ACCOUNT, REGION)
        arns = {}
        for role in settings["all_roles"]:
            made = iam.create_role(
                RoleName=role["name"], AssumeRolePolicyDocument=trust_policy(settings, role)
            )
            arns[role["name"]] = made["Role"]["Arn"]
            for managed in role["managed_policies"]:
                iam.attach_role_policy(
                    RoleName=role["name"], PolicyArn=f"arn:aws:iam::aws:policy/{managed}"
                )
        for role in settings["iam_task_roles"]:
            iam.put_role_policy(
                RoleName=role["name"],
                PolicyName=f"{role['name']}-data",
                PolicyDocument=task_policy(settings, role, names, group),
            )
        iam.put_role_policy(
            RoleName=f"{deployment}-task-execution",
            PolicyName=f"{deployment}-task-secrets",
            PolicyDocument=render_template("execution-policy.json.j2", settings),
        )
        roles[deployment] = {
            **{family: arns[task_role(deployment, family)] for family in FAMILIES},
            "execution": arns[f"{deployment}-task-execution"],
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


def test_jupyter_reads_and_writes_its_own_buckets(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any]
) -> None:
    """The data scientist's workspace: every object of the deployment's three buckets."""
    s3 = as_role(deployments["ecs-dl"]["jupyter"], "s3")
    for kind, bucket in buckets("ecs-dl").items():
        s3.put_object(Bucket=bucket, Key="written.txt", Body=b"by the task")
        assert s3.get_object(Bucket=bucket, Key="written.txt")["Body"].read() == b"by the task"
        assert s3.get_object(Bucket=bucket, Key="seed.txt")["Body"].read() == b"seed"
        listed = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
        assert {*SEEDED[kind], "written.txt"} <= listed


# What each task may do, and the attacks it must fail (`other` is another deployment's bucket).
# (family, action, bucket kind, key, allowed)
ACCESS = [
    # predict: the picture and the model in, the result out under predictions/ (predict.yml) or
    # verdicts/ (the uploads' rule), nothing else.
    ("predict", "get", "input", "samples/chelsea.jpg", True),
    ("predict", "get", "input", "uploads/0123-cat.jpg", True),
    ("predict", "get", "models", "models/m/m-symbol.json", True),
    ("predict", "put", "output", "predictions/20260101T000000-cat.jpg.json", True),
    ("predict", "put", "output", "verdicts/uploads/cat.jpg.json", True),  # the uploads' rule
    ("predict", "put", "output", "batches/batch-1/part-000-00000.jsonl", True),  # a batch
    ("predict", "put", "models", "models/m/m-0000.params", False),  # replace the served model
    ("predict", "put", "models", "models/m/m-symbol.json", False),
    ("predict", "put", "models", "jobs/job-1/scheduler.json", False),  # redirect a job's workers
    ("predict", "put", "models", "trained/digits/mlp-0000.params", False),
    ("predict", "put", "input", "samples/chelsea.jpg", False),
    ("predict", "put", "output", "not-predictions/x.json", False),
    ("predict", "get", "other-input", "samples/chelsea.jpg", False),
    ("predict", "get", "other-models", "models/m/m-symbol.json", False),
    ("predict", "put", "other-output", "predictions/x.json", False),
    ("predict", "put", "other-models", "models/m/m-0000.params", False),
    # train, one task: the data in, the checkpoint out under trained/.
    ("train", "get", "input", "samples/chelsea.jpg", True),
    ("train", "put", "models", "trained/digits/mlp-0000.params", True),
    ("train", "put", "models", "models/m/m-0000.params", False),
    ("train", "put", "models", "jobs/job-1/scheduler.json", False),
    ("train", "put", "models", "trained-dist/digits/mlp-0000.params", False),
    ("train", "put", "output", "predictions/x.json", False),
    ("train", "put", "other-models", "trained/digits/mlp-0000.params", False),
    # a distributed job: the rendezvous under jobs/, the checkpoint under trained-dist/.
    ("train-dist", "put", "models", "jobs/job-2/scheduler.json", True),
    ("train-dist", "get", "models", "jobs/job-1/scheduler.json", True),
    ("train-dist", "put", "models", "trained-dist/digits/mlp-0000.params", True),
    ("train-dist", "get", "input", "samples/chelsea.jpg", True),
    ("train-dist", "put", "models", "models/m/m-0000.params", False),
    ("train-dist", "put", "models", "trained/digits/mlp-0000.params", False),
    ("train-dist", "get", "models", "models/m/m-symbol.json", False),
    ("train-dist", "put", "other-models", "jobs/job-1/scheduler.json", False),
    # the model import: the original in, the checkpoint beside it, under models/ only.
    ("import", "get", "models", "models/m/source/m.tflite", True),
    ("import", "put", "models", "models/m/m-0000.params", True),
    ("import", "put", "models", "models/m/m-import.json", True),
    ("import", "put", "models", "jobs/job-1/scheduler.json", False),
    ("import", "put", "models", "trained/digits/mlp-0000.params", False),
    ("import", "get", "input", "samples/chelsea.jpg", False),
    ("import", "put", "output", "predictions/x.json", False),
    ("import", "put", "other-models", "models/m/m-0000.params", False),
    # Jupyter: the whole of its own buckets, none of another deployment's.
    ("jupyter", "put", "models", "models/m/m-0000.params", True),
    ("jupyter", "put", "models", "jobs/job-1/scheduler.json", True),
    ("jupyter", "get", "output", "predictions/earlier.json", True),
    ("jupyter", "get", "other-models", "models/m/m-symbol.json", False),
    ("jupyter", "put", "other-input", "samples/x.jpg", False),
    # teardown's workspace archive: one archive out under work-archives/, nothing read.
    ("work-archive", "put", "output", "work-archives/ecs-dl-work.tar.gz", True),
    ("work-archive", "put", "output", "predictions/x.json", False),
    ("work-archive", "get", "output", "predictions/earlier.json", False),
    ("work-archive", "get", "input", "samples/chelsea.jpg", False),
    ("work-archive", "put", "models", "models/m/m-0000.params", False),
    ("work-archive", "put", "other-output", "work-archives/ecs-dl-work.tar.gz", False),
]


def _bucket(kind: str) -> str:
    deployment, kind = (
        ("other-dl", kind.removeprefix("other-")) if kind.startswith("other-") else ("ecs-dl", kind)
    )
    return buckets(deployment)[kind]


@pytest.mark.parametrize(
    ("family", "action", "kind", "key", "allowed"),
    ACCESS,
    ids=[f"{f}-{a}-{k}-{key}-{'allowed' if ok else 'denied'}" for f, a, k, key, ok in ACCESS],
)
def test_each_task_role_reaches_what_its_task_needs_and_nothing_else(
    deployments: dict[str, dict[str, str]],
    as_role: Callable[[str, str], Any],
    family: str,
    action: str,
    kind: str,
    key: str,
    allowed: bool,
) -> None:
    s3 = as_role(deployments["ecs-dl"][family], "s3")
    bucket = _bucket(kind)

    def call() -> Any:
        if action == "get":
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return s3.put_object(Bucket=bucket, Key=key, Body=b"by the task")

    if allowed:
        call()
    else:
        assert error_code(call) == "AccessDenied"


@pytest.mark.parametrize(
    ("family", "kind"), [("predict", "models"), ("predict", "input"), ("train-dist", "models")]
)
def test_a_missing_object_of_a_bucket_a_task_reads_is_no_such_key(
    deployments: dict[str, dict[str, str]],
    as_role: Callable[[str, str], Any],
    family: str,
    kind: str,
) -> None:
    """ecsdl tells a missing object (NoSuchKey: a model's optional files, a rendezvous not yet
    written) from one it may not read (AccessDenied); S3 says NoSuchKey only to a caller
    allowed to list the bucket."""
    s3 = as_role(deployments["ecs-dl"][family], "s3")
    key = "jobs/none/scheduler.json" if family == "train-dist" else "models/m/none.txt"
    assert error_code(lambda: s3.get_object(Bucket=buckets("ecs-dl")[kind], Key=key)) == "NoSuchKey"


@pytest.mark.parametrize("family", FAMILIES)
def test_no_task_role_reaches_another_deployments_buckets_or_deletes(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any], family: str
) -> None:
    s3 = as_role(deployments["ecs-dl"][family], "s3")
    for other in buckets("other-dl").values():
        assert error_code(lambda b=other: s3.get_object(Bucket=b, Key="seed.txt")) == "AccessDenied"
        assert (
            error_code(lambda b=other: s3.put_object(Bucket=b, Key="x", Body=b"x"))
            == "AccessDenied"
        )
        assert error_code(lambda b=other: s3.list_objects_v2(Bucket=b)) == "AccessDenied"
    # Nor anything the policies do not name, even on its own buckets.
    for own in buckets("ecs-dl").values():
        assert (
            error_code(lambda b=own: s3.delete_object(Bucket=b, Key="seed.txt")) == "AccessDenied"
        )
    assert error_code(lambda: s3.create_bucket(Bucket="ecs-dl-new")) == "AccessDenied"


def test_jupyter_writes_its_own_log_group_only(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any]
) -> None:
    logs = as_role(deployments["ecs-dl"]["jupyter"], "logs")
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


@pytest.mark.parametrize("family", ["predict", "train", "train-dist", "import"])
def test_the_one_shot_tasks_write_no_log(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any], family: str
) -> None:
    """Their output reaches the log group through the execution role (awslogs), not theirs."""
    logs = as_role(deployments["ecs-dl"][family], "logs")
    denied = error_code(
        lambda: logs.create_log_stream(logGroupName="/ecs/ecs-dl", logStreamName=family)
    )
    assert denied == "AccessDeniedException"


@pytest.mark.parametrize("family", FAMILIES)
def test_no_task_role_reads_a_parameter(
    deployments: dict[str, dict[str, str]], as_role: Callable[[str, str], Any], family: str
) -> None:
    ssm = as_role(deployments["ecs-dl"][family], "ssm")
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
    bucket = buckets("ecs-dl")["input"]
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="seed.txt")) == "AccessDenied"


def test_a_wrong_or_unknown_session_token_is_refused(
    endpoint: str, deployments: dict[str, dict[str, str]], admin: Callable[[str], Any]
) -> None:
    credentials = admin("sts").assume_role(
        RoleArn=deployments["ecs-dl"]["predict"], RoleSessionName="unit"
    )["Credentials"]
    s3 = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token="not-the-token",
    )
    bucket = buckets("ecs-dl")["input"]
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="seed.txt")) == "InvalidToken"


def test_the_admin_key_stays_unchecked(
    deployments: dict[str, dict[str, str]], admin: Callable[[str], Any]
) -> None:
    del deployments
    s3 = admin("s3")
    assert s3.get_object(Bucket=buckets("other-dl")["input"], Key="seed.txt")["Body"].read()
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
    uri = agent.credentials_uri(deployments["ecs-dl"]["jupyter"])
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri)
    session = boto3.Session(region_name=REGION)
    credentials = session.get_credentials()
    assert credentials is not None and credentials.method == "container-role"
    assert credentials.access_key.startswith("ASIA")
    s3 = session.client("s3", endpoint_url=endpoint)
    own, other = buckets("ecs-dl")["models"], buckets("other-dl")["models"]
    s3.put_object(Bucket=own, Key="from-the-endpoint", Body=b"ok")
    assert s3.get_object(Bucket=own, Key="from-the-endpoint")["Body"].read() == b"ok"
    assert error_code(lambda b=other: s3.get_object(Bucket=b, Key="seed.txt")) == "AccessDenied"
    caller = session.client("sts", endpoint_url=endpoint).get_caller_identity()
    assert ":assumed-role/ecs-dl-jupyter-task/" in caller["Arn"]


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
