"""Every container of the deployment has a hard memory limit as well as its reservation.

A soft reservation alone let one predict task (a decompression bomb, a huge model) or one
notebook take the instance's whole memory, and the kernel's OOM killer then picks any process
of the instance, the ECS agent included. With `memory` the container alone is killed.

The task_definitions role registers its definitions against the local target's moto
(moto_launcher.py on a free port; tests/integration/playbooks/task_definitions.yml stands in
for the roles before it), and the local ECS agent turns the registered limit into docker's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.conftest import moto_launcher
from tests.integration.conftest import failure_message

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "tests" / "integration" / "playbooks" / "task_definitions.yml"
DEFAULTS = yaml.safe_load(
    (REPO_ROOT / "roles" / "task_definitions" / "defaults" / "main.yml").read_text()
)
NAME = "unit-memory"
FAMILIES = {
    "jupyter": "jupyter",
    "predict": "predict",
    "train": "train",
    "dist": "train-dist",
    "import": "import",
    "archive": "work-archive",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


def register(endpoint: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOK),
         "-e", f"deployment_name={NAME}", "-e", f"aws_endpoint_url={endpoint}", *extra],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO_ROOT, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def containers(endpoint: str) -> dict[str, dict[str, Any]]:
    """The registered container definition of each family key."""
    result = register(endpoint)
    assert result.returncode == 0, result.stdout[-3000:]
    ecs = boto3.client(
        "ecs", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    return {
        key: ecs.describe_task_definition(taskDefinition=f"{NAME}-{family}")["taskDefinition"][
            "containerDefinitions"
        ][0]
        for key, family in FAMILIES.items()
    }


@pytest.mark.parametrize("key", list(FAMILIES))
def test_each_container_has_a_hard_limit_above_its_reservation(
    containers: dict[str, dict[str, Any]], key: str
) -> None:
    container = containers[key]
    assert container.get("memory") == DEFAULTS["task_definitions_memory"][key], container
    assert container["memoryReservation"] == DEFAULTS["task_definitions_memory_reservation"][key]
    assert container["memory"] > container["memoryReservation"]


def test_the_limits_fit_the_default_instances() -> None:
    """Jupyter's limit with the largest one-shot task's fits an m5.large (the default fleet's
    smallest type: 8 GiB, of which ECS offers a task about 7.3 GiB)."""
    limits = DEFAULTS["task_definitions_memory"]
    assert limits["jupyter"] + max(limits["predict"], limits["train"]) <= 7400
    # predict holds the largest picture classify decodes (about 800 MB) beside MXNet and a model
    assert limits["predict"] >= 2048


def test_the_local_agent_gives_docker_the_hard_limit(
    containers: dict[str, dict[str, Any]], agent_module: Any
) -> None:
    agent = agent_module.Agent(
        endpoint="http://127.0.0.1:1", region="us-east-1", agent_id="unit",
        state_dir=Path("/nonexistent"), docker_host="unix:///nonexistent",
        host_ip="127.0.0.1", cleanup_wait=1.0,
    )  # fmt: skip
    task = {
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef",
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
    }
    options = agent._run_options(
        {"family": f"{NAME}-predict", "revision": 1},
        containers["predict"],
        {},
        task,
        {},
        "0123456789abcdef",
    )
    assert options["mem_limit"] == f"{DEFAULTS['task_definitions_memory']['predict']}m"
    assert (
        options["mem_reservation"]
        == f"{DEFAULTS['task_definitions_memory_reservation']['predict']}m"
    )


@pytest.mark.parametrize(
    ("predict", "message"),
    [
        (
            256,
            "task_definitions_memory.predict=256: the hard limit (MiB) must be more than the"
            " reservation, 512",
        ),
        ("lots", "task_definitions_memory.predict=lots: not a whole number of MiB"),
    ],
)
def test_a_limit_not_above_its_reservation_is_refused_in_one_line(
    endpoint: str, predict: Any, message: str
) -> None:
    limits = {**DEFAULTS["task_definitions_memory"], "predict": predict}
    result = register(endpoint, "-e", json.dumps({"task_definitions_memory": limits}))
    assert result.returncode != 0
    assert failure_message(result.stdout) == message
