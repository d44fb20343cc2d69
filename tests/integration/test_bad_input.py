"""Bad input stops site.yml in preflight, with a clear one-line message, and creates nothing.

Each case runs the real site.yml against the local target with one bad setting, reads the
message of the task that failed (its `msg`, which must be one line and hold the case's own
fragment), then counts the deployment's resources of every type through the endpoint: all must
be zero. predict.yml's cases give a picture that is not one: it must stop before it looks up the
deployment, uploads or runs anything.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (
    ACCESS_KEY,
    ENDPOINT_URL,
    REGION,
    REPO_ROOT,
    SECRET_KEY,
    assert_failed_clearly,
    playbook_env,
    recap_changed,
    tail,
)
from tests.resources import count_resources

BAD_NAME = "ecs-dl-bad"

# A model_source that is not on this machine (the preflight must name the path it looked for).
MISSING_MODEL = "/nonexistent/ecs-dl-bad/mobilenet_v1_0.5_160"

# (id, extra vars, fragment of the message the user must see)
CASES = [
    (
        "classify-uploads-not-boolean",
        {"classify_uploads": "sometimes"},
        "classify_uploads is 'sometimes': it must be true",
    ),
    ("vpc-cidr-invalid", {"network_vpc_cidr": "10.0.0.0/33"}, "is not a valid IPv4 CIDR block"),
    ("vpc-cidr-host-bits", {"network_vpc_cidr": "10.0.0.1/16"}, "host bits"),
    ("vpc-cidr-too-small", {"network_vpc_cidr": "10.0.0.0/29"}, "AWS allows /16 to /28"),
    ("vpc-cidr-ipv6", {"network_vpc_cidr": "fd00::/48"}, "is IPv6"),
    (
        "subnets-overlap",
        {"network_subnet_cidrs": ["10.0.1.0/24", "10.0.1.128/25"]},
        "overlaps",
    ),
    (
        "subnet-outside-vpc",
        {"network_subnet_cidrs": ["10.0.1.0/24", "192.168.1.0/24"]},
        "is not inside network_vpc_cidr",
    ),
    (
        "subnet-no-prefix",
        {"network_subnet_cidrs": ["10.0.1.0/24", "10.0.2.0"]},
        "network_subnet_cidrs[1] '10.0.2.0' needs a prefix length",
    ),
    ("one-subnet", {"network_subnet_cidrs": ["10.0.1.0/24"]}, "exactly 2"),
    ("region-malformed", {"aws_region": "mars-north-1"}, "is not a region name like"),
    ("region-unknown", {"aws_region": "xx-north-9"}, "is not a region this botocore knows"),
    (
        "instance-type-malformed",
        {"spot_fleet_instance_types": ["large"]},
        "not an EC2 instance type",
    ),
    ("instance-type-unknown", {"spot_fleet_instance_types": ["m5.huge"]}, "m5.huge"),
    ("instance-types-empty", {"spot_fleet_instance_types": []}, "at least one instance type"),
    ("capacity-zero", {"spot_fleet_target_capacity": 0}, "spot_fleet_target_capacity is 0;"),
    ("capacity-negative", {"spot_fleet_target_capacity": -2}, "spot_fleet_target_capacity is -2"),
    ("capacity-too-large", {"spot_fleet_target_capacity": 51}, "is 51; it must be from 1 to 50"),
    (
        "capacity-not-a-number",
        {"spot_fleet_target_capacity": "two"},
        "spot_fleet_target_capacity must be a whole number from 1 to 50, got 'two'",
    ),
    ("source-cidr-open", {"source_cidr": "0.0.0.0/0"}, "allow_open_source_cidr"),
    ("source-cidr-invalid", {"source_cidr": "300.1.2.3/32"}, "source_cidr '300.1.2.3/32'"),
    ("jupyter-port-range", {"jupyter_port": 70000}, "jupyter_port is 70000"),
    ("jupyter-port-not-a-number", {"jupyter_port": "http"}, "jupyter_port must be a port number"),
    ("ssh-port-range", {"container_ssh_port": 70000}, "container_ssh_port is 70000"),
    ("ssh-port-zero", {"container_ssh_port": 0}, "container_ssh_port is 0;"),
    ("ssh-port-negative", {"container_ssh_port": -22}, "container_ssh_port is -22;"),
    ("ssh-port-instance-ssh", {"container_ssh_port": 22}, "which is the instance's own SSH"),
    ("ports-equal", {"jupyter_port": 2222, "container_ssh_port": 2222}, "must differ"),
    ("model-missing", {"model_source": MISSING_MODEL}, f"no file {MISSING_MODEL}-symbol.json"),
    (
        "model-a-file-not-the-prefix",
        {"model_source": f"{MISSING_MODEL}-symbol.json"},
        f"give the prefix '{MISSING_MODEL}'",
    ),
    ("model-s3-url", {"model_source": "s3://models/mobilenet"}, "neither a path on this machine"),
    (
        "model-labels-missing",
        {"model_labels": "/nonexistent/ecs-dl-bad/labels.txt"},
        "model_labels '/nonexistent/ecs-dl-bad/labels.txt': no file",
    ),
]


def run_site(extra_vars: dict[str, object], *args: str, env: dict[str, str] | None = None):
    return run_with_vars("site.yml", extra_vars, *args, env=env)


def run_with_vars(
    playbook: str, extra_vars: dict[str, object], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook PLAYBOOK with the extra vars as one JSON -e (types kept)."""
    return subprocess.run(
        ["ansible-playbook", playbook, "-e", json.dumps(extra_vars), *args],
        cwd=REPO_ROOT,
        env=env or playbook_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )


