"""Stop a site.yml (or teardown.yml) run at a chosen point, the way things go wrong for a user.

A point is where the playbook is when the fault strikes: the first task of a role (a role
boundary) or a moment inside one of its waits. The run's output is read as it comes; when the
point's task banner shows up (plus a delay, to be inside a wait), one of two faults strikes:

- "sigint": Ctrl-C, i.e. SIGINT to the whole process group of ansible-playbook (the terminal
  sends it to ansible-playbook, its workers and the module they run).
- "fail": the task at that point fails for real. Where the point talks to AWS, the endpoint
  starts denying every request made with the run's access key (the local target's fault
  injector, roles/local_stack/files/moto_faults.py; the ECS agent's requests go on, as when the
  credentials of whoever runs the playbook are revoked). Where the point talks to the instance
  over SSH, the instance becomes unreachable for a few seconds (the run's SSH connections are
  killed as soon as they appear, as when a Spot instance goes away).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import ENDPOINT_URL, REPO_ROOT, playbook_env
from tests.integration.processes import host_processes

# The access key of the fault runs: the fault injector denies this key's requests only.
FAULT_ACCESS_KEY = "ECSDLFAULTTEST"
# How long the instance stays unreachable (the "fail" fault over SSH).
SSH_OUTAGE = 5.0
# Ctrl-C: at most this many, this many seconds apart, until the run ends.
SIGINT_TRIES = 3
SIGINT_PATIENCE = 0.5
_FAILED = re.compile(r"^(fatal|failed): |UNREACHABLE!", re.M)


@dataclass(frozen=True)
class Point:
    """Where a fault strikes: the banner of the task at that point, and how long after it."""

    id: str
    banner: str  # a regular expression for the "TASK [...]" line
    delay: float = 0.0
    # How the "fail" fault reaches the task there: "aws", "ssh", or None (it cannot: nothing
    # outside ansible-playbook is used there).
    fail: str | None = "aws"


# site.yml in order. The role boundaries are the first task of each role; the waits are the
# Spot Fleet request (the module waits until it is fulfilled), the wait until its instances join
# the cluster, the image build, the wait for the service's task and the wait for Jupyter.
POINTS = [
    Point("local_stack", r"TASK \[local_stack : ", fail=None),
    Point("preflight_aws", r"TASK \[preflight : Find credentials"),
    Point("keypair", r"TASK \[keypair : "),
    Point("network", r"TASK \[network : "),
    Point("workspace", r"TASK \[workspace : "),
    Point("iam", r"TASK \[iam : "),
    Point("storage", r"TASK \[storage : "),
    Point("secrets", r"TASK \[secrets : "),
    Point("models", r"TASK \[models : "),
    Point("registry", r"TASK \[registry : "),
    Point("cluster", r"TASK \[cluster : "),
    Point("spot_fleet", r"TASK \[spot_fleet : "),
    Point("in_spot_fleet_request", r"TASK \[spot_fleet : Request the Spot Fleet", delay=0.4),
    Point("in_spot_fleet_join", r"TASK \[spot_fleet : Wait until every instance", delay=0.1),
    Point("ssh_wait", r"TASK \[Wait until each instance answers over SSH", fail=None),
    Point("image_build", r"TASK \[image_build : ", fail="ssh"),
    Point("in_image_build", r"TASK \[image_build : Build the image", delay=0.3, fail="ssh"),
    Point("image_push", r"TASK \[image_push : "),
    Point("task_definitions", r"TASK \[task_definitions : "),
    Point("jupyter_service", r"TASK \[jupyter_service : "),
    Point("in_service_wait", r"TASK \[jupyter_service : Wait until a task", delay=0.2),
    Point("in_jupyter_wait", r"TASK \[jupyter_service : Wait \(bounded\) until Jupyter", fail=None),
    Point("uploads", r"TASK \[uploads : "),
    Point("outputs", r"TASK \[outputs : ", fail=None),
]
POINT_BY_ID = {point.id: point for point in POINTS}

# teardown.yml in order, after pause.yml (no instance: the fleet starts one for the work's
# archive task): each role boundary, and the waits - the fleet scaled up again, the archive
# task, the fleet cancelled (its instances terminating), the file system's deletion - and the
# moment the archive is downloaded but not yet recorded (the file system may not go yet).
TEARDOWN_POINTS = [
    Point("td_outputs", r"TASK \[outputs : ", fail=None),
    Point("td_jupyter_service", r"TASK \[jupyter_service : "),
    Point("td_work_pending", r"TASK \[workspace : Find the deployment's file system"),
    Point("td_in_fleet_resume", r"TASK \[spot_fleet : Scale the empty Spot Fleet up", delay=0.3),
    Point("td_in_fleet_joined", r"TASK \[spot_fleet : Wait until every instance", delay=0.1),
    Point("td_in_work_archive_wait", r"TASK \[run_task : Wait until the task has", delay=0.3),
    Point("td_work_archive_downloaded", r"TASK \[workspace : Read the downloaded archive's sha256"),
    Point("td_task_definitions", r"TASK \[task_definitions : "),
    Point("td_models", r"TASK \[models : "),
    Point("td_image_push", r"TASK \[image_push : "),
    Point("td_image_build", r"TASK \[image_build : ", fail=None),
    Point("td_in_fleet_cancel", r"TASK \[spot_fleet : Cancel the Spot Fleet", delay=0.3),
    Point("td_cluster", r"TASK \[cluster : "),
    Point("td_registry", r"TASK \[registry : "),
    Point("td_storage", r"TASK \[storage : "),
    Point("td_secrets", r"TASK \[secrets : "),
    Point("td_iam", r"TASK \[iam : "),
    Point("td_in_work_delete", r"TASK \[workspace : Delete its mount targets", delay=0.3),
    Point("td_network", r"TASK \[network : "),
    Point("td_keypair", r"TASK \[keypair : "),
]
POINT_BY_ID.update({point.id: point for point in TEARDOWN_POINTS})


def faults(method: str, rule: dict[str, object] | None = None) -> dict[str, object]:
    """Call the fault injector's control API."""
    request = urllib.request.Request(
        f"{ENDPOINT_URL}/_ecs_dl/faults",
        data=json.dumps(rule).encode() if rule is not None else None,
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def deny_aws() -> None:
    """Every request signed with the fault runs' key is denied from now on (until cleared)."""
    faults(
        "POST",
        {
            "access_key": FAULT_ACCESS_KEY,
            "code": "AccessDeniedException",
            "message": "injected fault: the credentials of this run were revoked",
            "status": 403,
            "count": None,
        },
    )


def clear_faults() -> list[dict[str, object]]:
    """Remove every rule; return them with their hits."""
    return list(faults("DELETE").get("rules", []))  # type: ignore[arg-type]


def drop_ssh(control_dir: Path) -> list[int]:
    """Kill the run's SSH master connections (their control sockets are in control_dir)."""
    killed = []
    for pid, cmdline in host_processes():
        if cmdline.startswith("ssh") and str(control_dir) in cmdline:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
    return killed


@dataclass
class FaultRun:
    """What an interrupted run printed and how it ended."""

    point: Point
    mode: str
    returncode: int
    stdout: str
    struck_at: float | None  # seconds after the start, None if the point was never reached
    detail: str
    denied: int  # requests the endpoint denied (the "fail" fault on AWS)

    @property
    def stopped_in(self) -> str:
        """The banner of the task the run stopped in: the one that failed, or the last one an
        interrupted run began ("" if it did not stop)."""
        if self.returncode == 0:
            return ""
        failed = _FAILED.search(self.stdout) if self.mode == "fail" else None
        before = self.stdout[: failed.start()] if failed else self.stdout
        banners = re.findall(r"^TASK \[.*$", before, re.M)
        return banners[-1] if banners else ""


def run_with_fault(
    extra_args: list[str],
    point: Point,
    mode: str,
    control_dir: Path,
    timeout: float = 900,
    playbook: str = "site.yml",
) -> FaultRun:
    """Run PLAYBOOK with EXTRA_ARGS; strike with MODE at POINT's banner; wait for the end."""
    if mode == "fail" and point.fail is None:
        raise ValueError(f"the fail fault cannot reach {point.id}")
    env = playbook_env()
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir)
    process = subprocess.Popen(
        ["ansible-playbook", playbook, *extra_args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    banner = re.compile(point.banner)
    lines: list[str] = []
    started = time.monotonic()
    struck: list[float] = []
    details: list[str] = []

    def strike() -> None:
        time.sleep(point.delay)
        if process.poll() is not None:
            details.append("the run had ended before the fault struck")
            return
        struck.append(time.monotonic() - started)
        if mode == "sigint":
            # As a user at the terminal: Ctrl-C, and again while the run goes on. ansible-core
            # 2.19 can swallow a SIGINT that arrives while it forks a worker.
            sent = 0
            while sent < SIGINT_TRIES and process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                sent += 1
                try:
                    process.wait(SIGINT_PATIENCE)
                except subprocess.TimeoutExpired:
                    continue
            details.append(f"SIGINT to the process group ({sent}x)")
        elif point.fail == "aws":
            deny_aws()
            details.append("AWS denies the run's requests")
        else:
            killed: list[int] = []
            outage_ends = time.monotonic() + SSH_OUTAGE
            while time.monotonic() < outage_ends and process.poll() is None:
                killed += drop_ssh(control_dir)
                time.sleep(0.05)
            details.append(f"SSH connections killed for {SSH_OUTAGE:.0f} s: {killed}")

    timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    timer.start()
    striker: threading.Thread | None = None
    denied = 0
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if striker is None and banner.search(line):
                striker = threading.Thread(target=strike)
                striker.start()
        process.wait()
    finally:
        timer.cancel()
        if striker is not None:
            striker.join()
        if mode == "fail" and point.fail == "aws":
            denied = sum(int(rule.get("hits", 0)) for rule in clear_faults())  # type: ignore[call-overload]
    return FaultRun(
        point=point,
        mode=mode,
        returncode=process.returncode,
        stdout="".join(lines),
        struck_at=struck[0] if struck else None,
        detail="; ".join(details) or "the point was never reached",
        denied=denied,
    )
