"""The local ECS agent (roles/local_stack/files/ecs_agent.py) runs what ECS placed, as AWS's does.

This module starts its own moto_launcher.py (with moto_aws_compat.py) on a free port and its own
ecs_agent.py, with an agent id of its own, against the local dockerd; it never touches the
default stack. It sets up ECS as a user would, with boto3 (an instance registered in a cluster,
a log group, an SSM SecureString parameter, task definitions), runs tasks, and looks at the
result through describe_tasks, CloudWatch Logs and `docker`. Every container it made, or that
the agent made for it, is removed at the end.

The last test starts a dockerd of its own, as on a machine where dockerd never ran (a new network
namespace, a scratch folder), and an agent and a moto beside it in that namespace (issue 13).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import free_port, moto_launcher

REPO_ROOT = Path(__file__).resolve().parents[2]
FILES = REPO_ROOT / "roles" / "local_stack" / "files"
AGENT = FILES / "ecs_agent.py"
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
BASE_IMAGE = "ecs-dl/debian:bookworm-minbase"
MISSING_IMAGE = "127.0.0.1:1/nope:1"
REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "agent-it"
LOG_GROUP = "/agent-it/tasks"
STREAM_PREFIX = "it"
PARAMETER = "/agent-it/token"
SECRET = "s3cr3t-" + uuid.uuid4().hex[:8]
POLL = 0.5
CLEANUP_WAIT = 2.0
STOP_TIMEOUT = 2
LABEL_AGENT = "ecs-dl.local-agent"
LABEL_TASK = "com.amazonaws.ecs.task-arn"
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
# The uid the tasks run as (the project's: no account of this machine has it).
TASK_USER = "61000"


# -- helpers -------------------------------------------------------------------------------------
def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed: {result.stderr.strip()}", pytrace=False)
    return result


def containers_of_task(task_arn: str) -> list[dict[str, Any]]:
    """`docker inspect` of every container (running or not) labelled with the task's ARN."""
    ids = docker("ps", "-aq", "--filter", f"label={LABEL_TASK}={task_arn}").stdout.split()
    if not ids:
        return []
    # A container removed between ps and inspect is simply not there.
    found = docker("inspect", *ids, check=False).stdout
    return json.loads(found) if found.strip() else []


def container_env(container: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in container["Config"]["Env"] or [])


@dataclass
class AgentProcess:
    """The agent under test: its id (the label of its containers), process and log file."""

    agent_id: str
    process: subprocess.Popen[bytes]
    log: Path
    moto_port: int

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Setup:
    """What the module's cluster is made of."""

    instance_arn: str
    parameter_arn: str


Waiter = Callable[..., Any]


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_image(request: pytest.FixtureRequest) -> str:
    """The offline base image the tasks run (the local stack, which starts dockerd and builds
    the image, is started when either is missing)."""
    running = docker("info", "--format", "{{.ServerVersion}}", check=False).returncode == 0
    if not running or docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        request.getfixturevalue("local_stack")
        if docker("info", "--format", "{{.ServerVersion}}", check=False).returncode != 0:
            pytest.fail("dockerd does not answer after the local stack started", pytrace=False)
        if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
            pytest.fail(f"{BASE_IMAGE} is missing after the local stack started", pytrace=False)
    return BASE_IMAGE


@pytest.fixture(scope="module")
def moto_port() -> Iterator[int]:
    """moto_launcher.py in the foreground on a free port, for this module."""
    with moto_launcher() as port:
        yield port