def assert_only_preflight_ran(result: subprocess.CompletedProcess[str]) -> None:
    """Every task site.yml started belongs to the preflight role, and none changed anything."""
    tasks = [line for line in result.stdout.splitlines() if line.startswith("TASK [")]
    others = [task for task in tasks if not task.startswith("TASK [preflight : ")]
    assert tasks and not others, f"tasks other than preflight's ran: {others}"
    assert recap_changed(result.stdout) == 0


def assert_nothing_created(name: str) -> None:
    counts = count_resources(ENDPOINT_URL, REGION, name, ACCESS_KEY, SECRET_KEY)
    left = {kind: n for kind, n in counts.items() if n}
    assert not left, f"bad input still created {left}"
    assert not (REPO_ROOT / "outputs" / f"{name}.json").exists()
    assert not (REPO_ROOT / ".secrets" / f"{name}.pem").exists()


@pytest.mark.parametrize(("extra", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_in_preflight(local_stack, extra: dict[str, object], fragment: str) -> None:
    result = run_site({"deployment_name": BAD_NAME, **extra})
    assert_failed_clearly(result, fragment)
    assert_only_preflight_ran(result)
    assert_nothing_created(BAD_NAME)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        pytest.param("", "deployment_name is required", id="empty"),
        pytest.param("  ", "deployment_name is required", id="blank"),
        pytest.param("Ecs_DL", "only lowercase letters, digits and hyphens", id="uppercase"),
        pytest.param("ecs_dl!", "only lowercase letters, digits and hyphens", id="illegal-chars"),
        pytest.param("9lives", "must start with a lowercase letter", id="leading-digit"),
        pytest.param("ecs-dl-", "must end with a lowercase letter or digit", id="trailing-hyphen"),
        pytest.param("ab", "is 2 characters long", id="too-short"),
        pytest.param("a" * 30, "is 30 characters long; it must be 3 to 24", id="too-long"),
        pytest.param("ecs--dl", "must not contain '--'", id="double-hyphen"),
    ],
)
def test_bad_deployment_name(local_stack, name: str, fragment: str) -> None:
    result = run_site({"deployment_name": name})
    assert_failed_clearly(result, fragment)
    assert_only_preflight_ran(result)
    if name.strip():
        assert_nothing_created(name)
    # An empty name cannot be counted by (the Deployment tag "" and the SSM path "//" match
    # other deployments'): that only the preflight ran, changing nothing, is the proof.


@pytest.mark.parametrize("keep_work", ["maybe", "", "2"])
def test_teardown_refuses_a_keep_work_that_is_not_a_boolean(local_stack, keep_work: str) -> None:
    """Before anything is deleted: teardown's first role, preflight, refuses it in one line."""
    result = run_with_vars("teardown.yml", {"deployment_name": BAD_NAME, "keep_work": keep_work})
    assert_failed_clearly(result, f"keep_work is '{keep_work}': it must be true")
    assert_only_preflight_ran(result)


