"""Distributed training: `playbooks/train.yml -e workers=N -e servers=M` on the shared deployment.

An MXNet parameter-server job (dist_sync): the scheduler, the servers and the workers are ECS
tasks of the train-dist task definition, which the local agent runs on the local dockerd, on the
cluster's own docker network (network mode host on AWS). Seen as a user sees it: the playbook's
output, then ECS (the job's tasks, by startedBy), CloudWatch Logs (each worker's own lines), S3
(the checkpoint, the rendezvous object gone) and docker (the containers' network).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.conftest import (
    DEPLOYMENT_ARGS,
    DEPLOYMENT_NAME,
    REPO_ROOT,
    Deployment,
    assert_playbook_ok,
    docker_container_ids,
    jupyter_trust,
    run_playbook,
    save_artifact,
    tail,
)

DN = DEPLOYMENT_NAME
Client = Callable[[str], Any]


def said(stdout: str, text: str) -> bool:
    """Whether the playbook's output says `text` (its YAML output folds long lines)."""
    return " ".join(text.split()) in " ".join(stdout.split())


def job_of(stdout: str) -> str:
    match = re.search(r"\b(dist-\d{14}-\d{6})\b", stdout)
    assert match, f"no job id in the playbook's output:\n{tail(stdout)}"
    return match.group(1)


def job_tasks(aws_client: Client, job: str) -> list[dict[str, Any]]:
    """Every task of the job (startedBy), whatever its desired status."""
    ecs = aws_client("ecs")
    arns = [
        arn
        for status in ("RUNNING", "STOPPED")
        for arn in ecs.list_tasks(cluster=DN, startedBy=job, desiredStatus=status)["taskArns"]
    ]
    return ecs.describe_tasks(cluster=DN, tasks=arns)["tasks"] if arns else []


def role_of(task: dict[str, Any]) -> str:
    environment = task["overrides"]["containerOverrides"][0]["environment"]
    return next(e["value"] for e in environment if e["name"] == "DMLC_ROLE")


def log_lines(aws_client: Client, group: str, task: dict[str, Any]) -> list[str]:
    stream = f"{DN}/train/{task['taskArn'].rsplit('/', 1)[-1]}"
    events = aws_client("logs").get_log_events(
        logGroupName=group, logStreamName=stream, startFromHead=True
    )["events"]
    return [event["message"] for event in events]


def docker_inspect(name: str) -> dict[str, Any]:
    """`docker inspect` of a container or a network, by id or name."""
    result = subprocess.run(
        ["docker", "inspect", name], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)[0]


# The local ECS agent reads it at each shipping (local_stack_log_delay_seconds, while it runs).
LOG_DELAY_FILE = REPO_ROOT / ".local" / "ecs-agent" / "log-delay-seconds"


@pytest.fixture
def late_logs() -> Iterator[int]:
    """The local agent ships each log line 20 s late (awslogs on AWS delivers asynchronously):
    a task's last lines reach CloudWatch Logs after ECS says it STOPPED."""
    assert LOG_DELAY_FILE.parent.is_dir(), f"no {LOG_DELAY_FILE.parent}: the local agent is not up"
    LOG_DELAY_FILE.write_text("20\n")
    try:
        yield 20
    finally:
        LOG_DELAY_FILE.unlink(missing_ok=True)


def test_a_job_whose_logs_arrive_late_still_reads_every_workers_weights(
    deployment: Deployment, late_logs: int
) -> None:
    del deployment
    result = run_playbook("playbooks/train.yml", *DEPLOYMENT_ARGS, "-e", "workers=2")
    assert_playbook_ok(result, f"train.yml -e workers=2, logs {late_logs} s late", "train-late.log")
    assert re.search(
        r"Every worker ended with the same weights: sha256 [0-9a-f]{64}", result.stdout
    )
    assert re.search(r"Validation accuracy: 0\.\d+", result.stdout), tail(result.stdout)


