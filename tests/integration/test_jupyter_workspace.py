"""The data scientist's work survives what ECS does to the Jupyter task (issue 17).

A file and a notebook written through the Jupyter API into the folder JupyterLab opens
(/home/jovyan/work, the deployment's EFS file system) are read back byte for byte after the
container is killed, after the task is stopped, after its instance is terminated (the Spot
Fleet replaces it, and the replacement joins the cluster), after site.yml runs again with a new
image (the service gets a new task definition revision), and after pause.yml (no instance) then
site.yml.
On the local target the same Jupyter task definition runs, its EFS volume a folder of the local
ECS agent's (roles/local_stack ecs_agent).
test_site.py's teardown then checks that the work reaches outputs/<name>-work/.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from typing import Any

import pytest
import requests

from tests.integration.conftest import (
    ACCESS_KEY,
    DEPLOYMENT_ARGS,
    DEPLOYMENT_NAME,
    ENDPOINT_URL,
    LOCAL_AGENT_LABEL,
    REGION,
    SECRET_KEY,
    Deployment,
    assert_playbook_ok,
    docker_container_ids,
    recap_changed,
    run_playbook,
)
from tests.integration.jupyter_api import (
    get_file,
    get_notebook,
    login,
    put_file,
    put_notebook,
    wait_until_answers,
)
from tests.resources import count_resources

DN = DEPLOYMENT_NAME
ANSWER_TIMEOUT = float(os.environ.get("ECS_DL_JUPYTER_ANSWER_TIMEOUT", "300"))
# What the tests write, and what test_site.py's teardown finds in outputs/<name>-work/.
WORK_FILE = "survivor.bin"
WORK_BYTES = hashlib.sha256(b"ecs-dl work").digest() * 4096 + b"\x00\xff end"
WORK_NOTEBOOK = "survivor.ipynb"
WORK_CELLS = ["print('kept across tasks')", "x = 41 + 1"]


def jupyter_containers() -> list[str]:
    return docker_container_ids(
        f"com.amazonaws.ecs.cluster={DN}",
        f"com.amazonaws.ecs.task-definition-family={DN}-jupyter",
        LOCAL_AGENT_LABEL,
    )


def inspect(container: str) -> dict[str, Any]:
    result = subprocess.run(
        ["docker", "inspect", container], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)[0]


def session_for(access: Any) -> requests.Session:
    wait_until_answers(access.url, timeout=ANSWER_TIMEOUT, verify=access.certificate)
    return login(access.url, access.password, verify=access.certificate)


def assert_the_work_is_there(access: Any, after: str) -> None:
    session = session_for(access)
    assert get_file(session, access.url, WORK_FILE) == WORK_BYTES, f"{WORK_FILE} after {after}"
    notebook = get_notebook(session, access.url, WORK_NOTEBOOK)
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    assert sources == WORK_CELLS, f"{WORK_NOTEBOOK} after {after}"


def running_task_and_host(ecs: Any, service: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The service's one RUNNING task and the container instance it is placed on."""
    (task_arn,) = ecs.list_tasks(cluster=DN, serviceName=service, desiredStatus="RUNNING")[
        "taskArns"
    ]
    (task,) = ecs.describe_tasks(cluster=DN, tasks=[task_arn])["tasks"]
    (host,) = ecs.describe_container_instances(
        cluster=DN, containerInstances=[task["containerInstanceArn"]]
    )["containerInstances"]
    return task, host


def active_fleet(ec2: Any) -> dict[str, Any]:
    """The deployment's one active Spot Fleet request (found by its Name tag)."""
    (fleet,) = [
        c
        for c in ec2.describe_spot_fleet_requests()["SpotFleetRequestConfigs"]
        if {"Key": "Name", "Value": DN} in c.get("Tags", [])
        and c["SpotFleetRequestState"] == "active"
    ]
    return fleet