@pytest.fixture
def foreign_listener() -> Iterator[int]:
    """A port on loopback held by something that is not one of the local target's services."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_in_use_is_refused_before_anything_starts(local_stack, foreign_listener: int) -> None:
    result = run_site({"deployment_name": BAD_NAME, "local_stack_sshd_port": foreign_listener})
    assert_failed_clearly(result, "local_stack_sshd_port")
    assert str(foreign_listener) in result.stdout
    assert_nothing_created(BAD_NAME)


def test_jupyter_port_in_use_is_refused_before_anything_is_created(
    local_stack, foreign_listener: int
) -> None:
    result = run_site({"deployment_name": BAD_NAME, "jupyter_port": foreign_listener})
    assert_failed_clearly(result, f"jupyter_port {foreign_listener}")
    assert "already in use by another program" in result.stdout
    assert_nothing_created(BAD_NAME)


OTHER_RUNS_PASSWORD = "other-runs-secret-3141"


@pytest.fixture
def other_runs(tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Stand-ins for two ansible-playbook runs of BAD_NAME on this machine: a whole site.yml run
    (its output goes to a terminal or a file) and a worker an interrupted run left (a session of
    its own, its output on /dev/null, its main process gone)."""
    program = tmp_path / "ansible-playbook"
    program.write_text("import time\ntime.sleep(300)\n")
    # with a password on its command line, as a user might give it: it must not be copied
    argv = [
        sys.executable,
        str(program),
        "site.yml",
        "-e",
        f"deployment_name={BAD_NAME}",
        "-e",
        f"jupyter_password={OTHER_RUNS_PASSWORD}",
    ]
    with (tmp_path / "whole.log").open("wb") as log:
        whole = subprocess.Popen(argv, stdout=log, stderr=log)
    orphan = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield {"whole": whole, "orphan": orphan}
    finally:
        for proc in (whole, orphan):
            proc.kill()
            proc.wait()


def test_site_refuses_to_race_another_run_and_stops_an_orphaned_worker(
    local_stack, other_runs: dict[str, subprocess.Popen[bytes]]
) -> None:
    result = run_site({"deployment_name": BAD_NAME})
    whole, orphan = other_runs["whole"], other_runs["orphan"]
    msg = assert_failed_clearly(result, f"Another run of deployment {BAD_NAME} is going")
    assert f"pid {whole.pid}" in msg and f"pid {orphan.pid}" not in msg, msg
    assert orphan.wait(15) == -signal.SIGTERM, "the orphaned worker was not stopped"
    assert f"(pid {orphan.pid})" in result.stdout  # said which it stopped
    assert whole.poll() is None, "the whole run was stopped"
    assert OTHER_RUNS_PASSWORD not in result.stdout, "another run's -e was printed"
    assert_nothing_created(BAD_NAME)


def test_missing_credentials_on_aws(tmp_path) -> None:
    """The AWS inventory without credentials: one clear line, no botocore trace, nothing made."""
    env = {k: v for k, v in playbook_env().items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(tmp_path),
    )
    result = run_site(
        {"deployment_name": BAD_NAME, "source_cidr": "203.0.113.7/32"},
        "-i",
        "inventory/aws",
        env=env,
    )
    assert_failed_clearly(result, "No AWS credentials found")
    assert not (REPO_ROOT / "outputs" / f"{BAD_NAME}.json").exists()
    assert os.path.exists(REPO_ROOT / "inventory" / "aws" / "hosts.yml")


def test_missing_source_cidr_on_aws(tmp_path) -> None:
    result = run_site({"deployment_name": BAD_NAME}, "-i", "inventory/aws")
    assert_failed_clearly(result, "source_cidr is required")


# --- predict.yml: a picture that is not one ----------------------------------------------

# Tasks of predict.yml that look up the deployment, upload or run: none may start.
PREDICT_LATER_TASKS = (
    "Find the deployment's outputs file",
    "Upload it to the input bucket",
    "Run the predict task",
    "Run one task of",
)


def _not_a_picture(tmp_path: Path) -> str:
    path = tmp_path / "notes.jpg"
    path.write_text("a cat sat on the mat\n")
    return str(path)


def _empty_file(tmp_path: Path) -> str:
    path = tmp_path / "empty.png"
    path.touch()
    return str(path)


def _folder(tmp_path: Path) -> str:
    (tmp_path / "pictures.jpg").mkdir()
    return str(tmp_path / "pictures.jpg")


def _truncated_png_signature(tmp_path: Path) -> str:
    path = tmp_path / "half.png"
    path.write_bytes(b"\x89PNG\r")  # the first bytes of a PNG signature, not all of it
    return str(path)


PREDICT_CASES = [
    # (id, makes the image argument in tmp_path, fragment of the message)
    ("missing", lambda tmp: str(tmp / "nope.jpg"), "nope.jpg: no such file"),
    ("missing-relative", lambda tmp: "tests/no-such-picture.jpg", "no such file (/"),
    ("folder", _folder, "pictures.jpg: a folder, not a picture"),
    ("empty-file", _empty_file, "empty.png: an empty file, not a picture"),
    ("text-file", _not_a_picture, "notes.jpg: not a picture (its first bytes"),
    ("truncated-signature", _truncated_png_signature, "half.png: not a picture"),
    ("device", lambda tmp: "/dev/null", "/dev/null: not a regular file"),
]