def test_a_train_run_whose_log_arrives_late_still_reports_its_accuracy(
    deployment: Deployment, late_logs: int
) -> None:
    del deployment
    result = run_playbook("playbooks/train.yml", *DEPLOYMENT_ARGS, "-e", "train_epochs=1")
    assert_playbook_ok(result, f"train.yml, its log {late_logs} s late", "train-late-1.log")
    assert re.search(r"Epoch\[0\] Validation-accuracy=0\.\d+", result.stdout), tail(result.stdout)
    assert "(no validation accuracy in the log)" not in result.stdout


@pytest.fixture(scope="module")
def two_worker_job(deployment: Deployment) -> subprocess.CompletedProcess[str]:
    # train_batch_size: the run's own settings reach every process (the default is 64).
    args = ("-e", "workers=2", "-e", "servers=1", "-e", "train_batch_size=32")
    result = run_playbook("playbooks/train.yml", *DEPLOYMENT_ARGS, *args)
    assert_playbook_ok(result, "train.yml -e workers=2 -e servers=1", "train-dist.log")
    return result


def test_a_two_worker_job_ends_with_the_same_weights_on_every_worker(
    two_worker_job: subprocess.CompletedProcess[str], deployment: Deployment, aws_client: Client
) -> None:
    stdout = two_worker_job.stdout
    job = job_of(stdout)
    tasks = job_tasks(aws_client, job)
    assert sorted(role_of(t) for t in tasks) == ["scheduler", "server", "worker", "worker"]
    assert {(t["lastStatus"], t["containers"][0].get("exitCode")) for t in tasks} == {
        ("STOPPED", 0)
    }, tasks
    definition = deployment.outputs["task_definitions"]["dist"]
    assert {t["taskDefinitionArn"] for t in tasks} == {definition}
    for task in tasks:
        command = task["overrides"]["containerOverrides"][0]["command"]
        assert command[command.index("--batch-size") + 1] == "32", command

    # Each worker's own log: its shard, its weights' checksum, its validation accuracy.
    group = deployment.outputs["log_group"]
    checksums, ranks, accuracies = [], [], []
    for task in (t for t in tasks if role_of(t) == "worker"):
        lines = log_lines(aws_client, group, task)
        text = "\n".join(lines)
        shard = re.search(r"train: worker (\d) of 2: (\d+) samples of (\d+)", text)
        checksum = re.search(r"train: worker \d of 2: weights sha256 ([0-9a-f]{64})", text)
        accuracy = re.findall(r"Validation-accuracy=([0-9.]+)", text)
        assert shard and checksum and accuracy, text
        ranks.append(shard.group(1))
        assert int(shard.group(2)) <= int(shard.group(3)) // 2  # its own half, not all of it
        checksums.append(checksum.group(1))
        accuracies.append(float(accuracy[-1]))
    assert sorted(ranks) == ["0", "1"], "the workers did not each get their own shard"
    assert checksums[0] == checksums[1], "the workers ended with different weights"
    assert min(accuracies) > 0.9, accuracies
    # The playbook says the same.
    assert said(stdout, f"Every worker ended with the same weights: sha256 {checksums[0]}")
    assert re.search(r"Validation accuracy: 0\.9\d+", stdout), tail(stdout)
    assert said(stdout, "2 worker(s) and 1 server(s) on 1 instance(s)"), tail(stdout)


def test_the_job_leaves_its_checkpoint_and_no_rendezvous(
    two_worker_job: subprocess.CompletedProcess[str], deployment: Deployment, aws_client: Client
) -> None:
    bucket = deployment.outputs["buckets"]["models"]
    s3 = aws_client("s3")
    keys = {
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    }
    assert {
        "trained-dist/digits/mlp-symbol.json",
        "trained-dist/digits/mlp-0000.params",
        "trained-dist/digits/labels.txt",
    } <= keys, keys
    assert not [k for k in keys if k.startswith(f"jobs/{job_of(two_worker_job.stdout)}/")]
    prefix = f"s3://{bucket}/trained-dist/digits/mlp"
    assert said(two_worker_job.stdout, f"Trained: {prefix}-symbol.json, {prefix}-0000.params")


