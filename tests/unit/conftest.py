"""Shared pytest setup for the unit tests: fixtures that run the project's modules (the collection
ecs_dl.deep_learning, importable as ansible_collections.ecs_dl.deep_learning through pyproject's
pythonpath), as Ansible does, against the moto server of the `moto_endpoint` fixture
(tests/conftest.py's in-process moto; a test module may override it, e.g. with the local
target's moto_launcher)."""

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

ROOT = Path(__file__).resolve().parents[2]
# The parent of ansible_collections/ecs_dl/deep_learning (ansible.cfg's collections_path).
COLLECTIONS = ROOT / "collections"
MODULES = COLLECTIONS / "ansible_collections" / "ecs_dl" / "deep_learning" / "plugins" / "modules"
AGENT = ROOT / "roles" / "local_stack" / "files" / "ecs_agent.py"

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def run_library_module(
    module: str,
    args: dict[str, Any],
    args_file: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: int = 120,
    launcher: list[str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run the collection's plugins/modules/<module>.py as Ansible runs it after unpacking it:
    `python <module>.py args.json`, with `{"ANSIBLE_MODULE_ARGS": args}` in args_file and the
    given environment (this process's when None) plus the collection on PYTHONPATH (its
    module_utils, which Ansible packs with the module), or through `launcher` (a program given
    the module's path and the args file last). Returns its exit code and result; fails the test
    on a traceback or when it prints no JSON."""
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(COLLECTIONS), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [*(launcher or [sys.executable]), str(MODULES / f"{module}.py"), str(args_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"{module} printed no JSON: stdout={proc.stdout!r} stderr={proc.stderr!r}")
    return proc.returncode, result


@pytest.fixture(scope="module")
def agent_module() -> Iterator[Any]:
    """The local ECS agent (roles/local_stack/files/ecs_agent.py), imported as `ecs_agent`."""
    spec = importlib.util.spec_from_file_location("ecs_agent", AGENT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["ecs_agent"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("ecs_agent", None)


def moto_client(service: str, endpoint: str) -> Any:
    """A boto3 client of a moto endpoint."""
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, **CREDENTIALS)


def join_instances(ec2: Any, ecs: Any, cluster: str, count: int, cpu: int, memory: int) -> None:
    """Create `cluster` and register `count` new EC2 instances as its container instances, each
    with `cpu` units and `memory` MiB, as the ECS agent would."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ecs.create_cluster(clusterName=cluster)
    for instance in ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count)["Instances"]:
        ecs.register_container_instance(
            cluster=cluster,
            instanceIdentityDocument=json.dumps(
                {"instanceId": instance["InstanceId"], "region": REGION}
            ),
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
            ],
        )


@pytest.fixture(scope="module")
def aws(moto_endpoint: str) -> Callable[[str], Any]:
    """boto3 clients of the moto endpoint, by service name."""
    return lambda service: moto_client(service, moto_endpoint)


@pytest.fixture(scope="module")
def module_env() -> dict[str, str]:
    """Environment variables added for the modules run_module runs (none here; a test module
    overrides this fixture to set, e.g., botocore's AWS_MAX_ATTEMPTS)."""
    return {}


@pytest.fixture(scope="module")
def run_module(
    moto_endpoint: str, module_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., dict]:
    """Run a module of the collection (run_library_module) with the moto endpoint's connection and
    ansible_collections on PYTHONPATH. run(module, **args) returns its result and asserts that it
    succeeded (or, with expect_failure=True, that it failed); never a traceback."""
    # amazon.aws's ansible_collections (the `ansible` package's), not the project's collections/.
    spec = importlib.util.find_spec("ansible_collections.amazon.aws")
    assert spec and spec.submodule_search_locations, "amazon.aws is not installed"
    collections_parent = str(Path(list(spec.submodule_search_locations)[0]).parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [collections_parent, os.environ.get("PYTHONPATH")])
        ),
        **module_env,
    }
    connection = {
        "region": REGION,
        "endpoint_url": moto_endpoint,
        "access_key": CREDENTIALS["aws_access_key_id"],
        "secret_key": CREDENTIALS["aws_secret_access_key"],
    }
    args_dir = tmp_path_factory.mktemp("module_args")

    def run(module: str, *, expect_failure: bool = False, **args: Any) -> dict:
        returncode, result = run_library_module(
            module, {**connection, **args}, args_dir / f"{module}.json", env=env
        )
        if expect_failure:
            assert returncode != 0 and result.get("failed"), f"{module} succeeded: {result}"
        else:
            assert returncode == 0 and not result.get("failed"), result.get("msg", result)
        return result

    return run


@pytest.fixture(scope="module")
def network(aws: Callable[[str], Any], request: pytest.FixtureRequest) -> dict:
    """Two subnets and a launch template for the Spot Fleet tests. The moto server is the
    session's, so the template is named after the test module (a name is unique per account)."""
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.42.{n}.0/24", AvailabilityZone=f"{REGION}{zone}"
        )["Subnet"]["SubnetId"]
        for n, zone in ((1, "a"), (2, "b"))
    ]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=f"ecs-dl-{request.module.__name__.rpartition('.')[2]}",
        LaunchTemplateData={"ImageId": image},
    )["LaunchTemplate"]["LaunchTemplateId"]
    return {"subnets": subnets, "launch_template_id": template}
