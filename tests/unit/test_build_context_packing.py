"""The image_build role packs the build context on the control machine with `tar`, which is GNU
tar on Linux and bsdtar on macOS: the task's own argv and stdin (read from the role, with its
Jinja expressions filled in) must make the same archive with both, including names that look
like options."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

ROLE_TASKS = Path(__file__).resolve().parents[2] / "roles" / "image_build" / "tasks" / "present.yml"
FILES = ["Dockerfile", "ecsdl/src/ecsdl/model.py", "-rf name", "notebooks/a b.ipynb", "--help"]


def _pack_task() -> dict[str, Any]:
    for task in yaml.safe_load(ROLE_TASKS.read_text()):
        for inner in task.get("block", []):
            if str(inner.get("name", "")).startswith("Pack the context's files"):
                return inner["ansible.builtin.command"]
    raise AssertionError(f"no packing task in {ROLE_TASKS}")


def _jinja() -> jinja2.Environment:
    """Jinja with the one Ansible filter the task's stdin uses."""
    env = jinja2.Environment(autoescape=False)
    env.filters["regex_replace"] = lambda value, pattern, repl: re.sub(pattern, repl, value)
    return env


def _render(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{ *([a-z_.]+) *\}\}", lambda m: values[m.group(1)], text)


@pytest.mark.parametrize("tar", ["tar", "bsdtar"])
def test_the_context_archive_is_the_same_with_gnu_tar_and_bsdtar(tar: str, tmp_path: Path) -> None:
    if shutil.which(tar) is None:
        pytest.fail(f"{tar} is not installed (scripts/install-system-deps.sh --tests installs it)")
    context = tmp_path / "context"
    for name in FILES:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(name)
    (context / "left-out.txt").write_text("not in the list")
    archive = tmp_path / "context.tar"
    task = _pack_task()
    values = {"_image_build_tar.path": str(archive), "image_build_context": str(context)}
    argv = [_render(arg, values) for arg in task["argv"]]
    assert argv[0] == "tar", argv
    stdin = (
        _jinja()
        .from_string(task["stdin"])
        .render(_image_build_files=[{"path": name} for name in FILES])
    )
    result = subprocess.run(
        [tar, *argv[1:]], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    with tarfile.open(archive) as packed:
        members = {m.name.removeprefix("./"): m for m in packed.getmembers()}
        assert set(members) == set(FILES), sorted(members)
        for name in FILES:
            assert members[name].isfile(), name
            extracted = packed.extractfile(members[name])
            assert extracted is not None and extracted.read().decode() == name