@pytest.fixture(scope="module")
def aws(moto_port: int) -> Callable[[str], Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return lambda service: session.client(service, endpoint_url=f"http://127.0.0.1:{moto_port}")


@pytest.fixture(scope="module")
def foreign_container(base_image: str) -> Iterator[dict[str, str]]:
    """A container of another local agent, there before ours starts: ours must not touch it."""
    name = f"ecs-dl-it-foreign-{uuid.uuid4().hex[:8]}"
    created = docker(
        "run",
        "-d",
        "--name",
        name,
        "--label",
        f"{LABEL_AGENT}=someone-else",
        "--label",
        f"{LABEL_TASK}=arn:aws:ecs:{REGION}:{ACCOUNT}:task/x/y",
        base_image,
        "sleep",
        "600",
    )
    container_id = created.stdout.strip()
    try:
        started = json.loads(docker("inspect", container_id).stdout)[0]["State"]["StartedAt"]
        yield {"Id": container_id, "StartedAt": started}
    finally:
        docker("rm", "-f", container_id, check=False)


@contextmanager
def running_agent(home: Path, moto_port: int, *options: str) -> Iterator[AgentProcess]:
    """ecs_agent.py against the moto on 127.0.0.1:moto_port, relaying the docker bridge's moto
    port, with `options` added (e.g. --docker-host); its state and log in `home`, its agent id
    `home`. Yields once it logs that it polls; SIGTERM (then SIGKILL) afterwards."""
    agent_id = str(home)  # unique per run: the label of this agent's containers
    log = home / "agent.log"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    env.pop("AWS_PROFILE", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(VENV_PYTHON),
                str(AGENT),
                "--endpoint",
                f"http://127.0.0.1:{moto_port}",
                "--region",
                REGION,
                "--agent-id",
                agent_id,
                "--state-dir",
                str(home / "state"),
                "--poll",
                str(POLL),
                "--cleanup-wait",
                str(CLEANUP_WAIT),
                "--forward-port",
                str(moto_port),
                # The credentials endpoint's address is one per host: a port of this agent's own.
                "--credentials-port",
                str(free_port()),
                *options,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    handle = AgentProcess(agent_id, process, log, moto_port)
    try:
        deadline = time.monotonic() + 20
        while "polling" not in handle.tail():
            if not handle.alive() or time.monotonic() > deadline:
                pytest.fail(f"the ECS agent did not start:\n{handle.tail()}", pytrace=False)
            time.sleep(0.1)
        yield handle
    finally:
        if handle.alive():
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(scope="module")
def agent(
    moto_port: int,
    base_image: str,
    foreign_container: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AgentProcess]:
    """ecs_agent.py against this module's moto and the local dockerd (running_agent)."""
    del base_image, foreign_container  # made before the agent's first poll
    home = tmp_path_factory.mktemp("ecs-agent")
    try:
        with running_agent(home, moto_port) as handle:
            yield handle
    finally:  # once the agent has stopped: it would start a task's container again
        label = f"label={LABEL_AGENT}={home}"
        ours = docker("ps", "-aq", "--filter", label).stdout.split()
        if ours:
            docker("rm", "-f", *ours, check=False)
        networks = docker("network", "ls", "-q", "--filter", label).stdout.split()
        if networks:
            docker("network", "rm", *networks, check=False)


@pytest.fixture
def wait_for(agent: AgentProcess) -> Waiter:
    """wait_for(what, probe, timeout): poll until probe() is truthy; fail with the agent's log."""

    def wait(what: str, probe: Callable[[], Any], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline or not agent.alive():
                state = "running" if agent.alive() else f"exited {agent.process.returncode}"
                pytest.fail(
                    f"timed out after {timeout:.0f} s waiting for {what}; last: {value!r}\n"
                    f"agent ({state}) log tail:\n{agent.tail()}",
                    pytrace=False,
                )
            time.sleep(0.2)

    return wait


def _register_instance(aws: Callable[[str], Any], cluster: str) -> str:
    ec2 = aws("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    document = json.dumps(
        {"instanceId": instance["InstanceId"], "region": REGION, "availabilityZone": "us-east-1a"}
    )
    return aws("ecs").register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=document,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192},
        ],
    )["containerInstance"]["containerInstanceArn"]


@pytest.fixture(scope="module")
def setup(aws: Callable[[str], Any], agent: AgentProcess) -> Setup:
    """A cluster with one container instance, a log group and a SecureString parameter."""
    del agent  # running before anything is placed
    aws("ecs").create_cluster(clusterName=CLUSTER)
    instance_arn = _register_instance(aws, CLUSTER)
    aws("logs").create_log_group(logGroupName=LOG_GROUP)
    aws("ssm").put_parameter(Name=PARAMETER, Value=SECRET, Type="SecureString")
    return Setup(
        instance_arn=instance_arn,
        parameter_arn=f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{PARAMETER}",
    )


def register(
    aws: Callable[[str], Any],
    family: str,
    *,
    network_mode: str = "bridge",
    volumes: list[dict[str, Any]] | None = None,
    **container: Any,
) -> str:
    """A one-container task definition (awslogs to the module's group) with `container`'s keys
    (and the task definition's `volumes`)."""
    spec: dict[str, Any] = {
        "name": "main",
        "image": BASE_IMAGE,
        "essential": True,
        # The agent runs no container without a non-root user (the base image's is root).
        "user": TASK_USER,
        "memoryReservation": 32,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": LOG_GROUP,
                "awslogs-region": REGION,
                "awslogs-stream-prefix": STREAM_PREFIX,
            },
        },
    }
    spec.update(container)
    spec = {key: value for key, value in spec.items() if value is not None}  # None: left out
    return aws("ecs").register_task_definition(
        family=family,
        networkMode=network_mode,
        containerDefinitions=[spec],
        **({"volumes": volumes} if volumes else {}),
    )["taskDefinition"]["taskDefinitionArn"]


def run(aws: Callable[[str], Any], definition: str, cluster: str = CLUSTER, **extra: Any) -> str:
    answer = aws("ecs").run_task(cluster=cluster, taskDefinition=definition, **extra)
    assert answer["tasks"], f"run_task placed nothing: {answer.get('failures')}"
    return answer["tasks"][0]["taskArn"]


def describe(aws: Callable[[str], Any], task_arn: str, cluster: str = CLUSTER) -> dict[str, Any]:
    return aws("ecs").describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]


def status_is(aws: Callable[[str], Any], task_arn: str, status: str, **kw: Any) -> Callable:
    def probe() -> dict[str, Any] | None:
        task = describe(aws, task_arn, **kw)
        return task if task["lastStatus"] == status else None

    return probe


def log_messages(aws: Callable[[str], Any], task_arn: str, container: str = "main") -> list[str]:
    stream = f"{STREAM_PREFIX}/{container}/{task_arn.rsplit('/', 1)[-1]}"
    try:
        events = aws("logs").get_log_events(
            logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True
        )["events"]
    except aws("logs").exceptions.ResourceNotFoundException:
        return []
    return [event["message"] for event in events]