def test_the_jobs_containers_ran_on_the_clusters_own_network(
    two_worker_job: subprocess.CompletedProcess[str], aws_client: Client
) -> None:
    """The local target's counterpart of network mode host: the cluster's docker network, not
    docker's default bridge (where the Jupyter service's container is)."""
    tasks = job_tasks(aws_client, job_of(two_worker_job.stdout))
    assert sorted(role_of(t) for t in tasks) == ["scheduler", "server", "worker", "worker"], tasks
    for task in tasks:
        ids = docker_container_ids(
            f"com.amazonaws.ecs.task-arn={task['taskArn']}", include_stopped=True
        )
        assert len(ids) == 1, f"{len(ids)} containers of task {task['taskArn']}"
        container = docker_inspect(ids[0])
        networks = container["NetworkSettings"]["Networks"]
        assert len(networks) == 1 and "bridge" not in networks, networks
        labels = docker_inspect(next(iter(networks)))["Labels"]
        assert labels["com.amazonaws.ecs.cluster"] == DN, labels
        assert labels["ecs-dl.local-agent"] == container["Config"]["Labels"]["ecs-dl.local-agent"]


def test_a_worker_that_dies_fails_the_job_and_stops_all_of_it(
    deployment: Deployment, aws_client: Client
) -> None:
    """Kill a worker's container while the job trains: the playbook stops the job's other
    tasks, fails naming the worker, its exit code and its last log lines, and nothing of the
    job runs afterwards."""
    argv = [*DEPLOYMENT_ARGS, "-e", "workers=2", "-e", "servers=1", "-e", "train_epochs=1000"]
    outcome: dict[str, subprocess.CompletedProcess[str]] = {}
    runner = threading.Thread(
        target=lambda: outcome.setdefault("run", run_playbook("playbooks/train.yml", *argv)),
        daemon=True,
    )
    started = time.monotonic()
    runner.start()
    victim = None
    while victim is None and time.monotonic() - started < 300 and runner.is_alive():
        for container_id in docker_container_ids(f"com.amazonaws.ecs.cluster={DN}"):
            container = docker_inspect(container_id)
            labels = container["Config"]["Labels"]
            if labels.get("com.amazonaws.ecs.task-definition-family") != f"{DN}-train-dist":
                continue
            logs = subprocess.run(
                ["docker", "logs", container_id], capture_output=True, text=True, check=False
            )
            # a worker that has trained an epoch (the job is under way)
            if "DMLC_ROLE=worker" in container["Config"]["Env"] and "Epoch[1]" in logs.stdout:
                victim = container
                break
        time.sleep(1)
    if victim is None and "run" in outcome:
        ended = tail(outcome["run"].stdout)
        pytest.fail(f"train.yml ended before a worker got to its second epoch:\n{ended}")
    assert victim is not None, "no worker of the job got to its second epoch"
    subprocess.run(["docker", "kill", victim["Id"]], check=True, capture_output=True, timeout=60)
    runner.join(timeout=600)
    result = outcome["run"]
    save_artifact("train-dist-killed.log", result.stdout)
    assert result.returncode != 0, tail(result.stdout)
    victim_task = victim["Config"]["Labels"]["com.amazonaws.ecs.task-arn"].rsplit("/", 1)[-1]
    assert re.search(
        rf"The distributed training job dist-\S+ failed: worker \d \(task {victim_task}\) "
        r"stopped with exit code 137",
        " ".join(result.stdout.split()),
    ), tail(result.stdout)
    assert said(result.stdout, "Every task of the job is stopped (3 were still running)")
    assert "Last log lines" in result.stdout
    assert re.search(r"- Epoch\[\d+\] Validation-accuracy=", result.stdout), tail(result.stdout)

    tasks = job_tasks(aws_client, job_of(result.stdout))
    assert len(tasks) == 4
    assert [t for t in tasks if t["lastStatus"] != "STOPPED"] == []
    running = [
        c
        for c in docker_container_ids(f"com.amazonaws.ecs.cluster={DN}")
        if docker_inspect(c)["Config"]["Labels"].get("com.amazonaws.ecs.task-definition-family")
        == f"{DN}-train-dist"
    ]
    assert running == [], "containers of the job still run"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["workers=0"], "workers=0 servers=1: a job has 1 to 32 workers and 1 to 8 servers"),
        (["workers=two"], "workers=two servers=1: a job has 1 to 32 workers"),
        (["workers=2", "servers=9"], "workers=2 servers=9: a job has 1 to 32 workers"),
        (["workers=2", "train_epochs=0"], "train_epochs=0: the passes over the data are"),
    ],
    ids=["no-worker", "not-a-number", "too-many-servers", "no-epoch"],
)
def test_a_bad_job_size_is_one_clear_line_and_starts_nothing(
    deployment: Deployment, aws_client: Client, extra: list[str], message: str
) -> None:
    del deployment
    ecs = aws_client("ecs")
    before = set(ecs.list_tasks(cluster=DN, desiredStatus="STOPPED")["taskArns"])
    before |= set(ecs.list_tasks(cluster=DN)["taskArns"])
    args = [arg for value in extra for arg in ("-e", value)]
    result = run_playbook("playbooks/train.yml", *DEPLOYMENT_ARGS, *args)
    assert result.returncode != 0
    assert said(result.stdout, message), tail(result.stdout)
    after = set(ecs.list_tasks(cluster=DN, desiredStatus="STOPPED")["taskArns"])
    after |= set(ecs.list_tasks(cluster=DN)["taskArns"])
    assert after == before, "a task was started"


