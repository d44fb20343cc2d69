"""Filter plugin ecs_tasks: a distributed training job's processes, what became of a task
run_task stopped, and the message a failed job fails with (roles dist_train and run_task)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ecs_dl.deep_learning.plugins.filter import ecs_tasks

FILTERS = ecs_tasks.FilterModule().filters()
job_processes, stop_outcome, job_failure = (
    FILTERS["job_processes"],
    FILTERS["stop_outcome"],
    FILTERS["job_failure"],
)


def test_a_job_is_its_scheduler_then_its_servers_then_its_workers():
    assert job_processes("2", 1) == [
        {"role": "scheduler", "index": 0},
        {"role": "server", "index": 0},
        {"role": "worker", "index": 0},
        {"role": "worker", "index": 1},
    ]
    assert job_processes(0, 0) == [{"role": "scheduler", "index": 0}]


def test_a_job_size_that_is_no_number_is_refused():
    with pytest.raises(AnsibleFilterError, match="workers is not a number: 'two'"):
        job_processes("two", 1)


TASK = {"arn": "arn:aws:ecs:us-east-1:1:task/c/abc", "id": "abc"}
ENDED = "Essential container in task exited"


def seen(last_status: str, reason: str = "") -> list[dict]:
    return [{**TASK, "last_status": last_status, "stopped_reason": reason}]


@pytest.mark.parametrize(
    ("stop", "outcome"),
    [
        ({"stopped": [TASK["arn"]], "tasks": seen("STOPPED")}, "it was stopped"),
        (
            {"stopped": [TASK["arn"]], "tasks": seen("RUNNING")},
            "StopTask was sent, and it is stopping",
        ),
        (
            {"stopped": [], "tasks": seen("STOPPED", ENDED)},
            f"it ended by itself meanwhile ({ENDED})",
        ),
        ({"stopped": [], "missing": [TASK["arn"]]}, "it ended by itself meanwhile ()"),
        ({"stopped": [TASK["arn"]]}, "StopTask was sent, and it is stopping"),
    ],
    ids=["stopped", "stopping", "ended-by-itself", "unknown-to-ecs", "not-waited-for"],
)
def test_what_became_of_a_task_asked_to_stop(stop, outcome):
    assert stop_outcome(stop) == outcome


WORKER = {
    "arn": "arn:aws:ecs:us-east-1:1:task/c/w1",
    "id": "w1",
    "containers": [{"name": "train", "exit_code": 137}],
    "stopped_reason": "Essential container in task exited",
}
PROCESSES = {WORKER["arn"]: {"role": "worker", "index": 1}}
ARGS = {
    "job": "dist-20261207083000-000042",
    "processes": PROCESSES,
    "stopped": 3,
    "log_prefix": "/ecs/ecs-dl:ecs-dl/train",
}


def test_a_failed_process_is_named_with_its_exit_code_and_last_log_lines():
    assert job_failure(WORKER, **ARGS, cause="A process of the job failed.", log=["a", "b"]) == [
        "The distributed training job dist-20261207083000-000042 failed: worker 1 (task w1) "
        "stopped with exit code 137: Essential container in task exited",
        "Every task of the job is stopped (3 were still running).",
        "Last log lines (/ecs/ecs-dl:ecs-dl/train/w1):",
        "a",
        "b",
    ]


def test_a_process_with_no_exit_code_says_none():
    culprit = {**WORKER, "containers": [{"name": "train", "exit_code": None}], "stopped_reason": ""}
    first = job_failure(culprit, **ARGS)[0]
    assert first.endswith("worker 1 (task w1) stopped with exit code none: "), first


def test_a_failed_process_comes_before_running_out_of_time():
    lines = job_failure(WORKER, **ARGS, timeouts=[1800, 120])
    assert "worker 1 (task w1) stopped with exit code 137" in lines[0]


def test_a_job_that_ran_out_of_time_says_the_time_given_and_no_log():
    assert job_failure({}, **ARGS, cause="retries exceeded", timeouts=["1800", "120"]) == [
        "The distributed training job dist-20261207083000-000042 failed: it did not finish in "
        "the time given (1800 s for the workers, 120 s more for the scheduler and servers)",
        "Every task of the job is stopped (3 were still running).",
    ]


def test_a_job_that_failed_otherwise_gives_the_cause():
    cause = "ECS did not start every process of the job on cluster ecs-dl"
    lines = job_failure({}, **{**ARGS, "processes": {}, "stopped": 0}, cause=cause, timeouts=[])
    assert lines == [
        f"The distributed training job dist-20261207083000-000042 failed: {cause}",
        "Every task of the job is stopped (0 were still running).",
    ]