# -- tests ---------------------------------------------------------------------------------------
def test_a_task_runs_in_docker_and_stops_with_its_exit_code(
    aws: Callable[[str], Any], setup: Setup, wait_for: Waiter
) -> None:
    definition = register(
        aws,
        "exits",
        command=["sh", "-c", "echo hello $GREETING; echo secret=$TOKEN; sleep 1; exit 3"],
        environment=[{"name": "GREETING", "value": "world"}],
        secrets=[{"name": "TOKEN", "valueFrom": setup.parameter_arn}],
        memoryReservation=48,
    )
    task_arn = run(aws, definition)
    assert describe(aws, task_arn)["lastStatus"] == "PENDING"

    # The container: made from the definition, labelled as the real agent labels it. Inspected
    # at once: the cleanup wait removes it a few seconds after it exits.
    container = wait_for("the task's container", lambda: containers_of_task(task_arn))[0]
    labels = container["Config"]["Labels"]
    assert labels["com.amazonaws.ecs.cluster"] == CLUSTER
    assert labels["com.amazonaws.ecs.task-arn"] == task_arn
    assert labels["com.amazonaws.ecs.container-name"] == "main"
    assert labels["com.amazonaws.ecs.task-definition-family"] == "exits"
    assert labels["com.amazonaws.ecs.task-definition-version"] == definition.rsplit(":", 1)[1]
    assert container["Config"]["Image"] == BASE_IMAGE
    env = container_env(container)
    assert env["GREETING"] == "world"
    assert env["TOKEN"] == SECRET, "the secret is resolved from SSM into the environment"
    assert container["HostConfig"]["MemoryReservation"] == 48 * 1024 * 1024

    running = wait_for("RUNNING", status_is(aws, task_arn, "RUNNING"))
    assert running["containers"][0]["lastStatus"] == "RUNNING"
    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    assert stopped["containers"][0]["exitCode"] == 3
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["desiredStatus"] == "STOPPED"

    messages = wait_for("the task's output in CloudWatch Logs", lambda: log_messages(aws, task_arn))
    assert messages == ["hello world", f"secret={SECRET}"]


# Capability numbers (linux/capability.h), as bits of /proc/PID/status's Cap* masks
CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_MKNOD = 1 << 10, 1 << 13, 1 << 27
STATUS = "grep -E '^(Uid|Gid|CapBnd|CapEff):' /proc/self/status"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {
                "user": "61000:61000",
                "privileged": False,
                "linuxParameters": {"capabilities": {"drop": ["ALL"]}},
            },
            {
                "User": "61000:61000",
                "CapDrop": ["ALL"],
                "CapAdd": None,
                "ReadonlyRootfs": False,
                "Uid": "61000",
                "CapBnd": 0,  # exactly: ALL dropped
                "CapEff": 0,  # not root: no effective capability
            },
        ),
        (
            {
                "user": "4321",
                "readonlyRootFilesystem": True,
                "linuxParameters": {"capabilities": {"drop": ["NET_RAW", "MKNOD"]}},
            },
            {
                "User": "4321",
                "CapDrop": ["NET_RAW", "MKNOD"],
                "CapAdd": None,
                "ReadonlyRootfs": True,
                "Uid": "4321",
                "lacks": CAP_NET_RAW | CAP_MKNOD,
            },
        ),
    ],
    ids=["non-root-no-capability", "read-only-two-dropped"],
)
def test_the_definitions_user_capabilities_and_read_only_reach_docker(
    aws: Callable[[str], Any],
    setup: Setup,
    wait_for: Waiter,
    settings: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    """user, linuxParameters.capabilities.drop and readonlyRootFilesystem become the
    container's User, CapDrop and ReadonlyRootfs, as the ECS agent makes them, and the process
    inside gets them (uid, capability bounding and effective sets). What the agent refuses
    (privileged, capabilities.add, root) is test_what_would_be_root_on_this_machine_is_refused."""
    del setup
    definition = register(
        aws,
        "security",
        command=["sh", "-c", f"{STATUS}; touch /tmp/written 2>/dev/null || echo read-only"],
        **settings,
    )
    task_arn = run(aws, definition)
    container = wait_for("the task's container", lambda: containers_of_task(task_arn))[0]
    host_config = container["HostConfig"]
    assert container["Config"]["User"] == expected["User"]
    assert host_config["Privileged"] is False
    assert host_config["CapDrop"] == expected["CapDrop"]
    assert host_config["CapAdd"] == expected["CapAdd"]
    assert host_config["ReadonlyRootfs"] is expected["ReadonlyRootfs"]

    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    messages = wait_for("the output", lambda: log_messages(aws, task_arn))
    assert stopped["containers"][0]["exitCode"] == 0, messages
    status = {
        key: value.split()[0] for key, _, value in (m.partition(":") for m in messages) if value
    }
    assert status["Uid"] == expected["Uid"], messages
    bounding, effective = int(status["CapBnd"], 16), int(status["CapEff"], 16)
    if "CapBnd" in expected:
        assert bounding == expected["CapBnd"], messages
        assert effective == expected["CapEff"], messages
    if "lacks" in expected:
        assert bounding & expected["lacks"] == 0 and effective & expected["lacks"] == 0, messages
        assert bounding != 0, "only the two were to be dropped"
        assert effective == 0, "not root: no effective capability"
    assert ("read-only" in messages) is expected["ReadonlyRootfs"], messages


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"privileged": True, "user": "0"}, "ECS_DISABLE_PRIVILEGED=true"),
        ({"linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}}, "SYS_ADMIN"),
        ({"user": "0"}, "is root"),
        ({"user": "root:root"}, "is root"),
        ({"user": None}, "names no user"),
    ],
    ids=["privileged-root", "cap-add-sys-admin", "uid-0", "root", "no-user"],
)
def test_what_would_be_root_on_this_machine_is_refused(
    aws: Callable[[str], Any],
    setup: Setup,
    wait_for: Waiter,
    settings: dict[str, Any],
    reason: str,
) -> None:
    """The attack of issue 15: a definition registered through the local endpoint (anyone on
    the machine, any container through the relay, can) asks for privileged, a capability or
    root, and RunTask. The agent stops the task with the reason and creates no container."""
    del setup
    definition = register(aws, "attack", command=["id"], **settings)
    task_arn = run(aws, definition)
    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    assert reason in stopped.get("stoppedReason", ""), stopped
    assert stopped["stoppedReason"].startswith("CannotStartContainerError"), stopped
    assert not containers_of_task(task_arn), "a container was made for a refused task"


