"""The outputs: every command they print is right for the deployment's target, and
playbooks/outputs.yml prints them again from the live deployment, changing nothing."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    Deployment,
    assert_playbook_ok,
    recap_changed,
    run_playbook,
    tail,
)

Client = Callable[[str], Any]
COMMANDS_PLAYBOOK = "tests/integration/playbooks/commands.yml"


def commands_for(tmp_path: Path, *args: str) -> dict[str, str]:
    """The commands the outputs role writes for these inventory and -e arguments."""
    report = tmp_path / "commands.json"
    result = run_playbook(COMMANDS_PLAYBOOK, *args, "-e", f"report={report}")
    assert_playbook_ok(result, f"{COMMANDS_PLAYBOOK} {' '.join(args)}")
    return json.loads(report.read_text())


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        ((), "ansible-playbook"),
        (("-e", "deployment_name=lab"), "ansible-playbook -e deployment_name=lab"),
        (
            ("-i", "inventory/aws", "-e", "aws_region=eu-west-1"),
            "ansible-playbook -i inventory/aws -e aws_region=eu-west-1",
        ),
        (
            ("-i", "inventory/aws", "-e", "aws_region=eu-west-1", "-e", "deployment_name=lab",
             "-e", "aws_profile=work"),
            "ansible-playbook -i inventory/aws -e aws_region=eu-west-1 -e deployment_name=lab"
            " -e aws_profile=work",
        ),
    ],
    ids=["local-default", "local-named", "aws", "aws-named-profile"],
)  # fmt: skip
def test_the_commands_carry_what_their_target_needs(
    tmp_path: Path, args: tuple[str, ...], prefix: str
) -> None:
    commands = commands_for(tmp_path, *args, "-e", "source_cidr=203.0.113.7/32")
    assert commands["teardown"] == f"{prefix} teardown.yml"
    assert commands["predict"] == f"{prefix} playbooks/predict.yml -e image=PATH_OR_URL"
    assert commands["train"] == f"{prefix} playbooks/train.yml"
    assert commands["outputs"] == f"{prefix} playbooks/outputs.yml"
    assert commands["pause"] == f"{prefix} playbooks/pause.yml"
    on_aws = "inventory/aws" in args
    site = f"{prefix} -e source_cidr=203.0.113.7/32 site.yml" if on_aws else f"{prefix} site.yml"
    assert commands["site"] == site


def test_site_prints_the_commands_of_its_deployment(deployment: Deployment) -> None:
    """The test deployment is not the inventory's: every command names it."""
    commands = deployment.outputs["commands"]
    for name, command in commands.items():
        assert shlex.split(command)[:3] == [
            "ansible-playbook",
            "-e",
            f"deployment_name={deployment.name}",
        ], name
    printed = " ".join(deployment.stdout.split())
    assert f"Remove everything: {commands['teardown']}" in printed
    assert f"These outputs: {commands['outputs']}" in printed


def test_outputs_playbook_reads_the_live_deployment_and_changes_nothing(
    deployment: Deployment, aws_client: Client
) -> None:
    """The printed command, run as printed: changed=0, and what it prints is the deployment as
    ECS and SSM describe it now (the Jupyter task's instance, the model)."""
    result = run_playbook(*shlex.split(deployment.outputs["commands"]["outputs"])[1:])
    assert_playbook_ok(result, "the printed outputs command", "outputs.log")
    assert recap_changed(result.stdout) == 0, tail(result.stdout)
    printed = " ".join(result.stdout.split())
    jupyter = deployment.outputs["jupyter"]
    assert f"Jupyter: {jupyter['url']}" in printed, tail(result.stdout)
    assert f"Certificate: {jupyter['certificate']} (SHA-256 {jupyter['certificate_sha256']})" in (
        printed
    )
    assert f"curl --cacert {jupyter['certificate']} {jupyter['url']}" in printed
    assert f"Model: {deployment.outputs['model']['source']}" in printed
    assert (
        f"Shell in the container: {' '.join(deployment.outputs['ssh']['container'].split())}"
        in printed
    )
    ecs = aws_client("ecs")
    arns = ecs.list_tasks(cluster=deployment.outputs["cluster"], serviceName=jupyter["service"])[
        "taskArns"
    ]
    task = ecs.describe_tasks(cluster=deployment.outputs["cluster"], tasks=arns)["tasks"][0]
    instance = ecs.describe_container_instances(
        cluster=deployment.outputs["cluster"], containerInstances=[task["containerInstanceArn"]]
    )["containerInstances"][0]["ec2InstanceId"]
    assert (
        f"'instance_id': '{instance}'" in result.stdout
        or f"instance_id: {instance}" in result.stdout
    )


def test_outputs_playbook_without_a_deployment_says_so(tmp_path: Path) -> None:
    result = run_playbook("playbooks/outputs.yml", "-e", "deployment_name=ecs-dl-none")
    assert result.returncode != 0
    assert "No outputs of deployment ecs-dl-none on this machine" in " ".join(result.stdout.split())
