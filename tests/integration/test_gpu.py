"""GPU instance types: what they change, made by the real roles against the local target.

tests/integration/playbooks/gpu_settings.yml runs preflight's instance type check, the
spot_fleet role's AMI lookup and launch template, the image_build role's build arguments and
the task_definitions role against the local endpoint (moto) for a deployment of its own, with
GPU and with CPU instance types; nothing is built or run (no GPU here, and the CUDA build of
MXNet would not load without one). The checks read what the roles made through the AWS APIs.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import assert_playbook_ok, run_playbook, tail

PLAYBOOK = "tests/integration/playbooks/gpu_settings.yml"
Client = Callable[[str], Any]
GPU_AMI = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
CPU_AMI = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"


def settings(
    name: str, types: list[str], report: Path, **extra: Any
) -> subprocess.CompletedProcess[str]:
    return run_playbook(
        PLAYBOOK,
        "-e",
        f"deployment_name={name}",
        "-e",
        json.dumps({"spot_fleet_instance_types": types, **extra}),
        "-e",
        f"report={report}",
    )


# gpu-jupyter: Jupyter asks for a GPU too (jupyter_gpus 1), on a fleet of two GPU instances.
KINDS = {
    "gpu": (["g4dn.xlarge", "g5.xlarge"], {}),
    "cpu": (["m5.large", "m5a.large"], {}),
    "gpu-jupyter": (["g4dn.xlarge"], {"jupyter_gpus": 1, "spot_fleet_target_capacity": 2}),
}


@pytest.fixture(scope="module", params=list(KINDS))
def rendered(
    request: pytest.FixtureRequest, local_stack: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any]]]:
    del local_stack
    kind = request.param
    name = f"ecs-dl-{kind.replace('-', '')}set"
    types, extra = KINDS[kind]
    report = tmp_path_factory.mktemp(kind) / "settings.json"
    result = settings(name, types, report, **extra)
    try:
        assert_playbook_ok(result, f"gpu_settings.yml for {types}", f"gpu-settings-{kind}.log")
        yield kind, json.loads(report.read_text())
    finally:
        removed = run_playbook(PLAYBOOK, "-e", f"deployment_name={name}", "-e", "state=absent")
        assert_playbook_ok(
            removed, "gpu_settings.yml state=absent", f"gpu-settings-{kind}-absent.log"
        )


def test_the_ami_comes_from_the_gpu_optimized_parameter(
    rendered: tuple[str, dict[str, Any]], aws_client: Client
) -> None:
    kind, report = rendered
    gpu = kind.startswith("gpu")
    expected = GPU_AMI if gpu else CPU_AMI
    assert report["instance_gpus"] == (1 if gpu else 0)
    assert report["ami_parameter"] == expected
    ssm = aws_client("ssm")
    assert report["image_id"] == ssm.get_parameter(Name=expected)["Parameter"]["Value"]
    other = CPU_AMI if gpu else GPU_AMI
    assert report["image_id"] != ssm.get_parameter(Name=other)["Parameter"]["Value"]

    ec2 = aws_client("ec2")
    version = ec2.describe_launch_template_versions(
        LaunchTemplateId=report["launch_template_id"], Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert version["ImageId"] == report["image_id"]
    user_data = base64.b64decode(version["UserData"]).decode()
    assert ("ECS_ENABLE_GPU_SUPPORT=true" in user_data) == gpu, user_data
    assert "ECS_CLUSTER=" in user_data


def test_the_image_is_built_with_the_cuda_build_of_mxnet(
    rendered: tuple[str, dict[str, Any]],
) -> None:
    kind, report = rendered
    expected = "mxnet-cu112==1.9.1" if kind.startswith("gpu") else "mxnet==1.9.1"
    assert report["build_args"]["MXNET_PACKAGE"] == expected


def test_the_train_tasks_ask_for_a_gpu_and_jupyter_only_when_told(
    rendered: tuple[str, dict[str, Any]], aws_client: Client
) -> None:
    kind, report = rendered
    ecs = aws_client("ecs")
    asked = {}
    for key, arn in report["task_definitions"].items():
        container = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"][
            "containerDefinitions"
        ][0]
        asked[key] = container.get("resourceRequirements", [])
    gpu = [{"type": "GPU", "value": "1"}]
    # the distributed job's workers get theirs through train.yml's overrides. Jupyter asks for
    # none by default: with one GPU per instance and one instance it would hold the only GPU and
    # every train task would wait for RESOURCE:GPU.
    none = {"predict": [], "dist": [], "import": [], "archive": []}
    expected = {
        "gpu": {"jupyter": [], "train": gpu, **none},
        "gpu-jupyter": {"jupyter": gpu, "train": gpu, **none},
        "cpu": {"jupyter": [], "train": [], **none},
    }[kind]
    assert asked == expected


def test_a_fleet_mixing_gpu_and_cpu_types_is_refused_before_anything_is_made(
    local_stack: Any, tmp_path: Path, aws_client: Client
) -> None:
    del local_stack
    result = settings("ecs-dl-mixset", ["g4dn.xlarge", "m5.large"], tmp_path / "r.json")
    assert result.returncode != 0
    assert (
        "spot_fleet_instance_types mixes GPU instance types (g4dn.xlarge: 1 GPU) with types "
        "without GPUs (m5.large)" in result.stdout
    ), tail(result.stdout)
    templates = aws_client("ec2").describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": ["ecs-dl-mixset-ecs-instance"]}]
    )["LaunchTemplates"]
    assert templates == []


@pytest.mark.parametrize(
    ("types", "extra", "message"),
    [
        (
            ["g4dn.xlarge"],
            {"jupyter_gpus": 1},
            "jupyter_gpus is 1: the Jupyter service would take the only GPU of the fleet "
            "(1 instance(s) of 1 GPU) and every train task would fail with RESOURCE:GPU",
        ),
        (
            ["m5.large"],
            {"jupyter_gpus": 1, "spot_fleet_target_capacity": 2},
            "jupyter_gpus is 1 but the instance types have no GPU",
        ),
        (["g4dn.xlarge"], {"jupyter_gpus": 2}, "jupyter_gpus is 2: it must be 0 or 1."),
    ],
    ids=["only-gpu", "no-gpu", "two"],
)
def test_a_jupyter_gpu_that_leaves_none_for_training_is_refused_before_anything_is_made(
    local_stack: Any,
    tmp_path: Path,
    aws_client: Client,
    types: list[str],
    extra: dict[str, Any],
    message: str,
) -> None:
    del local_stack
    result = settings("ecs-dl-jgpuset", types, tmp_path / "r.json", **extra)
    assert result.returncode != 0
    assert message in " ".join(result.stdout.split()), tail(result.stdout)
    assert "Nothing was created." in result.stdout, tail(result.stdout)
    templates = aws_client("ec2").describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": ["ecs-dl-jgpuset-ecs-instance"]}]
    )["LaunchTemplates"]
    assert templates == []
    families = aws_client("ecs").list_task_definition_families(familyPrefix="ecs-dl-jgpuset")
    assert families["families"] == []