def test_a_long_running_task_publishes_its_port_on_loopback_and_is_stopped(
    aws: Callable[[str], Any], setup: Setup, wait_for: Waiter
) -> None:
    del setup
    host_port = free_port()
    definition = register(
        aws,
        "serves",
        command=["sleep", "600"],
        portMappings=[{"containerPort": 8080, "hostPort": host_port, "protocol": "tcp"}],
        stopTimeout=STOP_TIMEOUT,
    )
    task_arn = run(aws, definition)
    running = wait_for("RUNNING", status_is(aws, task_arn, "RUNNING"))
    bindings = running["containers"][0]["networkBindings"]
    assert [(b["bindIP"], b["hostPort"], b["containerPort"]) for b in bindings] == [
        ("127.0.0.1", host_port, 8080)
    ]

    container = containers_of_task(task_arn)[0]
    assert container["State"]["Running"]
    published = container["NetworkSettings"]["Ports"]["8080/tcp"]
    assert published == [{"HostIp": "127.0.0.1", "HostPort": str(host_port)}], (
        "published on loopback only"
    )

    aws("ecs").stop_task(cluster=CLUSTER, task=task_arn, reason="the test is done with it")
    asked = time.monotonic()
    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"), timeout=STOP_TIMEOUT + 10)
    took = time.monotonic() - asked
    assert took < STOP_TIMEOUT + 4, f"stopTimeout {STOP_TIMEOUT} s, stopped after {took:.1f} s"
    assert stopped["containers"][0]["exitCode"] in (137, 143)
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "the test is done with it"
    left = containers_of_task(task_arn)
    assert all(not c["State"]["Running"] for c in left), "the container is stopped"


def test_a_command_override_is_what_the_container_runs(
    aws: Callable[[str], Any], setup: Setup, wait_for: Waiter
) -> None:
    del setup
    definition = register(aws, "overridden", command=["sh", "-c", "echo from-the-definition"])
    override = ["sh", "-c", "echo from-the-override; exit 7"]
    task_arn = run(
        aws,
        definition,
        overrides={"containerOverrides": [{"name": "main", "command": override}]},
    )
    container = wait_for("the task's container", lambda: containers_of_task(task_arn))[0]
    assert container["Config"]["Cmd"] == override
    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    assert stopped["containers"][0]["exitCode"] == 7
    assert wait_for("the output", lambda: log_messages(aws, task_arn)) == ["from-the-override"]


def test_an_image_that_cannot_be_pulled_stops_the_task(
    aws: Callable[[str], Any], setup: Setup, wait_for: Waiter
) -> None:
    del setup
    definition = register(aws, "unpullable", image=MISSING_IMAGE, command=["true"])
    task_arn = run(aws, definition)
    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"), timeout=60)
    reasons = f"{stopped['containers'][0].get('reason', '')} {stopped.get('stoppedReason', '')}"
    assert "CannotPullContainerError" in reasons
    assert "exitCode" not in stopped["containers"][0]
    assert containers_of_task(task_arn) == []


def test_the_container_of_a_stopped_task_is_removed_after_the_cleanup_wait(
    aws: Callable[[str], Any], setup: Setup, wait_for: Waiter
) -> None:
    del setup
    definition = register(aws, "short", command=["sh", "-c", "exit 0"])
    task_arn = run(aws, definition)
    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    assert stopped["containers"][0]["exitCode"] == 0
    seen = time.monotonic()
    assert containers_of_task(task_arn), "the exited container is kept for the cleanup wait"
    wait_for(
        "the container's removal",
        lambda: containers_of_task(task_arn) == [],
        timeout=CLEANUP_WAIT + 10,
    )
    assert time.monotonic() - seen >= CLEANUP_WAIT - 1.5, "removed before the cleanup wait"


@pytest.mark.parametrize(
    "delete_cluster", [False, True], ids=["instance-deregistered", "then-cluster-deleted"]
)
def test_a_container_whose_task_ecs_no_longer_knows_is_removed(
    aws: Callable[[str], Any], setup: Setup, wait_for: Waiter, delete_cluster: bool
) -> None:
    """The instance goes (a terminated Spot instance), maybe its cluster too: so does the container.

    (On AWS a cluster with a registered instance cannot be deleted, hence deregister first.)
    """
    del setup
    ecs = aws("ecs")
    cluster = f"agent-it-doomed-{uuid.uuid4().hex[:6]}"
    ecs.create_cluster(clusterName=cluster)
    instance_arn = _register_instance(aws, cluster)
    definition = register(aws, "doomed", command=["sleep", "600"], stopTimeout=STOP_TIMEOUT)
    task_arn = run(aws, definition, cluster=cluster)
    wait_for("RUNNING", status_is(aws, task_arn, "RUNNING", cluster=cluster))
    assert containers_of_task(task_arn)[0]["State"]["Running"]

    ecs.deregister_container_instance(cluster=cluster, containerInstance=instance_arn, force=True)
    if delete_cluster:
        ecs.delete_cluster(cluster=cluster)
    wait_for(
        "the removal of the container of a task ECS no longer knows",
        lambda: containers_of_task(task_arn) == [],
        timeout=10,
    )
    assert describe(aws, task_arn, cluster=cluster)["lastStatus"] == "STOPPED"


