"""The image build refuses a wheel it has no sha256 for: real builds of the Dockerfile's builder
stage from a copy of docker/ in which one pin is attacked (a hash changed, as if the index
served other bytes, or the hash left out), each of which must fail at the step that installs it,
naming the package. On the local target's offline Debian base (`make up` makes it), with the
build host's extra CA certificates in certs/, as tests/integration/test_image.py builds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
BASE_IMAGE = os.environ.get("ECS_DL_BASE_IMAGE", "ecs-dl/debian:bookworm-minbase")
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
BUILD_TIMEOUT = int(os.environ.get("ECS_DL_IMAGE_BUILD_TIMEOUT", "1200"))
WRONG = "0" * 64


def wrong_hash(text: str, package: str) -> str:
    """Every hash of the package's pin replaced by one no file has."""
    block = re.search(
        rf"^{re.escape(package)} \\\n(    --hash=sha256:[0-9a-f]{{64}}.*\n)+", text, re.M
    )
    assert block, f"no hashed pin {package} to attack"
    attacked = re.sub(r"sha256:[0-9a-f]{64}", f"sha256:{WRONG}", block.group(0))
    return text.replace(block.group(0), attacked)


def no_hash(text: str, package: str) -> str:
    """The package's pin without its hashes."""
    block = re.search(
        rf"^{re.escape(package)} \\\n(    --hash=sha256:[0-9a-f]{{64}}.*\n)+", text, re.M
    )
    assert block, f"no hashed pin {package} to attack"
    return text.replace(block.group(0), f"{package}\n")


ATTACKS = [
    # (file in the context, how it is changed, the package, what the build says about it)
    ("build/tools.txt", wrong_hash, "uv==0.13.9", r"THESE PACKAGES DO NOT MATCH THE HASHES"),
    ("requirements.txt", wrong_hash, "six==1.17.0", r"[Hh]ash mismatch for `six==1\.17\.0`"),
    ("requirements.txt", no_hash, "six==1.17.0", r"must have a hash.*six"),
    ("mxnet/mxnet.txt", wrong_hash, "mxnet==1.9.1", r"[Hh]ash mismatch for `mxnet==1\.9\.1`"),
]


@pytest.fixture(scope="module")
def docker_ready() -> None:
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not on PATH")
    probe = subprocess.run(
        ["docker", "image", "inspect", BASE_IMAGE], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.fail(
            f"the base image {BASE_IMAGE} is missing: run `make up` (the local target) first"
        )


@pytest.mark.parametrize(
    "path, attack, package, refusal",
    ATTACKS,
    ids=[f"{a[0]}-{a[1].__name__}-{a[2]}" for a in ATTACKS],
)
def test_the_build_refuses_a_wheel_without_its_pinned_sha256(
    docker_ready: None, tmp_path: Path, path: str, attack, package: str, refusal: str
) -> None:
    context = tmp_path / "docker"
    shutil.copytree(DOCKER_DIR, context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for cert in sorted(HOST_CA_DIR.glob("*.crt")):  # as the role does, for the builder stage
        shutil.copyfile(cert, context / "certs" / cert.name)
    target = context / path
    target.write_text(attack(target.read_text(), package))
    result = subprocess.run(
        ["docker", "build", "--force-rm", "--target", "builder",
         "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", str(context)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0, (
        f"the build took {package} from an attacked {path}:\n{output[-3000:]}"
    )
    assert re.search(refusal, output, re.S), output[-3000:]
