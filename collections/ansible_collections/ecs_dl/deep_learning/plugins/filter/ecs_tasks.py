# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ECS tasks and jobs of tasks, as the roles run_task and dist_train place them and speak of them.

- ``workers | job_processes(servers)``: the processes of a distributed training job, the
  scheduler first, then the servers and the workers (``{'role': ..., 'index': ...}``).
- ``stop_result | stop_outcome``: what became of a task ecs_task_stop (wait: true) was asked to
  stop: it was stopped, it is stopping, or it had ended by itself meanwhile.
- ``culprit | job_failure(...)``: the lines a failed distributed training job fails with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError


def _count(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"job_processes: {name} is not a number: {value!r}") from None


def job_processes(workers: Any, servers: Any) -> list[dict[str, Any]]:
    """One scheduler, `servers` servers and `workers` workers, each with its index in its role."""
    return [
        {"role": "scheduler", "index": 0},
        *({"role": "server", "index": i} for i in range(_count(servers, "servers"))),
        *({"role": "worker", "index": i} for i in range(_count(workers, "workers"))),
    ]


def stop_outcome(stop: Mapping[str, Any]) -> str:
    """What ecs_task_stop's result (one task, wait: true, a wait that gave up included) says
    became of the task."""
    tasks = stop.get("tasks") or [{}]
    if not stop.get("stopped"):
        return f"it ended by itself meanwhile ({tasks[0].get('stopped_reason') or ''})"
    if tasks[0].get("last_status") == "STOPPED":
        return "it was stopped"
    return "StopTask was sent, and it is stopping"


def job_failure(
    culprit: Mapping[str, Any],
    job: str,
    processes: Mapping[str, Mapping[str, Any]],
    stopped: int,
    cause: str = "",
    timeouts: Sequence[Any] | None = None,
    log_prefix: str = "",
    log: Sequence[str] = (),
) -> list[str]:
    """The message a failed job fails with, one line per item: what failed, that every task of
    the job is stopped, and the last log lines of the process that failed.

    culprit: the task (as ecs_task_info returns it) of the process that failed first, {} when
    none did; job: the job's name; processes: task ARN -> its process ({'role', 'index'});
    stopped: how many of the job's tasks still ran and were stopped; cause: why the job failed
    when no process did; timeouts: when the job ran out of time, [seconds for the workers,
    seconds more for the scheduler and servers]; log_prefix: the log group and the stream's
    prefix (``group:prefix/container``, the task id ends the stream); log: the culprit's last
    log lines."""
    if culprit.get("id"):
        process = processes.get(culprit.get("arn", ""), {})
        exit_code = (culprit.get("containers") or [{}])[0].get("exit_code")
        what = (
            f"{process.get('role', 'process')} {process.get('index', '?')} "
            f"(task {culprit['id']}) stopped with exit code "
            f"{'none' if exit_code in (None, '') else exit_code}: "
            f"{culprit.get('stopped_reason') or ''}"
        )
    elif timeouts:
        workers, more = timeouts
        what = (
            f"it did not finish in the time given ({workers} s for the workers, "
            f"{more} s more for the scheduler and servers)"
        )
    else:
        what = cause
    lines = [
        f"The distributed training job {job} failed: {what}",
        f"Every task of the job is stopped ({stopped} were still running).",
    ]
    if culprit.get("id"):
        lines += [f"Last log lines ({log_prefix}/{culprit['id']}):", *log]
    return lines


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "job_processes": job_processes,
            "stop_outcome": stop_outcome,
            "job_failure": job_failure,
        }