def test_a_task_whose_container_cannot_start_leaves_no_container(
    aws: Callable[[str], Any], setup: Setup, wait_for: Waiter
) -> None:
    del setup
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        definition = register(
            aws,
            "port-taken",
            command=["sleep", "600"],
            portMappings=[{"containerPort": 8080, "hostPort": port}],
        )
        task_arn = run(aws, definition)
        stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    reasons = f"{stopped['containers'][0].get('reason', '')} {stopped.get('stoppedReason', '')}"
    assert "CannotStartContainerError" in reasons
    assert "already" in reasons, f"the reason does not say why: {reasons}"
    time.sleep(CLEANUP_WAIT + 3 * POLL)
    left = [(c["Name"], c["State"]["Status"]) for c in containers_of_task(task_arn)]
    assert left == [], "a container that never started is left in dockerd"


def test_a_service_task_that_dies_is_replaced(
    aws: Callable[[str], Any], setup: Setup, wait_for: Waiter
) -> None:
    """The scheduler (moto_aws_compat) and the agent together: a killed container comes back."""
    del setup
    ecs = aws("ecs")
    definition = register(aws, "service", command=["sleep", "600"], stopTimeout=STOP_TIMEOUT)
    ecs.create_service(
        cluster=CLUSTER, serviceName="svc", taskDefinition=definition, desiredCount=1
    )

    def service_task() -> list[str]:
        return ecs.list_tasks(cluster=CLUSTER, serviceName="svc")["taskArns"]

    try:
        first = wait_for("the service's task", service_task)[0]
        wait_for("RUNNING", status_is(aws, first, "RUNNING"))
        docker("kill", containers_of_task(first)[0]["Id"])
        stopped = wait_for("the killed task STOPPED", status_is(aws, first, "STOPPED"))
        assert stopped["containers"][0]["exitCode"] == 137
        second = wait_for("a replacement task", lambda: [a for a in service_task() if a != first])[
            0
        ]
        wait_for("the replacement RUNNING", status_is(aws, second, "RUNNING"))
        assert containers_of_task(second)[0]["State"]["Running"]
    finally:
        ecs.update_service(cluster=CLUSTER, service="svc", desiredCount=0)
        ecs.delete_service(cluster=CLUSTER, service="svc")
    wait_for(
        "the deleted service's container stopped",
        lambda: all(not c["State"]["Running"] for c in containers_of_task(second)),
    )


def test_a_task_reaches_moto_through_host_docker_internal(
    aws: Callable[[str], Any], setup: Setup, agent: AgentProcess, wait_for: Waiter
) -> None:
    del setup
    probe = docker("run", "--rm", BASE_IMAGE, "sh", "-c", "command -v bash", check=False)
    if probe.returncode != 0:
        pytest.skip(f"{BASE_IMAGE} has no bash to make an HTTP request with")
    port = agent.moto_port
    definition = register(
        aws,
        "calls-home",
        command=[
            "bash",
            "-c",
            # The AWS APIs (S3's ListBuckets at /), then a control path, which is refused.
            f"for path in / /moto-api/data.json; do "
            f"exec 3<>/dev/tcp/host.docker.internal/{port} && "
            "printf 'GET %s HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' $path >&3 && head -1 <&3; "
            "done",
        ],
        extraHosts=[{"hostname": "host.docker.internal", "ipAddress": "host-gateway"}],
    )
    task_arn = run(aws, definition)
    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    messages = wait_for("the output", lambda: log_messages(aws, task_arn))
    assert stopped["containers"][0]["exitCode"] == 0, messages
    assert messages[0].startswith("HTTP/1.") and " 200 " in messages[0], messages
    assert len(messages) == 2 and " 403 " in messages[1], messages