def wait_for_a_new_container(old: str, timeout: float = ANSWER_TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [c for c in jupyter_containers() if not old.startswith(c) and c not in old]
        if running:
            return running[0]
        time.sleep(1)
    pytest.fail(f"no new Jupyter container within {timeout:.0f} s of {old}")


@pytest.fixture(scope="module")
def work(deployment: Deployment, jupyter_access: Any) -> Any:
    """The file and the notebook, written once through the API."""
    del deployment
    session = session_for(jupyter_access)
    put_file(session, jupyter_access.url, WORK_FILE, WORK_BYTES)
    put_notebook(session, jupyter_access.url, WORK_NOTEBOOK, WORK_CELLS)
    assert_the_work_is_there(jupyter_access, "writing it")
    return jupyter_access


def test_1_the_work_folder_is_the_deployments_file_system(
    deployment: Deployment, aws_client: Any, work: Any
) -> None:
    del work
    outputs = deployment.outputs
    system_id = outputs["work"]["file_system_id"]
    ecs = aws_client("ecs")
    definition = ecs.describe_task_definition(taskDefinition=outputs["task_definitions"]["jupyter"])
    volumes = definition["taskDefinition"]["volumes"]
    assert volumes == [
        {
            "name": "work",
            "efsVolumeConfiguration": {
                "fileSystemId": system_id,
                "rootDirectory": "/",
                "transitEncryption": "ENABLED",
                "authorizationConfig": {
                    "accessPointId": outputs["work"]["access_point_id"],
                    "iam": "ENABLED",
                },
            },
        }
    ]
    (container,) = jupyter_containers()
    mounts = {m["Destination"]: m for m in inspect(container)["Mounts"]}
    mount = mounts["/home/jovyan/work"]
    assert mount["Type"] == "bind" and mount["RW"] is True
    assert f"/efs/{system_id}/" in mount["Source"]
    # The bytes are on the file system's folder, not in the container's layer.
    source = os.path.join(mount["Source"], WORK_FILE)
    with open(source, "rb") as stream:
        assert stream.read() == WORK_BYTES
    # The sample notebooks were copied there on the first start.
    assert os.path.isfile(os.path.join(mount["Source"], "classify.ipynb"))


def test_2_the_work_survives_a_killed_container(work: Any) -> None:
    (container,) = jupyter_containers()
    started = time.monotonic()
    subprocess.run(["docker", "kill", container], capture_output=True, timeout=60, check=True)
    wait_for_a_new_container(container)
    assert_the_work_is_there(work, "the container was killed")
    seconds = time.monotonic() - started
    print(f"killed Jupyter container -> the work readable again: {seconds:.1f} s")


def test_3_the_work_survives_a_stopped_task(deployment: Deployment, aws_client: Any, work) -> None:
    ecs = aws_client("ecs")
    service = deployment.outputs["jupyter"]["service"]
    (task,) = ecs.list_tasks(cluster=DN, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    (container,) = jupyter_containers()
    ecs.stop_task(cluster=DN, task=task, reason="test: the work must survive")
    wait_for_a_new_container(container)
    assert_the_work_is_there(work, "the task was stopped")


def test_3b_the_work_survives_the_instance_terminated_and_replaced(
    deployment: Deployment, aws_client: Any, work: Any
) -> None:
    """The Jupyter task's instance terminated (as a Spot interruption does): ECS makes its
    container instance INACTIVE and stops the task, the fleet launches a replacement whose user
    data joins the cluster, and the service's new task there reads the work."""
    ec2, ecs = aws_client("ec2"), aws_client("ecs")
    service = deployment.outputs["jupyter"]["service"]
    _, old = running_task_and_host(ecs, service)
    fleet_id = active_fleet(ec2)["SpotFleetRequestId"]
    (container,) = jupyter_containers()

    ec2.terminate_instances(InstanceIds=[old["ec2InstanceId"]])
    new_container = wait_for_a_new_container(container)
    assert container not in jupyter_containers(), "the terminated instance's container is left"
    assert_the_work_is_there(work, "the instance was terminated and replaced")

    active = ec2.describe_spot_fleet_instances(SpotFleetRequestId=fleet_id)["ActiveInstances"]
    (replacement,) = [i["InstanceId"] for i in active]
    assert replacement != old["ec2InstanceId"]
    # deregistered: INACTIVE on AWS for a while, gone at once in moto; never ACTIVE
    listed = ecs.list_container_instances(cluster=DN, status="ACTIVE")["containerInstanceArns"]
    assert old["containerInstanceArn"] not in listed
    new_task, host = running_task_and_host(ecs, service)
    assert host["ec2InstanceId"] == replacement and host["status"] == "ACTIVE"
    labels = inspect(new_container)["Config"]["Labels"]
    assert labels["com.amazonaws.ecs.task-arn"] == new_task["taskArn"]


def reread_outputs(deployment: Deployment) -> None:
    """site.yml ran again: the shared deployment's outputs (new task definition revisions, a new
    instance after a resume) are the file it wrote, for the tests after these."""
    deployment.outputs = json.loads(deployment.outputs_path.read_text())


def test_4_the_work_survives_site_yml_with_a_new_image(deployment: Deployment, work: Any) -> None:
    """site.yml again with another build argument: a new image, new task definition revisions,
    the service's task replaced."""
    (container,) = jupyter_containers()
    result = run_playbook(
        "site.yml", *DEPLOYMENT_ARGS, "-e", json.dumps({"image_build_args": {"ECSDL_WORK": "1"}})
    )
    assert_playbook_ok(result, "site.yml with a new image", "site-new-image.log")
    assert container not in jupyter_containers(), "site.yml with a new image kept the old task"
    assert_the_work_is_there(work, "site.yml with a new image")
    # and back to the deployment's own image, for the tests after these
    result = run_playbook("site.yml", *DEPLOYMENT_ARGS)
    assert_playbook_ok(result, "site.yml with the image again", "site-image-again.log")
    reread_outputs(deployment)
    assert_the_work_is_there(work, "site.yml with the image again")


def test_5_pause_keeps_the_work_and_site_yml_brings_it_back(
    deployment: Deployment, aws_client: Any, work: Any
) -> None:
    """pause.yml: no instance, no task (nothing that costs by the hour), the fleet request, the
    service and the workspace kept; site.yml resumes with the work where it was."""
    ec2, ecs = aws_client("ec2"), aws_client("ecs")
    outputs = deployment.outputs
    paused = run_playbook("playbooks/pause.yml", *DEPLOYMENT_ARGS)
    assert_playbook_ok(paused, "pause.yml", "pause.log")
    ended = time.monotonic()
    assert "is paused" in paused.stdout
    counts = count_resources(ENDPOINT_URL, REGION, DN, ACCESS_KEY, SECRET_KEY)
    assert counts["instances"] == 0 and counts["ecs_tasks"] == 0, counts
    assert counts["spot_fleet_requests"] == 1 and counts["ecs_services"] == 1, counts
    assert (counts["efs_file_systems"], counts["efs_access_points"]) == (1, 1), counts
    assert active_fleet(ec2)["SpotFleetRequestConfig"]["TargetCapacity"] == 0
    (service,) = ecs.describe_services(cluster=DN, services=[outputs["jupyter"]["service"]])[
        "services"
    ]
    assert service["desiredCount"] == 0
    assert jupyter_containers() == []
    again = run_playbook("playbooks/pause.yml", *DEPLOYMENT_ARGS)
    assert_playbook_ok(again, "pause.yml again", "pause-2.log")
    assert recap_changed(again.stdout) == 0, "a second pause.yml changed something"

    resumed = run_playbook("site.yml", *DEPLOYMENT_ARGS)
    assert_playbook_ok(resumed, "site.yml after pause.yml", "site-resumed.log")
    reread_outputs(deployment)
    wait_until_answers(work.url, timeout=ANSWER_TIMEOUT, verify=work.certificate)
    print(f"pause.yml's end -> Jupyter answering after site.yml: {time.monotonic() - ended:.1f} s")
    assert_the_work_is_there(work, "pause.yml then site.yml")
    counts = count_resources(ENDPOINT_URL, REGION, DN, ACCESS_KEY, SECRET_KEY)
    assert counts["instances"] == 1 and counts["ecs_tasks"] == 1, counts


def test_6_the_archive_task_reads_the_work_only(deployment: Deployment, aws_client: Any) -> None:
    """teardown's copy: the work-archive definition mounts the same file system read-only."""
    ecs = aws_client("ecs")
    definition = ecs.describe_task_definition(taskDefinition=f"{DN}-work-archive")["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    assert container["mountPoints"] == [
        {"sourceVolume": "work", "containerPath": "/home/jovyan/work", "readOnly": True}
    ]
    fs = definition["volumes"][0]["efsVolumeConfiguration"]["fileSystemId"]
    assert fs == deployment.outputs["work"]["file_system_id"]