@pytest.mark.parametrize(
    ("make_image", "fragment"),
    [c[1:] for c in PREDICT_CASES],
    ids=[c[0] for c in PREDICT_CASES],
)
def test_predict_refuses_a_bad_picture_before_anything(
    local_stack, tmp_path: Path, make_image, fragment: str
) -> None:
    """No deployment named BAD_NAME exists: the picture must be refused before it is looked up."""
    image = make_image(tmp_path)
    result = run_with_vars("playbooks/predict.yml", {"deployment_name": BAD_NAME, "image": image})
    assert_failed_clearly(result, fragment)
    started = [t for t in PREDICT_LATER_TASKS if f"TASK [{t}" in result.stdout]
    assert not started, f"predict.yml went on to {started}:\n{tail(result.stdout)}"
    assert_nothing_created(BAD_NAME)


# -- the settings of train.yml and predict.yml: each bad value stops the playbook in its first
# task, with one line, before the deployment is looked up or anything runs --------------------
SETTINGS_CASES = [
    # (id, playbook, extra vars, fragment of the message)
    ("train-dataset-unknown", "train", {"train_dataset": "cifar"},
     "train_dataset=cifar: no such dataset; give one of digits, mnist"),
    ("train-mnist-without-data", "train", {"train_dataset": "mnist", "train_data": ""},
     "train_data is empty: train_dataset=mnist reads the MNIST idx files from it"),
    ("train-data-not-a-url", "train", {"train_dataset": "mnist", "train_data": "/tmp/mnist"},
     "train_data=/tmp/mnist: not an s3:// or http(s):// prefix"),
    ("train-epochs-negative", "train", {"train_epochs": -1},
     "train_epochs=-1: the passes over the data are a whole number from 1 to 1000"),
    ("train-epochs-zero", "train", {"train_epochs": 0}, "train_epochs=0: the passes"),
    ("train-epochs-word", "train", {"train_epochs": "ten"}, "train_epochs=ten: the passes"),
    ("train-batch-size-zero", "train", {"train_batch_size": 0},
     "train_batch_size=0: the samples per step are a whole number from 1 to 65536"),
    ("train-workers-zero", "train", {"workers": 0},
     "workers=0 servers=1: a job has 1 to 32 workers and 1 to 8 servers"),
    ("train-dist-epochs", "train", {"workers": 2, "train_epochs": 0}, "train_epochs=0: the passes"),
    ("predict-no-image", "predict", {"image": ""}, "Give the picture to classify"),
    ("predict-top-zero", "predict", {"image": "s3://b/cat.jpg", "predict_top": 0},
     "predict_top=0: the labels to print are a whole number from 1 to 100"),
    ("predict-threshold-above-one", "predict",
     {"image": "s3://b/cat.jpg", "predict_threshold": 1.5},
     "predict_threshold=1.5: the cat probability that makes a cat is a number from 0 to 1"),
    ("predict-threshold-word", "predict", {"image": "s3://b/cat.jpg", "predict_threshold": "half"},
     "predict_threshold=half"),
    ("predict-timeout-zero", "predict", {"image": "s3://b/cat.jpg", "predict_timeout": 0},
     "predict_timeout=0: the seconds the task may take are a whole number from 1 to 86400"),
    ("predict-image-and-images", "predict", {"image": "s3://b/cat.jpg", "images": "s3://b/in/"},
     "Give one picture (image) or a batch (images), not both"),
    ("predict-images-url", "predict", {"images": "https://example.org/pictures/"},
     "images=https://example.org/pictures/: give a folder here or s3://bucket/prefix/"),
    ("predict-images-prefix-without-slash", "predict", {"images": "s3://b/in"},
     "images=s3://b/in: give a folder here or s3://bucket/prefix/ (ending with /)"),
    ("predict-batch-size-zero", "predict", {"images": "s3://b/in/", "predict_batch_size": 0},
     "predict_batch_size=0: pictures per forward pass are a whole number from 1 to 1024"),
    ("predict-tasks-word", "predict", {"images": "s3://b/in/", "predict_tasks": "all"},
     "predict_tasks=all: a batch's tasks are a whole number from 0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("playbook", "extra", "fragment"),
    [c[1:] for c in SETTINGS_CASES],
    ids=[c[0] for c in SETTINGS_CASES],
)
def test_a_bad_setting_stops_train_or_predict_in_their_first_task(
    local_stack, playbook: str, extra: dict[str, object], fragment: str
) -> None:
    """No deployment named BAD_NAME exists: the setting must be refused before that is found."""
    result = run_with_vars(f"playbooks/{playbook}.yml", {"deployment_name": BAD_NAME, **extra})
    assert_failed_clearly(result, fragment)
    tasks = [line for line in result.stdout.splitlines() if line.startswith("TASK [")]
    assert len(tasks) == 1 and tasks[0].startswith("TASK [Check the settings"), tasks
    assert_nothing_created(BAD_NAME)