def _role(aws: Callable[[str], Any], name: str, policy: dict[str, Any]) -> str:
    """A role trusted by ecs-tasks.amazonaws.com with one inline policy; its ARN."""
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
    iam = aws("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return str(arn)


# bash only (the base image has no curl): GET $AWS_CONTAINER_CREDENTIALS_FULL_URI, print the body.
FETCH_CREDENTIALS = (
    "uri=${AWS_CONTAINER_CREDENTIALS_FULL_URI:?no credentials URI}; rest=${uri#http://}; "
    "hostport=${rest%%/*}; exec 3<>/dev/tcp/${hostport%:*}/${hostport#*:} && "
    'printf "GET /${rest#*/} HTTP/1.0\r\nHost: x\r\n\r\n" >&3 && '
    "sed -n '$p' <&3; echo"
)


def test_a_task_gets_its_task_roles_credentials_from_the_agent(
    aws: Callable[[str], Any], setup: Setup, agent: AgentProcess, wait_for: Waiter
) -> None:
    del setup
    probe = docker("run", "--rm", BASE_IMAGE, "sh", "-c", "command -v bash", check=False)
    if probe.returncode != 0:
        pytest.fail(f"{BASE_IMAGE} has no bash to make an HTTP request with", pytrace=False)
    role = _role(
        aws,
        "agent-it-task",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
        },
    )
    spec: dict[str, Any] = {
        "name": "main",
        "image": BASE_IMAGE,
        "essential": True,
        # The agent runs no container without a non-root user (the base image's is root).
        "user": TASK_USER,
        "memoryReservation": 32,
        "command": ["bash", "-c", FETCH_CREDENTIALS],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": LOG_GROUP,
                "awslogs-region": REGION,
                "awslogs-stream-prefix": STREAM_PREFIX,
            },
        },
    }
    definition = aws("ecs").register_task_definition(
        family="with-task-role", taskRoleArn=role, containerDefinitions=[spec]
    )["taskDefinition"]["taskDefinitionArn"]
    task_arn = run(aws, definition)
    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    messages = wait_for("the output", lambda: log_messages(aws, task_arn))
    assert stopped["containers"][0]["exitCode"] == 0, messages
    answer = json.loads(messages[0])
    assert answer["RoleArn"] == role
    assert answer["AccessKeyId"].startswith("ASIA") and answer["Token"], answer.keys()
    # They are the role's: moto (fix 9) lets them list buckets and nothing else.
    s3 = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{agent.moto_port}",
        aws_access_key_id=answer["AccessKeyId"],
        aws_secret_access_key=answer["SecretAccessKey"],
        aws_session_token=answer["Token"],
    )
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.create_bucket(Bucket="agent-it-not-allowed")
    # The URI is from 169.254.170.2 (ECS's address), and a task without a role gets none.
    environment = container_env(containers_of_task(task_arn)[0])
    assert environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://169.254.170.2:")
    plain = run(aws, register(aws, "without-task-role", command=["true"]))
    wait_for("STOPPED", status_is(aws, plain, "STOPPED"))
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in container_env(containers_of_task(plain)[0])


