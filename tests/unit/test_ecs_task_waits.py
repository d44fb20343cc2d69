"""The waits of the modules ecs_task_info (wait: RUNNING or STOPPED) and ecs_task_stop (wait:
true, and the tasks chosen by started_by or all_tasks), and module_utils/ecs.py's wait_until.

Against the local target's moto (moto_launcher.py on a free port, which leaves a placed task
PENDING until its agent reports, and leaves a task ECS was told to stop to its agent, as ECS
does), with a stand-in agent thread that reports the tasks' states through
SubmitTaskStateChange, as the local ECS agent does. The modules run as Ansible runs them
(run_module, tests/unit/conftest.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils.ecs import (
    every_task_stopped,
    wait_until,
)

from tests.conftest import moto_launcher
from tests.unit.conftest import join_instances


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """The local target's moto_launcher (overrides the plain moto: it keeps tasks PENDING)."""
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


def cluster(aws: Callable[[str], Any], name: str) -> Any:
    """A cluster with one container instance and the task definition `<name>-job` (container
    `train`); returns the ECS client."""
    ec2, ecs = aws("ec2"), aws("ecs")
    join_instances(ec2, ecs, name, count=1, cpu=4096, memory=8192)
    ecs.register_task_definition(
        family=f"{name}-job",
        containerDefinitions=[{"name": "train", "image": "x:1", "memoryReservation": 64}],
    )
    return ecs


def start(ecs: Any, name: str, started_by: str, count: int = 1) -> list[str]:
    tasks = ecs.run_task(
        cluster=name, taskDefinition=f"{name}-job", startedBy=started_by, count=count
    )["tasks"]
    assert len(tasks) == count, "moto placed fewer tasks than asked"
    return [task["taskArn"] for task in tasks]


def report(ecs: Any, name: str, arn: str, status: str, exit_code: int | None = None) -> None:
    change: dict[str, Any] = {"containerName": "train", "status": status}
    if exit_code is not None:
        change["exitCode"] = exit_code
    ecs.submit_task_state_change(cluster=name, task=arn, status=status, containers=[change])


def described(ecs: Any, name: str, arns: list[str]) -> dict[str, dict]:
    return {t["taskArn"]: t for t in ecs.describe_tasks(cluster=name, tasks=arns)["tasks"]}


