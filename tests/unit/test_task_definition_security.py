"""A task definition's security settings, from the registration to the container.

- the local ECS agent (roles/local_stack/files/ecs_agent.py) turns `user`, `privileged`,
  `linuxParameters.capabilities` and `readonlyRootFilesystem` into docker's options as the ECS
  agent does (no docker needed: the options are a pure function of the definition);
- community.aws.ecs_taskdefinition registers them, the local target's moto (moto_launcher.py on
  a free port) keeps them, and a second run with the same containers registers no new revision.

tests/integration/test_ecs_agent.py checks the same settings on real containers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import moto_launcher

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
TASK = {
    "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef",
    "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
}
DEFINITION = {"family": "f", "revision": 3}
# What the task_definitions role gives every container (roles/task_definitions/vars/main.yml).
HARDENED = {
    "user": "61000",
    "privileged": False,
    "linuxParameters": {"capabilities": {"drop": ["ALL"]}},
}


def run_options(
    agent_module: Any, definition: dict[str, Any] | None = None, **container: Any
) -> dict[str, Any]:
    agent = agent_module.Agent(
        endpoint="http://127.0.0.1:1",
        region=REGION,
        agent_id="unit",
        state_dir=Path("/nonexistent"),
        docker_host="unix:///nonexistent",
        host_ip="127.0.0.1",
        cleanup_wait=1.0,
    )
    spec = {"name": "main", "image": "img", **container}
    return agent._run_options(definition or DEFINITION, spec, {}, TASK, {}, "0123456789abcdef")


@pytest.mark.parametrize(
    ("container", "expected", "absent"),
    [
        (
            HARDENED,
            {"user": "61000", "privileged": False, "cap_drop": ["ALL"]},
            ("cap_add", "read_only"),
        ),
        # privileged and capabilities.add stop the task before this (ecs_agent.refusal); were
        # they to get here, docker would still get neither.
        (
            {"privileged": True, "readonlyRootFilesystem": True},
            {"privileged": False, "read_only": True},
            ("user", "cap_add", "cap_drop"),
        ),
        (
            {"linuxParameters": {"capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]}}},
            {"privileged": False, "cap_drop": ["NET_RAW"]},
            ("user", "read_only", "cap_add"),
        ),
        (
            {"linuxParameters": {"initProcessEnabled": False}, "readonlyRootFilesystem": False},
            {"privileged": False},
            ("user", "cap_add", "cap_drop", "read_only"),
        ),
        ({}, {"privileged": False}, ("user", "cap_add", "cap_drop", "read_only")),
    ],
    ids=["hardened", "privileged-read-only", "add-and-drop", "explicitly-off", "nothing-set"],
)
def test_the_agent_gives_docker_the_definitions_security_settings(
    agent_module: Any, container: dict[str, Any], expected: dict[str, Any], absent: tuple[str, ...]
) -> None:
    options = run_options(agent_module, **container)
    assert {key: options.get(key) for key in expected} == expected
    assert [key for key in absent if key in options] == []


def test_what_reaches_the_host_is_never_given_to_docker(agent_module: Any) -> None:
    """Host volumes, devices, the host's namespaces, security options: docker gets none of
    them from a definition (issue 15: keep host volumes ignored)."""
    container = {
        **HARDENED,
        "mountPoints": [{"sourceVolume": "root", "containerPath": "/host"}],
        "linuxParameters": {
            "capabilities": {"drop": ["ALL"]},
            "devices": [{"hostPath": "/dev/mem", "containerPath": "/dev/mem"}],
        },
        "dockerSecurityOptions": ["apparmor:unconfined", "seccomp:unconfined"],
        "systemControls": [{"namespace": "kernel.shm_rmid_forced", "value": "0"}],
        "ulimits": [{"name": "nofile", "softLimit": 1, "hardLimit": 1}],
    }
    definition = {
        **DEFINITION,
        "pidMode": "host",
        "ipcMode": "host",
        "volumes": [{"name": "root", "host": {"sourcePath": "/"}}],
    }
    options = run_options(agent_module, definition, **container)
    reaching = {
        "volumes",
        "mounts",
        "devices",
        "pid_mode",
        "ipc_mode",
        "security_opt",
        "sysctls",
        "ulimits",
        "network_mode",
        "userns_mode",
        "cgroupns",
        "device_requests",
        "cap_add",
    }
    assert not reaching & set(options), options
    assert options["privileged"] is False
    assert "/host" not in json.dumps(options) and "/dev/mem" not in json.dumps(options)


# -- registration through community.aws.ecs_taskdefinition, against the local target's moto --
@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_launcher() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def ecs_taskdefinition(
    endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., dict[str, Any]]:
    """Run community.aws.ecs_taskdefinition as Ansible runs it (module file, args JSON)."""
    # community.aws's ansible_collections (the `ansible` package's), not the project's collections/.
    spec = importlib.util.find_spec("ansible_collections.community.aws")
    assert spec and spec.submodule_search_locations, "community.aws is not installed"
    root = Path(list(spec.submodule_search_locations)[0]).parents[1]
    module = root / "community" / "aws" / "plugins" / "modules" / "ecs_taskdefinition.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root.parent)]))}
    args_file = tmp_path_factory.mktemp("args") / "args.json"

    def run(**args: Any) -> dict[str, Any]:
        connection = {
            "region": REGION,
            "endpoint_url": endpoint,
            "access_key": CREDENTIALS["aws_access_key_id"],
            "secret_key": CREDENTIALS["aws_secret_access_key"],
        }
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**connection, **args}}))
        proc = subprocess.run(
            [sys.executable, str(module), str(args_file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        result = json.loads(proc.stdout)
        assert proc.returncode == 0 and not result.get("failed"), result.get("msg", proc.stderr)
        return result

    return run


def test_the_settings_are_registered_kept_and_idempotent(
    endpoint: str, ecs_taskdefinition: Callable[..., dict[str, Any]]
) -> None:
    container = {
        "name": "jupyter",
        "image": "registry.example/ecs-dl/mxnet:1",
        "essential": True,
        "memoryReservation": 64,
        "portMappings": [{"containerPort": 2222, "hostPort": 2222, "protocol": "tcp"}],
        **HARDENED,
    }
    arguments = {
        "family": "security",
        "network_mode": "bridge",
        "containers": [container],
        "state": "present",
    }
    first = ecs_taskdefinition(**arguments)
    assert first["changed"] is True
    second = ecs_taskdefinition(**arguments)
    assert second["changed"] is False, "the same containers made a new revision"
    assert second["taskdefinition"]["revision"] == first["taskdefinition"]["revision"]

    described = boto3.client("ecs", region_name=REGION, endpoint_url=endpoint, **CREDENTIALS)
    kept = described.describe_task_definition(
        taskDefinition=first["taskdefinition"]["taskDefinitionArn"]
    )["taskDefinition"]["containerDefinitions"][0]
    assert {key: kept.get(key) for key in HARDENED} == HARDENED
