"""The dist_train role when a job fails: a process that dies, or a job that runs out of time.
It stops every task of the job, waits until all of it has stopped, and fails saying what went
wrong, with the failed process's last log lines.

Against the local target's moto (moto_launcher.py on a free port, which leaves a task PENDING
until its agent reports and leaves a task told to stop to its agent, as ECS does), with
tests/integration/playbooks/dist_train.yml and a stand-in agent thread that runs the job's
tasks, stops those ECS wants stopped, and kills a worker when told to.
(tests/integration/test_distributed.py runs real jobs on the local target.)
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import moto_launcher
from tests.integration.conftest import failure_message
from tests.unit.conftest import join_instances, moto_client

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "tests" / "integration" / "playbooks" / "dist_train.yml"
DN = "dist-unit"
BUCKET = "dist-unit-models"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def ecs(endpoint: str) -> Any:
    """The cluster `dist-unit` with two container instances, the train-dist task definition,
    the models bucket and the log group."""
    ec2, ecs = moto_client("ec2", endpoint), moto_client("ecs", endpoint)
    join_instances(ec2, ecs, DN, count=2, cpu=4096, memory=8192)
    ecs.register_task_definition(
        family=f"{DN}-train-dist",
        containerDefinitions=[{"name": "train", "image": "x:1", "memoryReservation": 64}],
    )
    moto_client("s3", endpoint).create_bucket(Bucket=BUCKET)
    moto_client("logs", endpoint).create_log_group(logGroupName=f"/ecs/{DN}")
    return ecs


def role_of(task: dict[str, Any]) -> str:
    overrides = task.get("overrides", {}).get("containerOverrides", [{}])
    environment = {e["name"]: e["value"] for e in overrides[0].get("environment", [])}
    return environment.get("DMLC_ROLE", "")


class Agent(threading.Thread):
    """Stands in for the instances' ECS agents: runs each task placed (reports RUNNING), stops
    (exit 143) those ECS wants stopped, and, `kill_after` seconds after the job's last worker
    runs, kills it (exit 137) after writing two lines to its log stream."""

    def __init__(self, endpoint: str, kill_after: float | None) -> None:
        super().__init__(daemon=True)
        self.ecs, self.logs = moto_client("ecs", endpoint), moto_client("logs", endpoint)
        self.kill_after = kill_after
        self.victim: str | None = None
        self.done = threading.Event()

    def report(self, arn: str, status: str, exit_code: int | None = None) -> None:
        change: dict[str, Any] = {"containerName": "train", "status": status}
        if exit_code is not None:
            change["exitCode"] = exit_code
        self.ecs.submit_task_state_change(cluster=DN, task=arn, status=status, containers=[change])

    def kill(self, task: dict[str, Any]) -> None:
        stream = f"{DN}/train/{task['taskArn'].rsplit('/', 1)[-1]}"
        self.logs.create_log_stream(logGroupName=f"/ecs/{DN}", logStreamName=stream)
        now = int(time.time() * 1000)
        self.logs.put_log_events(
            logGroupName=f"/ecs/{DN}",
            logStreamName=stream,
            logEvents=[
                {"timestamp": now, "message": "Epoch[0] Validation-accuracy=0.5"},
                {"timestamp": now + 1, "message": "train: worker 1 about to be killed"},
            ],
        )
        self.report(task["taskArn"], "STOPPED", 137)
        self.victim = task["taskArn"]

    def run(self) -> None:
        workers_running_since: float | None = None
        while not self.done.wait(0.2):
            arns = [
                arn
                for desired in ("RUNNING", "STOPPED")
                for arn in self.ecs.list_tasks(cluster=DN, desiredStatus=desired)["taskArns"]
            ]
            tasks = self.ecs.describe_tasks(cluster=DN, tasks=arns)["tasks"] if arns else []
            for task in tasks:
                if task["lastStatus"] == "PENDING" and task["desiredStatus"] == "RUNNING":
                    self.report(task["taskArn"], "RUNNING")
                elif task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "STOPPED":
                    self.report(task["taskArn"], "STOPPED", 143)
            workers = [t for t in tasks if role_of(t) == "worker" and t["lastStatus"] == "RUNNING"]
            if self.kill_after is None or self.victim or len(workers) < 2:
                continue
            workers_running_since = workers_running_since or time.monotonic()
            if time.monotonic() - workers_running_since >= self.kill_after:
                self.kill(workers[-1])


def run_job(endpoint: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOK),
         "-e", f"aws_endpoint_url={endpoint}", "-e", f"deployment_name={DN}",
         "-e", f"dist_train_bucket={BUCKET}", "-e", "workers=2", "-e", "servers=1",
         "-e", "dist_train_poll=1", "-e", "dist_train_log_wait=2", *extra],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO_ROOT, env=env,
    )  # fmt: skip


def job_tasks(ecs: Any, stdout: str) -> list[dict[str, Any]]:
    job = re.search(r"\b(dist-\d{14}-\d{6})\b", stdout)
    assert job, stdout[-3000:]
    arns = [
        arn
        for desired in ("RUNNING", "STOPPED")
        for arn in ecs.list_tasks(cluster=DN, startedBy=job.group(1), desiredStatus=desired)[
            "taskArns"
        ]
    ]
    return ecs.describe_tasks(cluster=DN, tasks=arns)["tasks"]


def run_with_agent(endpoint: str, kill_after: float | None, *extra: str) -> tuple[Any, Agent]:
    agent = Agent(endpoint, kill_after)
    agent.start()
    try:
        result = run_job(endpoint, *extra)
    finally:
        agent.done.set()
        agent.join(10)
    return result, agent


def test_a_worker_that_dies_fails_the_job_and_stops_all_of_it(endpoint: str, ecs: Any) -> None:
    result, agent = run_with_agent(endpoint, 2.0)
    assert result.returncode != 0, result.stdout[-3000:]
    assert agent.victim, "the stand-in agent killed no worker"
    message = failure_message(result.stdout)
    victim = agent.victim.rsplit("/", 1)[-1]
    lines = ast.literal_eval(message)  # the message is a list of lines
    assert isinstance(lines, list), message
    assert re.fullmatch(
        rf"The distributed training job dist-\d{{14}}-\d{{6}} failed: worker 1 \(task {victim}\) "
        r"stopped with exit code 137: Essential container in task exited",
        lines[0],
    ), lines
    assert lines[1:] == [
        "Every task of the job is stopped (3 were still running).",
        f"Last log lines (/ecs/{DN}:{DN}/train/{victim}):",
        "Epoch[0] Validation-accuracy=0.5",
        "train: worker 1 about to be killed",
    ], lines
    tasks = job_tasks(ecs, result.stdout)
    assert len(tasks) == 4
    assert {t["lastStatus"] for t in tasks} == {"STOPPED"}
    stopped = [t for t in tasks if t["taskArn"] != agent.victim]
    assert {t["stoppedReason"] for t in stopped} == {
        f"Distributed training job {lines[0].split()[4]}: a process failed or the job ran out "
        "of time"
    }


def test_a_job_that_runs_out_of_time_is_stopped_and_says_so(endpoint: str, ecs: Any) -> None:
    result, _ = run_with_agent(endpoint, None, "-e", "dist_train_wait_timeout=3")
    assert result.returncode != 0, result.stdout[-3000:]
    message = failure_message(result.stdout)
    assert re.search(
        r"The distributed training job dist-\d{14}-\d{6} failed: it did not finish in the time "
        r"given \(3 s for the workers, 120 s more for the scheduler and servers\)",
        message,
    ), message
    assert "Every task of the job is stopped (4 were still running)." in message
    assert "Last log lines" not in message
    tasks = job_tasks(ecs, result.stdout)
    assert len(tasks) == 4 and {t["lastStatus"] for t in tasks} == {"STOPPED"}
