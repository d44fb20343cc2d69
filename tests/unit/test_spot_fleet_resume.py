"""spot_fleet's resume and joined entry points (teardown.yml's instance for the work's archive
task after pause.yml) against moto: a paused fleet is scaled to one instance, which joins the
cluster; a cluster that has an instance is left as it is; no fleet is one clear error."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.conftest import failure_message

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "tests" / "integration" / "playbooks" / "spot_fleet_resume.yml"
NAME = "unit-resume"


def play(endpoint: str, report: Path, name: str = NAME) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOK),
         "-e", f"deployment_name={name}", "-e", f"aws_endpoint_url={endpoint}",
         "-e", f"cluster={name}", "-e", f"report={report}"],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO_ROOT, env=env,
    )  # fmt: skip


def changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


def active_instances(ecs: Any, cluster: str) -> list[str]:
    arns = ecs.list_container_instances(cluster=cluster, status="ACTIVE")["containerInstanceArns"]
    if not arns:
        return []
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
    return sorted(i["ec2InstanceId"] for i in described["containerInstances"])


def test_a_paused_fleet_gets_one_instance_that_joins_then_nothing_changes(
    moto_endpoint: str, aws: Callable[[str], Any], run_module, network: dict, tmp_path: Path
) -> None:
    ecs = aws("ecs")
    ecs.create_cluster(clusterName=NAME)
    made = run_module(
        "ec2_spot_fleet", name=NAME, target_capacity=1,
        iam_fleet_role="arn:aws:iam::123456789012:role/unit-resume-spot-fleet",
        launch_template_id=network["launch_template_id"], instance_types=["m5.large"],
        subnet_ids=network["subnets"], wait_timeout=60,
    )  # fmt: skip
    run_module("ec2_spot_fleet", name=NAME, target_capacity=0, only_capacity=True, wait_timeout=60)
    assert active_instances(ecs, NAME) == []

    resumed = play(moto_endpoint, tmp_path / "resumed.json")
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    report = json.loads((tmp_path / "resumed.json").read_text())
    assert report["resumed"] is True
    (instance,) = report["instance_ids"]
    assert instance not in made["instance_ids"]
    assert active_instances(ecs, NAME) == [instance]
    (fleet,) = [
        c
        for c in aws("ec2").describe_spot_fleet_requests()["SpotFleetRequestConfigs"]
        if c["SpotFleetRequestId"] == made["spot_fleet_request_id"]
    ]
    assert fleet["SpotFleetRequestConfig"]["TargetCapacity"] == 1

    # The cluster has its instance (an interrupted teardown had started it): left as it is.
    again = play(moto_endpoint, tmp_path / "again.json")
    assert again.returncode == 0, again.stdout[-4000:]
    assert json.loads((tmp_path / "again.json").read_text())["resumed"] is False
    assert changed(again.stdout) == 1, again.stdout[-4000:]  # the report file only
    assert active_instances(ecs, NAME) == [instance]


def test_no_instance_and_no_fleet_is_one_clear_error(
    moto_endpoint: str, aws: Callable[[str], Any], tmp_path: Path
) -> None:
    """A teardown after the fleet was cancelled, with work still to copy: nothing to start."""
    aws("ecs").create_cluster(clusterName=f"{NAME}-none")
    result = play(moto_endpoint, tmp_path / "none.json", name=f"{NAME}-none")
    assert result.returncode != 0
    assert failure_message(result.stdout) == (
        f"No Spot Fleet request named {NAME}-none to scale to 1: deploy it first (site.yml)."
    )
    assert not (tmp_path / "none.json").exists()
