#!/usr/bin/python
# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find, and stop, other ansible-playbook runs of a deployment on this machine."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_dl_stray_runs
short_description: Stop the other ansible-playbook runs of a deployment on the control machine
description:
  - Finds the processes on this machine whose command line is an ansible-playbook run naming
    the deployment (an argument C(deployment_name=NAME), as C(-e) gives it), other than the run
    this module belongs to (its ansible-playbook ancestors and everything they started).
  - Such a process is usually what an interrupted run left: ansible-core's workers run in
    sessions of their own, so a second Ctrl-C, which ends the main process at once, leaves the
    worker of the task in progress running without it. It goes on with its task (creating a
    resource after teardown.yml has deleted its kind) and then waits forever for the main
    process to take its result.
  - With O(stop=true) each is sent SIGTERM (its whole process group: the module it runs too),
    then SIGKILL after O(timeout) seconds. teardown.yml does this first, so that nothing it
    removes is made again behind it.
  - Linux only (it reads /proc).
options:
  deployment_name:
    description: The deployment whose runs are looked for.
    type: str
    required: true
  stop:
    description: Stop them (C(true)), or only report them.
    type: bool
    default: false
  timeout:
    description: Seconds between SIGTERM and SIGKILL.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Stop what interrupted runs of the deployment left running
  ecs_dl_stray_runs:
    deployment_name: ecs-dl
    stop: true
  register: strays
"""

RETURN = r"""
runs:
  description: The other runs found (before they were stopped).
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Process id.
      type: int
    command:
      description: Its command line (the first 300 characters).
      type: str
    orphan:
      description: Whether its parent is gone (an interrupted run's worker).
      type: bool
killed:
  description: The pids that needed SIGKILL (still there O(timeout) seconds after SIGTERM).
  returned: always
  type: list
  elements: int
"""

import os
import signal
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

PROC = "/proc"


def command_line(pid: int) -> list[str]:
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def parent_of(pid: int) -> int:
    try:
        with open(f"{PROC}/{pid}/stat", encoding="utf-8") as handle:
            stat = handle.read()
    except OSError:
        return 0
    # pid (comm) state ppid ...: comm may hold spaces and parentheses
    return int(stat.rsplit(")", 1)[1].split()[1])


def is_playbook_run(argv: list[str]) -> bool:
    return any(os.path.basename(arg) == "ansible-playbook" for arg in argv[:2])


def names_deployment(argv: list[str], name: str) -> bool:
    wanted = f"deployment_name={name}"
    return any(word == wanted for arg in argv for word in arg.split())


def ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        pid = parent_of(pid)
        if pid:
            chain.append(pid)
    return chain


def own_run_root() -> int:
    """The outermost ansible-playbook process above this module (its run's main process)."""
    root = 0
    for pid in ancestors(os.getpid()):
        if is_playbook_run(command_line(pid)):
            root = pid
    return root


def is_orphan(pid: int) -> bool:
    """A worker (the leader of its own session) whose main process is gone."""
    try:
        leads_session = os.getsid(pid) == pid
    except OSError:
        return False
    parent = parent_of(pid)
    return leads_session and (parent <= 1 or not is_playbook_run(command_line(parent)))


def other_runs(name: str) -> list[dict[str, Any]]:
    me = os.getpid()
    root = own_run_root()
    mine = {me, root, *ancestors(me)}
    runs = []
    for entry in os.listdir(PROC):
        if not entry.isdigit() or int(entry) in mine:
            continue
        pid = int(entry)
        argv = command_line(pid)
        if not (is_playbook_run(argv) and names_deployment(argv, name)):
            continue
        if root and root in ancestors(pid):
            continue  # a worker of this very run
        runs.append({"pid": pid, "command": " ".join(argv)[:300], "orphan": is_orphan(pid)})
    return sorted(runs, key=lambda run: run["pid"])


def alive(pid: int) -> bool:
    try:
        with open(f"{PROC}/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def signal_run(pid: int, signum: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)  # the worker and the module it runs
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop_runs(pids: list[int], timeout: int) -> list[int]:
    for pid in pids:
        signal_run(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    killed = [pid for pid in pids if alive(pid)]
    for pid in killed:
        signal_run(pid, signal.SIGKILL)
    return killed


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            deployment_name=dict(type="str", required=True),
            stop=dict(type="bool", default=False),
            timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    runs = other_runs(module.params["deployment_name"])
    killed: list[int] = []
    if runs and module.params["stop"] and not module.check_mode:
        killed = stop_runs([run["pid"] for run in runs], module.params["timeout"])
    module.exit_json(changed=bool(runs and module.params["stop"]), runs=runs, killed=killed)


if __name__ == "__main__":
    main()
