"""The image build's check of the instance (roles/image_build/tasks/instance.yml): an instance
without tar or without Python's requests (the minimal AL2023 image the ECS AMI is built from)
is told so in one message naming what it lacks, before the build, when the role may not install
it; with both present the check passes and changes nothing. Run on this machine through a small
playbook, with the instance's PATH and Python given."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "tests" / "integration" / "playbooks" / "instance_prerequisites.yml"


def _run(python: str, path: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOK),
         "-e", f"ansible_python_interpreter={python}", "-e", f"instance_path={path}",
         "-e", f"project_dir={REPO_ROOT}", *extra],
        capture_output=True, text=True, timeout=180, check=False, cwd=REPO_ROOT, env=env,
    )  # fmt: skip


@pytest.fixture
def bare_bin(tmp_path: Path) -> Path:
    """A PATH with sh and python3 only: no tar."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("sh", "python3"):
        found = shutil.which(tool, path="/usr/bin:/bin")
        assert found, tool
        (folder / tool).symlink_to(found)
    return folder


def test_an_instance_with_everything_passes() -> None:
    result = _run(sys.executable, os.environ["PATH"])
    assert result.returncode == 0, result.stdout[-3000:]
    assert "changed=0" in result.stdout and "failed=0" in result.stdout, result.stdout[-2000:]


def test_an_instance_without_tar_or_requests_is_told_what_it_lacks(bare_bin: Path) -> None:
    python = "/usr/bin/python3"
    has_requests = subprocess.run([python, "-c", "import requests"], check=False).returncode == 0
    if has_requests:
        pytest.fail(f"{python} has requests: this test needs a Python without it")
    result = _run(python, str(bare_bin), "-e", "image_build_install_packages=false")
    assert result.returncode != 0, result.stdout[-3000:]
    assert "lacks tar and python3-requests (the image build needs them)" in result.stdout, (
        result.stdout[-3000:]
    )