class Agent(threading.Thread):
    """A stand-in ECS agent for a cluster: every 0.2 s, stops (exit 143) the tasks ECS wants
    stopped when `obey` (those of `last` only once it has stopped another), and, `after` seconds
    from its start, reports each task of `finish` STOPPED with its exit code."""

    def __init__(
        self,
        ecs: Any,
        name: str,
        *,
        obey: bool = True,
        last: tuple[str, ...] = (),
        after: float = 0.0,
        finish: dict[str, int] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.ecs, self.name, self.obey, self.last, self.after = ecs, name, obey, last, after
        self.finish = dict(finish or {})
        self.stopped_another = False
        self.done = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.done.wait(0.2):
            if self.finish and time.monotonic() - started >= self.after:
                for arn, code in self.finish.items():
                    report(self.ecs, self.name, arn, "STOPPED", code)
                self.finish = {}
            if not self.obey:
                continue
            arns = self.ecs.list_tasks(cluster=self.name, desiredStatus="STOPPED")["taskArns"]
            for task in described(self.ecs, self.name, arns).values() if arns else []:
                if task["lastStatus"] == "STOPPED":
                    continue
                if task["taskArn"] not in self.last:
                    self.stopped_another = True
                elif not self.stopped_another:
                    continue
                report(self.ecs, self.name, task["taskArn"], "STOPPED", 143)

    def __enter__(self) -> Agent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join(10)


def test_wait_stopped_returns_once_the_task_has_stopped(run_module, aws) -> None:
    ecs = cluster(aws, "w-stopped")
    [arn] = start(ecs, "w-stopped", "unit")
    report(ecs, "w-stopped", arn, "RUNNING")
    began = time.monotonic()
    with Agent(ecs, "w-stopped", after=2.5, finish={arn: 0}):
        result = run_module(
            "ecs_task_info", cluster="w-stopped", task_arns=[arn], wait="STOPPED", wait_delay=1
        )
    assert time.monotonic() - began >= 2.5, "the module did not wait for the task"
    [task] = result["tasks"]
    assert (task["arn"], task["last_status"]) == (arn, "STOPPED")
    assert task["containers"][0]["exit_code"] == 0


def test_wait_stopped_gives_up_at_its_timeout_returning_the_tasks_as_seen(run_module, aws) -> None:
    ecs = cluster(aws, "w-timeout")
    [arn] = start(ecs, "w-timeout", "unit")
    began = time.monotonic()
    result = run_module(
        "ecs_task_info",
        expect_failure=True,
        cluster="w-timeout",
        task_arns=[arn],
        wait="STOPPED",
        wait_timeout=3,
    )
    took = time.monotonic() - began
    assert 3 <= took < 30, took
    assert "not every task STOPPED within 3 s" in result["msg"]
    assert [(t["arn"], t["last_status"]) for t in result["tasks"]] == [(arn, "PENDING")]


def test_a_task_ecs_does_not_know_is_not_stopped(run_module, aws) -> None:
    """Right after RunTask, DescribeTasks may not know the task yet: that is "not yet"."""
    ecs = cluster(aws, "w-unknown")
    [arn] = start(ecs, "w-unknown", "unit")
    report(ecs, "w-unknown", arn, "STOPPED", 0)
    unknown = arn.rsplit("/", 1)[0] + "/0123456789abcdef0123456789abcdef"
    result = run_module(
        "ecs_task_info",
        expect_failure=True,
        cluster="w-unknown",
        task_arns=[arn, unknown],
        wait="STOPPED",
        wait_timeout=1,
    )
    assert [t["last_status"] for t in result["tasks"]] == ["STOPPED"]
    known = run_module("ecs_task_info", cluster="w-unknown", task_arns=[arn], wait="STOPPED")
    assert [t["last_status"] for t in known["tasks"]] == ["STOPPED"]


def test_wait_running_waits_for_a_task_started_by_the_one_given(run_module, aws) -> None:
    """With a family, started_by is applied to the tasks listed (ListTasks takes it only
    alone): a running task started by another (an older deployment) does not end the wait."""
    ecs = cluster(aws, "w-running")
    [old] = start(ecs, "w-running", "deployment-old")
    [new] = start(ecs, "w-running", "deployment-new")
    report(ecs, "w-running", old, "RUNNING")
    args = {
        "cluster": "w-running",
        "family": "w-running-job",
        "started_by": "deployment-new",
        "wait": "RUNNING",
    }
    pending = run_module("ecs_task_info", expect_failure=True, wait_timeout=1, **args)
    assert "no task RUNNING within 1 s" in pending["msg"]
    assert [(t["arn"], t["last_status"]) for t in pending["tasks"]] == [(new, "PENDING")]

    threading.Timer(2, report, (ecs, "w-running", new, "RUNNING")).start()
    running = run_module("ecs_task_info", wait_timeout=60, wait_delay=1, **args)
    assert [(t["arn"], t["last_status"]) for t in running["tasks"]] == [(new, "RUNNING")]
    assert running["tasks"][0]["started_by"] == "deployment-new"


def test_stop_and_wait_returns_the_tasks_stopped(run_module, aws) -> None:
    ecs = cluster(aws, "s-wait")
    [arn] = start(ecs, "s-wait", "unit")
    report(ecs, "s-wait", arn, "RUNNING")
    with Agent(ecs, "s-wait"):
        result = run_module(
            "ecs_task_stop", cluster="s-wait", tasks=[arn], reason="Not done in time", wait=True
        )
    assert result["changed"] is True and result["stopped"] == [arn]
    [task] = result["tasks"]
    assert (task["last_status"], task["stopped_reason"]) == ("STOPPED", "Not done in time")
    assert task["containers"][0]["exit_code"] == 143


def test_stop_and_wait_gives_up_saying_what_it_sent(run_module, aws) -> None:
    """An agent that does not stop the task: StopTask was sent, the wait gives up."""
    ecs = cluster(aws, "s-stuck")
    [arn] = start(ecs, "s-stuck", "unit")
    report(ecs, "s-stuck", arn, "RUNNING")
    result = run_module(
        "ecs_task_stop", expect_failure=True, cluster="s-stuck", tasks=[arn], wait=True,
        wait_timeout=2,
    )  # fmt: skip
    assert "not every task stopped within 2 s" in result["msg"]
    assert f"not stopped yet: {arn.rsplit('/', 1)[-1]} RUNNING" in result["msg"]
    assert result["changed"] is True and result["stopped"] == [arn]
    assert [t["last_status"] for t in result["tasks"]] == ["RUNNING"]
    assert described(ecs, "s-stuck", [arn])[arn]["desiredStatus"] == "STOPPED"


def test_a_task_that_ended_by_itself_is_waited_for_not_stopped(run_module, aws) -> None:
    ecs = cluster(aws, "s-ended")
    [arn] = start(ecs, "s-ended", "unit")
    report(ecs, "s-ended", arn, "STOPPED", 0)
    result = run_module("ecs_task_stop", cluster="s-ended", tasks=[arn], wait=True)
    assert result["changed"] is False
    assert (result["stopped"], result["already_stopping"]) == ([], [arn])
    assert [t["stopped_reason"] for t in result["tasks"]] == ["Essential container in task exited"]


def test_stop_by_started_by_stops_and_waits_for_the_whole_job(run_module, aws) -> None:
    """A job's tasks: those to run are stopped; one ECS was already told to stop (its agent not
    done yet) is waited for; another startedBy's task is left alone."""
    ecs = cluster(aws, "s-job")
    job = start(ecs, "s-job", "dist-1", count=3)
    [other] = start(ecs, "s-job", "dist-2")
    for arn in [*job, other]:
        report(ecs, "s-job", arn, "RUNNING")
    ecs.stop_task(cluster="s-job", task=job[0], reason="told before")
    with Agent(ecs, "s-job", last=(job[0],)):
        result = run_module(
            "ecs_task_stop", cluster="s-job", started_by="dist-1", reason="job failed", wait=True
        )
    assert sorted(result["stopped"]) == sorted(job[1:])
    assert result["already_stopping"] == [job[0]]
    assert sorted(t["arn"] for t in result["tasks"]) == sorted(job)
    assert {t["last_status"] for t in result["tasks"]} == {"STOPPED"}
    assert described(ecs, "s-job", [other])[other]["desiredStatus"] == "RUNNING"
    again = run_module("ecs_task_stop", cluster="s-job", started_by="dist-1", wait=True)
    assert (again["changed"], again["stopped"], again["already_stopping"]) == (False, [], [])


def test_stop_all_tasks_of_a_cluster(run_module, aws) -> None:
    ecs = cluster(aws, "s-all")
    arns = start(ecs, "s-all", "a") + start(ecs, "s-all", "b")
    report(ecs, "s-all", arns[0], "RUNNING")  # the other stays PENDING: stopped at once
    with Agent(ecs, "s-all"):
        result = run_module("ecs_task_stop", cluster="s-all", all_tasks=True, wait=True)
    assert sorted(result["stopped"]) == sorted(arns)
    assert {t["lastStatus"] for t in described(ecs, "s-all", arns).values()} == {"STOPPED"}
    assert {t["last_status"] for t in result["tasks"]} == {"STOPPED"}
    gone = run_module("ecs_task_stop", cluster="no-such-cluster", all_tasks=True, wait=True)
    assert (gone["changed"], gone["stopped"], gone["tasks"]) == (False, [], [])


def test_check_mode_stops_nothing_and_does_not_wait(run_module, aws) -> None:
    ecs = cluster(aws, "s-check")
    [arn] = start(ecs, "s-check", "unit")
    report(ecs, "s-check", arn, "RUNNING")
    began = time.monotonic()
    result = run_module(
        "ecs_task_stop", _ansible_check_mode=True, cluster="s-check", tasks=[arn], wait=True,
        wait_timeout=60,
    )  # fmt: skip
    assert time.monotonic() - began < 30
    assert result["changed"] is True and result["stopped"] == [arn] and "tasks" not in result
    assert described(ecs, "s-check", [arn])[arn]["desiredStatus"] == "RUNNING"


@pytest.mark.parametrize(
    ("choice", "said"),
    [
        ({}, "got: none"),
        ({"tasks": ["t"], "all_tasks": True}, "got: tasks, all_tasks"),
        ({"started_by": "job", "tasks": []}, "got: tasks, started_by"),
    ],
    ids=["none", "tasks-and-all", "started-by-and-tasks"],
)
def test_stop_takes_exactly_one_choice_of_tasks(run_module, choice, said) -> None:
    result = run_module("ecs_task_stop", expect_failure=True, cluster="any", **choice)
    assert "exactly one of tasks, started_by and all_tasks=true" in result["msg"]
    assert said in result["msg"]


class Clock:
    """time.monotonic and time.sleep for wait_until, without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_wait_until_looks_every_delay_and_once_more_at_the_deadline() -> None:
    clock = Clock()
    looks: list[float] = []

    def look() -> float:
        looks.append(clock.now - 100)
        return clock.now

    seen, done = wait_until(look, lambda _: False, 5, 2, clock.sleep, lambda: clock.now)
    assert (done, looks, clock.slept) == (False, [0, 2, 4, 5], [2, 2, 1])
    assert seen == 105


def test_wait_until_returns_at_the_first_look_that_is_done() -> None:
    clock = Clock()
    seen, done = wait_until(
        lambda: clock.now, lambda now: now >= 104, 60, 2, clock.sleep, lambda: clock.now
    )
    assert (seen, done, clock.slept) == (104, True, [2, 2])
    assert wait_until(lambda: 1, lambda _: True, 0, 2, clock.sleep, lambda: clock.now) == (1, True)


@pytest.mark.parametrize(
    ("last_status", "wanted", "stopped"),
    [
        ({"a": "STOPPED", "b": "STOPPED"}, None, True),
        ({"a": "STOPPED", "b": "RUNNING"}, None, False),
        ({}, None, True),
        ({"a": "STOPPED"}, ["arn:aws:ecs:us-east-1:1:task/c/a"], True),
        ({"a": "STOPPED"}, ["arn:aws:ecs:us-east-1:1:task/c/a", "b"], False),
        ({}, ["a"], False),
    ],
    ids=["all-stopped", "one-running", "none", "wanted-by-arn", "one-unknown", "none-known"],
)
def test_every_task_stopped(last_status, wanted, stopped) -> None:
    assert every_task_stopped(last_status, wanted) is stopped
