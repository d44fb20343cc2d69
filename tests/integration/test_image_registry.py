"""After site.yml: the image is in the registry under both tags and can be pulled, and it
classifies from the buckets (the model's files in the bucket: test_model.py).

The local registry stands for ECR's endpoint. The idempotence of the image roles (no rebuild,
no push, no re-upload) is checked by test_site.py's second site.yml run (changed=0 overall).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    DEPLOYMENT_ARGS,
    Deployment,
    assert_failed_clearly,
    build_folder,
    run_in_image,
    run_playbook,
    save_artifact,
)

Client = Callable[[str], Any]
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


def _split_image_uri(uri: str) -> tuple[str, str, str]:
    """'127.0.0.1:5101/ecs-dl-it/mxnet:abc' -> ('127.0.0.1:5101', 'ecs-dl-it/mxnet', 'abc')."""
    repository, _, tag = uri.rpartition(":")
    registry, _, name = repository.partition("/")
    return registry, name, tag


def _get(url: str, accept: str | None = None) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(response.headers), response.read()


@pytest.fixture(scope="module")
def image_uri(deployment: Deployment) -> str:
    uri = deployment.outputs.get("image_uri")
    assert uri, f"outputs/{deployment.name}.json has no image_uri: {deployment.outputs}"
    return str(uri)


def test_image_uri_names_the_deployments_repository(deployment: Deployment, image_uri: str):
    registry, name, tag = _split_image_uri(image_uri)
    local_stack = deployment.outputs.get("local_stack", {})
    assert registry == local_stack.get("registry_endpoint", registry)
    assert name == f"{deployment.name}/mxnet"
    assert len(tag) == 12 and all(c in "0123456789abcdef" for c in tag), tag


def test_registry_has_both_tags_on_one_manifest(image_uri: str) -> None:
    registry, name, tag = _split_image_uri(image_uri)
    _, body = _get(f"http://{registry}/v2/{name}/tags/list")
    tags = json.loads(body)["tags"] or []
    assert {tag, "latest"} <= set(tags), tags
    digests = {
        t: _get(f"http://{registry}/v2/{name}/manifests/{t}", MANIFEST_TYPES)[0].get(
            "Docker-Content-Digest"
        )
        for t in (tag, "latest")
    }
    assert digests[tag] and digests[tag] == digests["latest"], digests


def test_the_task_definitions_name_the_pushed_image_by_its_digest(
    deployment: Deployment, aws_client: Client, image_uri: str
) -> None:
    """Issue 15 item 4: tags are mutable (the local registry has no auth; ECR's tags are
    mutable), so every definition names the manifest the build pushed, repository@sha256:..,
    the digest the registry serves for the version tag; the Jupyter container runs it."""
    registry, name, tag = _split_image_uri(image_uri)
    headers, _ = _get(f"http://{registry}/v2/{name}/manifests/{tag}", MANIFEST_TYPES)
    pinned = f"{registry}/{name}@{headers['Docker-Content-Digest']}"
    assert deployment.outputs.get("image_digest_uri") == pinned, deployment.outputs
    ecs = aws_client("ecs")
    for family, arn in deployment.outputs["task_definitions"].items():
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        images = [container["image"] for container in definition["containerDefinitions"]]
        assert images == [pinned], f"{family}: {images}"
    tasks = ecs.list_tasks(cluster=deployment.name, serviceName=f"{deployment.name}-jupyter")
    running = ecs.describe_tasks(cluster=deployment.name, tasks=tasks["taskArns"])["tasks"]
    assert running, "no Jupyter task"
    ids = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.amazonaws.ecs.task-arn={running[0]['taskArn']}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert len(ids) == 1, ids
    config_image = subprocess.run(
        ["docker", "inspect", "--format", "{{.Config.Image}}", ids[0]],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert config_image == pinned


def test_image_can_be_pulled(image_uri: str) -> None:
    result = subprocess.run(
        ["docker", "pull", image_uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"docker pull {image_uri} failed:\n{result.stdout}"


def test_no_password_left_in_the_docker_config(deployment: Deployment) -> None:
    """The session's site.yml pushed (the registry starts empty), so the push's own docker
    client folder exists, and logging out left no credential in any file of it."""
    folder = build_folder(deployment.name) / "docker-config"
    config = folder / "config.json"
    assert config.is_file(), f"{config} is missing: the push did not use its own docker config"
    assert json.loads(config.read_text()).get("auths", {}) == {}, config.read_text()
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert '"auth"' not in text and "password" not in text.lower(), (path, text)


def _run_python(image_uri: str, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "/opt/venv/bin/python",
         image_uri, "-c", code],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_pushed_image_is_the_runtime_stage_without_the_tests(image_uri: str) -> None:
    """What ECR holds is the runtime stage: no pytest, no package tests, no test-stage layer;
    the test stage was built (so the tests ran) under its own local name, never pushed."""
    pulled = subprocess.run(
        ["docker", "pull", "-q", image_uri],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert pulled.returncode == 0, pulled.stderr
    probe = _run_python(
        image_uri,
        "import importlib.util, json, os, sys; sys.path.append('/opt/pytest'); print(json.dumps({"
        "'pytest': importlib.util.find_spec('pytest') is not None,"
        "'paths': [p for p in ('/opt/pytest', '/home/jovyan/ecsdl-tests') if os.path.exists(p)]}))",
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found == {"pytest": False, "paths": []}, found
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image_uri],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "ecsdl-tests" not in history and "pytest" not in history, history
    version = image_uri.rpartition(":")[2]
    tests = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
         "--filter", f"label=org.opencontainers.image.version={version}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()  # fmt: skip
    assert any(ref.endswith(f"-tests:{version}") for ref in tests), tests


def test_container_classifies_from_the_buckets(
    deployment: Deployment, aws_client: Client, image_uri: str, tmp_path: Path
) -> None:
    """The pushed image reads the model from the models bucket and the photo from the input
    bucket (s3:// through the endpoint), and says cat for scikit-image's chelsea."""
    from skimage import data
    from skimage.io import imsave

    photo = tmp_path / "chelsea.png"
    imsave(photo, data.chelsea())
    bucket = deployment.outputs["buckets"]["input"]
    aws_client("s3").upload_file(str(photo), bucket, "tests/chelsea.png")
    result = run_in_image(
        deployment, "classify", "--json", "--model", deployment.outputs["model_uri"],
        f"s3://{bucket}/tests/chelsea.png",
    )  # fmt: skip
    assert result.returncode == 0, f"classify failed:\n{result.stdout}\n{result.stderr}"
    verdict = json.loads(result.stdout.strip().splitlines()[-1])
    assert verdict["image"] == f"s3://{bucket}/tests/chelsea.png"
    assert verdict["is_cat"] is True, verdict
    assert verdict["cat_probability"] > 0.9, verdict


def test_the_build_folder_is_the_ssh_users_only(deployment: Deployment) -> None:
    """root builds what is in it: not a folder in /var/tmp whose name anyone can work out."""
    folder = build_folder(deployment.name)
    info = folder.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.geteuid(), 0o700), folder
    parent = folder.parent.stat()
    assert parent.st_uid in (0, os.geteuid()) and not parent.st_mode & 0o022, folder.parent


def test_a_build_folder_another_user_made_is_refused(deployment: Deployment, tmp_path) -> None:
    """The attack: another user makes the build folder first (any user may create in /var/tmp)
    to plant a context that root then builds. site.yml stops before it writes or builds
    anything there."""
    planted = tmp_path / "planted"
    (planted / "context").mkdir(parents=True)
    planted.chmod(0o777)
    if os.geteuid() == 0:
        os.chown(planted, 65534, 65534)  # nobody's
        expected = f"{planted} belongs to uid 65534"
    else:
        expected = f"{planted} is writable by others"
    result = run_playbook("site.yml", *DEPLOYMENT_ARGS, "-e", f"image_build_dir={planted}")
    save_artifact("site-planted-build-folder.log", result.stdout)
    msg = assert_failed_clearly(result, expected)
    assert "another user could plant" in msg, msg
    assert list((planted / "context").iterdir()) == [], "the context was copied into it"