def active_container_instances(aws_client: Client) -> list[dict[str, Any]]:
    ecs = aws_client("ecs")
    arns = ecs.list_container_instances(cluster=DN, status="ACTIVE")["containerInstanceArns"]
    if not arns:
        return []
    return ecs.describe_container_instances(cluster=DN, containerInstances=arns)[
        "containerInstances"
    ]


def test_a_larger_fleet_joins_the_cluster_and_spreads_the_job(
    deployment: Deployment, aws_client: Client
) -> None:
    """spot_fleet_target_capacity=2 and site.yml again: a second instance joins the cluster,
    and a job's workers run one on each; site.yml with the capacity as before takes it away
    (ECS deregisters the terminated instance) and Jupyter answers at the outputs' URL."""
    assert len(active_container_instances(aws_client)) == 1
    try:
        grown = run_playbook("site.yml", *DEPLOYMENT_ARGS, "-e", "spot_fleet_target_capacity=2")
        assert_playbook_ok(grown, "site.yml with spot_fleet_target_capacity=2", "site-grown.log")
        instances = active_container_instances(aws_client)
        assert len(instances) == 2, instances
        outputs = json.loads(deployment.outputs_path.read_text())
        assert sorted(outputs["instance_ids"]) == sorted(i["ec2InstanceId"] for i in instances)

        job = run_playbook("playbooks/train.yml", *DEPLOYMENT_ARGS, "-e", "workers=2")
        assert_playbook_ok(job, "train.yml -e workers=2 on two instances", "train-dist-2.log")
        assert said(job.stdout, "2 worker(s) and 1 server(s) on 2 instance(s)"), tail(job.stdout)
        workers = [t for t in job_tasks(aws_client, job_of(job.stdout)) if role_of(t) == "worker"]
        placed = {t["containerInstanceArn"] for t in workers}
        assert len(placed) == 2, "the workers did not run one on each instance"
    finally:
        shrunk = run_playbook("site.yml", *DEPLOYMENT_ARGS)
        save_artifact("site-shrunk.log", shrunk.stdout)
        # The fleet may have kept either instance: the shared deployment's later tests read
        # the outputs as they are now.
        deployment.outputs = json.loads(deployment.outputs_path.read_text())
    assert_playbook_ok(shrunk, "site.yml with the capacity as before", None)
    instances = active_container_instances(aws_client)
    assert len(instances) == 1, instances
    outputs = deployment.outputs
    assert outputs["instance_ids"] == [instances[0]["ec2InstanceId"]]
    login_page = outputs["jupyter"]["url"].rstrip("/") + "/login"
    with urllib.request.urlopen(login_page, timeout=10, context=jupyter_trust(outputs)) as r:
        assert r.status == 200
