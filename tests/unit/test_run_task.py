"""The run_task role stops a task its wait gives up on (predict.yml, train.yml, the model's
conversion): left running, it went on using its instance's memory and CPU with no one waiting.

Against the local target's moto (moto_launcher.py on a free port, which leaves a task PENDING
until its agent reports, as ECS does), with tests/integration/playbooks/run_task.yml: a task
that never starts, and one whose stand-in agent runs it until it is told to stop.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import moto_launcher
from tests.integration.conftest import failure_message
from tests.unit.conftest import join_instances, moto_client

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "tests" / "integration" / "playbooks" / "run_task.yml"
CLUSTER = "run-task"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def ecs(endpoint: str) -> Any:
    """A cluster with one container instance and the `slow` task definition."""
    ec2, ecs = moto_client("ec2", endpoint), moto_client("ecs", endpoint)
    join_instances(ec2, ecs, CLUSTER, count=1, cpu=2048, memory=4096)
    ecs.register_task_definition(
        family="slow",
        containerDefinitions=[
            {"name": "predict", "image": "example/slow:1", "memory": 256, "memoryReservation": 128}
        ],
    )
    return ecs


def run_task(endpoint: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOK),
         "-e", f"aws_endpoint_url={endpoint}", "-e", f"run_task_cluster={CLUSTER}",
         "-e", "run_task_definition=slow", "-e", "run_task_container=predict",
         "-e", "run_task_started_by=unit-run-task", "-e", "run_task_log_wait=1", *extra],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO_ROOT, env=env,
    )  # fmt: skip


def the_task(ecs: Any, message: str) -> dict[str, Any]:
    found = re.search(r"The predict task ([0-9a-f-]+) ", message)
    assert found, message
    return ecs.describe_tasks(cluster=CLUSTER, tasks=[found.group(1)])["tasks"][0]


def test_a_task_that_never_starts_is_stopped_when_the_wait_gives_up(
    endpoint: str, ecs: Any
) -> None:
    result = run_task(endpoint, "-e", "run_task_wait_timeout=2")
    assert result.returncode != 0, result.stdout[-3000:]
    message = failure_message(result.stdout)
    assert re.fullmatch(
        r"The predict task [0-9a-f-]+ was not done within 2 s \(run_task_wait_timeout\): "
        r"it was stopped\.",
        message,
    ), message
    task = the_task(ecs, message)
    assert (task["lastStatus"], task["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert task["stoppedReason"] == "ecs-deep-learning: not done within 2 s (run_task_wait_timeout)"


class StandInAgent(threading.Thread):
    """Runs each task of the cluster (reports RUNNING) and, when `obey` is set, stops it when
    ECS wants it stopped (reports STOPPED, exit code 143), as the ECS agent does."""

    def __init__(self, ecs: Any, obey: bool) -> None:
        super().__init__(daemon=True)
        self.ecs, self.obey = ecs, obey
        self.done = threading.Event()

    def report(self, task: dict[str, Any], status: str) -> None:
        change: dict[str, Any] = {"containerName": "predict", "status": status}
        if status == "STOPPED":
            change["exitCode"] = 143
        self.ecs.submit_task_state_change(
            cluster=CLUSTER, task=task["taskArn"], status=status, containers=[change]
        )

    def run(self) -> None:
        while not self.done.wait(0.2):
            arns = self.ecs.list_tasks(cluster=CLUSTER, startedBy="unit-run-task")["taskArns"]
            arns += self.ecs.list_tasks(
                cluster=CLUSTER, startedBy="unit-run-task", desiredStatus="STOPPED"
            )["taskArns"]
            if not arns:
                continue
            for task in self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]:
                if task["lastStatus"] == "PENDING" and task["desiredStatus"] == "RUNNING":
                    self.report(task, "RUNNING")
                elif (
                    self.obey
                    and task["lastStatus"] == "RUNNING"
                    and task["desiredStatus"] == "STOPPED"
                ):
                    self.report(task, "STOPPED")


@pytest.mark.parametrize(
    ("obey", "ending"),
    [(True, "it was stopped."), (False, "StopTask was sent, and it is stopping.")],
    ids=["stops", "still-stopping"],
)
def test_a_running_task_is_stopped_when_the_wait_gives_up(
    endpoint: str, ecs: Any, obey: bool, ending: str
) -> None:
    agent = StandInAgent(ecs, obey)
    agent.start()
    try:
        result = run_task(endpoint, "-e", "run_task_wait_timeout=3", "-e", "run_task_stop_wait=3")
    finally:
        agent.done.set()
        agent.join(10)
    assert result.returncode != 0, result.stdout[-3000:]
    message = failure_message(result.stdout)
    assert message.endswith(f"was not done within 3 s (run_task_wait_timeout): {ending}"), message
    task = the_task(ecs, message)
    assert task["desiredStatus"] == "STOPPED"
    assert task["lastStatus"] == ("STOPPED" if obey else "RUNNING")
    assert task["stoppedReason"] == "ecs-deep-learning: not done within 3 s (run_task_wait_timeout)"
    if not obey:  # what an agent would do at last
        agent.report(task, "STOPPED")


def test_a_task_done_in_time_is_not_stopped(endpoint: str, ecs: Any) -> None:
    """The wait succeeds: nothing is stopped, and the exit code decides (0 here)."""

    class Quick(StandInAgent):
        def report(self, task: dict[str, Any], status: str) -> None:
            change = {"containerName": "predict", "status": "STOPPED", "exitCode": 0}
            self.ecs.submit_task_state_change(
                cluster=CLUSTER, task=task["taskArn"], status="STOPPED", containers=[change]
            )

    agent = Quick(ecs, obey=False)
    agent.start()
    try:
        result = run_task(endpoint, "-e", "run_task_wait_timeout=30")
    finally:
        agent.done.set()
        agent.join(10)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Stop the task the wait gave up on" not in result.stdout
