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
  - Finds the processes on this machine whose command line is an ansible-playbook run of the
    deployment, other than the run this module belongs to (its ansible-playbook ancestors and
    everything they started). A run is of the deployment when its C(-e) names it
    (C(deployment_name=NAME) or JSON), or when it names none and neither does the run this
    module belongs to (both then use the inventory's). A deployment named only in a vars file
    (C(-e @file)) is not recognised.
  - Such a process is usually what an interrupted run left; ansible-core's workers run in
    sessions of their own, so a second Ctrl-C, which ends the main process at once, leaves the
    worker of the task in progress running without it. It goes on with its task (creating a
    resource after teardown.yml has deleted its kind) and then waits forever for the main
    process to take its result.
  - With O(stop=true) each is sent SIGTERM (its whole process group, the module it runs too),
    then SIGKILL after O(timeout) seconds. teardown.yml does this first, so that nothing it
    removes is made again behind it.
  - With O(only_orphans=true) only the runs whose main process is gone are stopped (a worker
    left behind can only hang); site.yml does this first, and refuses to start beside a whole
    run of the deployment that is still going.
  - Linux only (it reads /proc); elsewhere it warns and finds nothing.
options:
  deployment_name:
    description: The deployment whose runs are looked for.
    type: str
    required: true
  stop:
    description: Stop them (C(true)), or only report them.
    type: bool
    default: false
  only_orphans:
    description: With O(stop=true), stop only the orphans (see RV(runs[].orphan)); the others are
      still reported.
    type: bool
    default: false
  timeout:
    description: Seconds between SIGTERM and SIGKILL.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Stop what interrupted runs of the deployment left running
  ecs_dl.deep_learning.ecs_dl_stray_runs:
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
    playbook:
      description: The playbook(s) it runs, as its command line names them (C(site.yml),
        C(playbooks/predict.yml)); never the rest of its command line, whose C(-e) values may
        hold a secret (C(jupyter_password=...)) that must not reach this run's output.
      type: str
    label:
      description: C(ansible-playbook PLAYBOOK (pid PID)), to name it in a message.
      type: str
    orphan:
      description: Whether it is an interrupted run's worker, whose main process is gone (it
        leads its own session, its output goes to /dev/null, and its parent is not a run).
      type: bool
    stopped:
      description: Whether it was stopped.
      type: bool
killed:
  description: The pids that needed SIGKILL (still there O(timeout) seconds after SIGTERM).
  returned: always
  type: list
  elements: int
"""

import json
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


# ansible-playbook's options that take a value (the value is never a playbook).
OPTIONS_WITH_VALUE = frozenset(
    """-e --extra-vars -i --inventory --inventory-file -l --limit -t --tags --skip-tags -u --user
    --vault-id --vault-password-file --vault-pass-file --private-key --key-file -M --module-path
    -f --forks -c --connection -T --timeout --start-at-task --become-user --become-method
    --ssh-common-args --sftp-extra-args --scp-extra-args --ssh-extra-args --connection-password-file
    --become-password-file""".split()
)


def playbooks_of(argv: list[str]) -> str:
    """The playbooks an ansible-playbook command line runs (its positional .yml/.yaml
    arguments), space-separated: what names a run without repeating its -e values."""
    found = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg in OPTIONS_WITH_VALUE:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        if arg.endswith((".yml", ".yaml")):
            found.append(arg)
    return " ".join(found) or "?"


def deployment_named(argv: list[str]) -> str | None:
    """The deployment_name an ansible-playbook command line gives with -e (as key=value or as
    JSON; the last one wins, as in Ansible), or None when it gives none."""
    found = None
    for arg in argv:
        text = arg.removeprefix("--extra-vars=").strip()
        if text.startswith("{"):
            try:
                extra = json.loads(text)
            except ValueError:
                extra = None
            if isinstance(extra, dict) and "deployment_name" in extra:
                found = str(extra["deployment_name"])
            continue
        for word in text.split():
            if word.startswith("deployment_name="):
                found = word.split("=", 1)[1].strip("'\"")
    return found


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


def stdio_detached(pid: int) -> bool:
    """Whether its standard output and error are /dev/null, as an ansible-core worker's are
    (it detaches from the terminal when it starts); False when that cannot be read."""
    try:
        return all(os.readlink(f"{PROC}/{pid}/fd/{fd}") == os.devnull for fd in (1, 2))
    except OSError:
        return False


def is_orphan(pid: int) -> bool:
    """A worker whose main process is gone: the leader of its own session, detached from stdio,
    whose parent is not an ansible-playbook run. (A main process started in a session of its
    own, by setsid or a service manager, still writes its output somewhere.)"""
    try:
        leads_session = os.getsid(pid) == pid
    except OSError:
        return False
    parent = parent_of(pid)
    return (
        leads_session
        and (parent <= 1 or not is_playbook_run(command_line(parent)))
        and stdio_detached(pid)
    )


def other_runs(name: str) -> list[dict[str, Any]]:
    me = os.getpid()
    root = own_run_root()
    mine = {me, root, *ancestors(me)}
    # A run that names no deployment is of the inventory's: the same as this run's when this run
    # names none either (`ansible-playbook site.yml`, then `ansible-playbook teardown.yml`).
    unnamed_is_this = root != 0 and deployment_named(command_line(root)) is None
    runs = []
    for entry in os.listdir(PROC):
        if not entry.isdigit() or int(entry) in mine:
            continue
        pid = int(entry)
        argv = command_line(pid)
        if not is_playbook_run(argv):
            continue
        named = deployment_named(argv)
        if named != name and not (named is None and unnamed_is_this):
            continue
        if root and root in ancestors(pid):
            continue  # a worker of this very run
        playbook = playbooks_of(argv)
        runs.append(
            {
                "pid": pid,
                "playbook": playbook,
                "label": f"ansible-playbook {playbook} (pid {pid})",
                "orphan": is_orphan(pid),
            }
        )
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
            only_orphans=dict(type="bool", default=False),
            timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    if not os.path.isdir(PROC):
        module.warn(
            f"{PROC} is missing (not Linux): other runs of the deployment were not looked for; "
            "make sure no interrupted ansible-playbook run of it is still going"
        )
        module.exit_json(changed=False, runs=[], killed=[])
    runs = other_runs(module.params["deployment_name"])
    for run in runs:
        run["stopped"] = module.params["stop"] and (
            run["orphan"] or not module.params["only_orphans"]
        )
    to_stop = [run["pid"] for run in runs if run["stopped"]]
    killed: list[int] = []
    if to_stop and not module.check_mode:
        killed = stop_runs(to_stop, module.params["timeout"])
    module.exit_json(changed=bool(to_stop), runs=runs, killed=killed)


if __name__ == "__main__":
    main()