def test_secrets_the_execution_role_may_not_read_stop_the_task(
    aws: Callable[[str], Any], setup: Setup, agent: AgentProcess, wait_for: Waiter
) -> None:
    del agent
    other = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/elsewhere/*"
    role = _role(
        aws,
        "agent-it-execution",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": other}],
        },
    )
    spec: dict[str, Any] = {
        "name": "main",
        "image": BASE_IMAGE,
        "essential": True,
        # The agent runs no container without a non-root user (the base image's is root).
        "user": TASK_USER,
        "memoryReservation": 32,
        "command": ["true"],
        "secrets": [{"name": "TOKEN", "valueFrom": setup.parameter_arn}],
    }
    definition = aws("ecs").register_task_definition(
        family="secret-not-allowed", executionRoleArn=role, containerDefinitions=[spec]
    )["taskDefinition"]["taskDefinitionArn"]
    task_arn = run(aws, definition)
    stopped = wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    reasons = f"{stopped['containers'][0].get('reason', '')} {stopped.get('stoppedReason', '')}"
    assert "ResourceInitializationError" in reasons and "AccessDeniedException" in reasons, reasons
    assert not containers_of_task(task_arn)


def test_an_efs_volume_keeps_one_tasks_files_for_the_next(
    aws: Callable[[str], Any], agent: AgentProcess, setup: Setup, wait_for: Waiter
) -> None:
    """The Jupyter task's volume (EFS through an access point) on the local target: what one
    task's container writes in it, a second task's container reads back byte for byte; a
    readOnly mount point writes nothing; the folder goes once the file system is deleted."""
    del setup
    efs, ec2 = aws("efs"), aws("ec2")
    token = f"agent-it-efs-{uuid.uuid4().hex[:6]}"
    file_system = efs.create_file_system(CreationToken=token, Encrypted=True)["FileSystemId"]
    vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.62.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=token, Description="NFS", VpcId=vpc)["GroupId"]
    target = efs.create_mount_target(
        FileSystemId=file_system, SubnetId=subnet, SecurityGroups=[group]
    )["MountTargetId"]
    uid = int(TASK_USER)
    access_point = efs.create_access_point(
        ClientToken=token,
        FileSystemId=file_system,
        PosixUser={"Uid": uid, "Gid": uid},
        RootDirectory={
            "Path": "/notebooks",
            "CreationInfo": {"OwnerUid": uid, "OwnerGid": uid, "Permissions": "0755"},
        },
    )["AccessPointId"]
    volume = {
        "name": "work",
        "efsVolumeConfiguration": {
            "fileSystemId": file_system,
            "transitEncryption": "ENABLED",
            "authorizationConfig": {"accessPointId": access_point, "iam": "ENABLED"},
        },
    }
    work = "/home/jovyan/work"

    def task(family: str, command: str, read_only: bool = False) -> tuple[dict[str, Any], str]:
        definition = register(
            aws,
            family,
            command=["sh", "-c", command],
            volumes=[volume],
            mountPoints=[{"sourceVolume": "work", "containerPath": work, "readOnly": read_only}],
        )
        task_arn = run(aws, definition)
        return wait_for("STOPPED", status_is(aws, task_arn, "STOPPED")), task_arn

    content = f"notebook-{uuid.uuid4().hex}"
    written, _ = task("efs-writer", f"printf %s {content} > {work}/note.txt")
    assert written["containers"][0].get("exitCode") == 0, written.get("stoppedReason")
    read, read_arn = task("efs-reader", f"cat {work}/note.txt")
    assert read["containers"][0].get("exitCode") == 0, read.get("stoppedReason")
    assert wait_for("the output", lambda: log_messages(aws, read_arn)) == [content]

    _, refused_arn = task("efs-read-only", f"echo x > {work}/other.txt || echo refused", True)
    assert "refused" in wait_for("the output", lambda: log_messages(aws, refused_arn))

    folder = Path(agent.agent_id) / "state" / "efs" / file_system
    assert (folder / "notebooks" / "note.txt").read_bytes() == content.encode()
    assert not (folder / "notebooks" / "other.txt").exists()
    assert (folder / "notebooks").stat().st_uid == uid

    efs.delete_access_point(AccessPointId=access_point)
    efs.delete_mount_target(MountTargetId=target)
    efs.delete_file_system(FileSystemId=file_system)
    wait_for("the file system's folder to go", lambda: not folder.exists(), timeout=10)


def test_a_host_mode_task_is_on_a_network_of_this_agent_and_cluster(
    aws: Callable[[str], Any], setup: Setup, agent: AgentProcess, wait_for: Waiter
) -> None:
    """networkMode host (the distributed training's) puts the container on a docker network of
    the cluster's own and this agent's: not on another local stack's network for a cluster of
    the same name, nor lost to one whose name begins the same (docker's name filter matches
    substrings)."""
    del setup
    ours = f"ecs-local-{CLUSTER}-{hashlib.sha256(agent.agent_id.encode()).hexdigest()[:8]}"
    foreign = [f"ecs-local-{CLUSTER}", f"{ours}-other"]
    for name in foreign:
        docker(
            "network",
            "create",
            "--label",
            f"{LABEL_AGENT}=someone-else",
            "--label",
            f"{LABEL_CLUSTER}={CLUSTER}",
            name,
        )
    try:
        definition = register(
            aws, "host-mode", network_mode="host", command=["sleep", "30"], stopTimeout=STOP_TIMEOUT
        )
        task_arn = run(aws, definition)
        container = wait_for("the task's container", lambda: containers_of_task(task_arn))[0]
        assert list(container["NetworkSettings"]["Networks"]) == [ours], agent.tail()
        network = json.loads(docker("network", "inspect", ours).stdout)[0]
        assert network["Labels"] == {LABEL_AGENT: agent.agent_id, LABEL_CLUSTER: CLUSTER}
        aws("ecs").stop_task(cluster=CLUSTER, task=task_arn)
        wait_for("STOPPED", status_is(aws, task_arn, "STOPPED"))
    finally:
        docker("network", "rm", *foreign, check=False)


def test_the_containers_of_another_agent_are_left_alone(
    foreign_container: dict[str, str], agent: AgentProcess
) -> None:
    """Made before the agent started, labelled with another agent id and an unknown task."""
    time.sleep(4 * POLL)  # a few polls more, even when this test runs alone
    assert agent.alive(), agent.tail()
    found = docker("inspect", foreign_container["Id"], check=False)
    assert found.returncode == 0, f"another agent's container was removed:\n{agent.tail()}"
    state = json.loads(found.stdout)[0]["State"]
    assert state["Status"] == "running", f"another agent's container was stopped: {state}"
    assert state["StartedAt"] == foreign_container["StartedAt"], "it was restarted"


# -- a fresh machine's dockerd -------------------------------------------------------------------
CLONE_NEWNET = 0x40000000  # <sched.h>
LIBC = ctypes.CDLL(None, use_errno=True)
GATEWAY_SOURCE = "the gateway of the bridge network's IPAM config"


def _setns(fd: int, what: str) -> None:
    if LIBC.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns into {what}: {os.strerror(error)}")


@contextmanager
def inside(netns: str) -> Iterator[None]:
    """This thread in network namespace `netns` (of `ip netns add`), then back in its own: the
    sockets it opens and the processes it starts meanwhile are in `netns`."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            _setns(target, netns)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own, "the test's own network namespace")
    finally:
        os.close(own)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"ip {' '.join(args)} failed: {result.stderr.strip()}", pytrace=False)
    return result


@dataclass
class ScratchDockerd:
    """A dockerd of the test's own, in a network namespace of its own."""

    netns: str
    host: str  # unix://<scratch>/docker.sock
    version: str
    had_docker0: bool  # the namespace had a docker0 before this dockerd started
    bridge: dict[str, Any]  # `docker network inspect bridge`, as it first answered


def _stop_dockerd(process: subprocess.Popen[bytes], scratch: Path) -> None:
    """SIGTERM (SIGKILL after 30 s) to dockerd, then SIGKILL to the containerd it started if
    that outlived it (it is found by its PID file and its command line, under `scratch`)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    pidfile = scratch / "exec" / "containerd" / "containerd.pid"
    try:
        pid = int(pidfile.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(scratch).encode() in command:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def fresh_dockerd() -> Iterator[ScratchDockerd]:
    """dockerd started as on a machine where it never ran: in a new network namespace (no
    docker0 exists there yet) and a private mount namespace, with its own --data-root,
    --exec-root, --pidfile, socket and (empty) --config-file in a scratch folder; it never
    touches the machine's dockerd. Stopped, the namespace deleted and the folder removed
    afterwards, on failure too. Needs root, as CI has: without it the test fails."""
    if os.geteuid() != 0:
        pytest.fail(
            "this test starts a dockerd in a network namespace of its own: it needs root "
            f"(uid {os.geteuid()}); CI runs the tests as root",
            pytrace=False,
        )
    missing = [tool for tool in ("ip", "nsenter", "unshare", "dockerd") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"missing on PATH: {', '.join(missing)}", pytrace=False)
    tag = f"ecsdl-br-{uuid.uuid4().hex[:8]}"
    # In /tmp, not pytest's deeper tmp_path: the containerd that dockerd starts listens on
    # <exec-root>/containerd/containerd.sock, and a unix socket's path has 107 bytes at most.
    scratch = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir="/tmp"))
    log = scratch / "dockerd.log"
    host = f"unix://{scratch}/docker.sock"
    process: subprocess.Popen[bytes] | None = None
    created = False
    try:
        ip("netns", "add", tag)
        created = True
        ip("-n", tag, "link", "set", "lo", "up")
        had_docker0 = ip("-n", tag, "link", "show", "docker0", check=False).returncode == 0
        (scratch / "daemon.json").write_text("{}\n")  # not the machine's /etc/docker/daemon.json
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    "nsenter",
                    f"--net=/run/netns/{tag}",
                    # A copy of the machine's mounts (cgroups included, which `ip netns exec`
                    # hides): whatever dockerd mounts stays in it and goes with it.
                    "unshare",
                    "--mount",
                    "--propagation",
                    "slave",
                    "dockerd",
                    "--config-file",
                    str(scratch / "daemon.json"),
                    "--data-root",
                    str(scratch / "data"),
                    "--exec-root",
                    str(scratch / "exec"),
                    "--pidfile",
                    str(scratch / "dockerd.pid"),
                    # Namespaces of its own in a system containerd (/run/containerd), should
                    # it find one that the machine's dockerd uses too.
                    "--containerd-namespace",
                    tag,
                    "--containerd-plugins-namespace",
                    f"{tag}-plugins",
                    "-H",
                    host,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while docker("-H", host, "version", check=False).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                pytest.fail(f"the scratch dockerd did not answer on {host}:\n{tail}", pytrace=False)
            time.sleep(0.3)
        version = docker("-H", host, "version", "--format", "{{.Server.Version}}").stdout.strip()
        bridge = json.loads(docker("-H", host, "network", "inspect", "bridge").stdout)[0]
        yield ScratchDockerd(tag, host, version, had_docker0, bridge)
    finally:
        if process is not None:
            _stop_dockerd(process, scratch)
        if created:
            ip("netns", "delete", tag, check=False)
        shutil.rmtree(scratch, ignore_errors=True)


def test_the_agent_relays_on_the_bridge_of_a_dockerd_started_where_none_ran(
    fresh_dockerd: ScratchDockerd,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 13: Debian 12's dockerd 20.10, started where docker0 never existed, names no
    gateway for the bridge (IPAM Config [{"Subnet": "172.17.0.0/16"}]); the agent relays on the
    bridge's own address all the same, and a connection there reaches moto. moto, the agent
    and the connection are in the scratch dockerd's network namespace, as on that machine."""
    config = fresh_dockerd.bridge["IPAM"]["Config"]
    shape = f"dockerd {fresh_dockerd.version}, bridge IPAM Config {json.dumps(config)}"
    with capsys.disabled():  # the shape this machine's dockerd gave, in every run's output
        print(f"\nscratch {shape}")
    assert not fresh_dockerd.had_docker0, "the new network namespace had a docker0 already"
    gateways = [entry["Gateway"] for entry in config or [] if "." in entry.get("Gateway", "")]
    if fresh_dockerd.version.startswith("20.10."):
        # Newer dockerds may name the gateway even here; the agent must use it then (below).
        assert not gateways, f"not the fresh-machine shape of issue 13: {shape}"
    addresses = json.loads(
        ip("-n", fresh_dockerd.netns, "-j", "-4", "addr", "show", "docker0").stdout
    )
    docker0 = [info["local"] for link in addresses for info in link["addr_info"]]
    home = tmp_path_factory.mktemp("fresh-bridge-agent")
    pidfile = home / "agent.pid"
    options = ("--docker-host", fresh_dockerd.host, "--pidfile", str(pidfile))
    with inside(fresh_dockerd.netns), moto_launcher() as moto_port:
        with running_agent(home, moto_port, *options) as agent:
            assert pidfile.read_text().strip() == str(agent.process.pid), agent.tail()
            found = re.search(r"the docker bridge's address is (\S+), (.+)", agent.tail())
            assert found, f"the agent did not say which address it relays:\n{agent.tail()}"
            address, source = found.groups()
            assert [address] == docker0[:1], f"{shape}\n{agent.tail()}"
            if gateways:
                assert source == GATEWAY_SOURCE, f"{shape}\n{agent.tail()}"
            else:
                assert source.startswith("the address of docker0"), f"{shape}\n{agent.tail()}"
            # moto's answer through the relay: a cluster made on loopback is listed there.
            session = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
            )
            direct = session.client("ecs", endpoint_url=f"http://127.0.0.1:{moto_port}")
            relayed = session.client("ecs", endpoint_url=f"http://{address}:{moto_port}")
            arn = direct.create_cluster(clusterName="fresh-bridge")["cluster"]["clusterArn"]
            assert arn in relayed.list_clusters()["clusterArns"], agent.tail()
            assert agent.alive(), agent.tail()
