"""library/ecs_dl_stray_runs.py: the other ansible-playbook runs of a deployment are stopped.

A stand-in for an interrupted run's worker: a program named ansible-playbook (started as
ansible-playbook starts, `python .../ansible-playbook site.yml -e deployment_name=NAME`) in a
session of its own, as ansible-core's workers are, that ignores SIGTERM or not.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.conftest import run_library_module

STAND_IN = """\
import signal, sys, time
if sys.argv[-1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(120)
"""


@pytest.fixture
def fake_run(tmp_path: Path) -> Iterator[Any]:
    program = tmp_path / "ansible-playbook"
    program.write_text(STAND_IN)
    started: list[subprocess.Popen[bytes]] = []

    def start(deployment: str, *extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(program),
                "site.yml",
                "-e",
                f"deployment_name={deployment}",
                *extra,
            ],
            start_new_session=True,
        )
        started.append(proc)
        time.sleep(0.3)  # until its signal handler is set
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def run_module(tmp_path: Path, **args: Any) -> dict[str, Any]:
    returncode, result = run_library_module(
        "ecs_dl_stray_runs", args, tmp_path / "args.json", timeout=60
    )
    assert returncode == 0, result
    return result


def test_the_runs_of_the_deployment_are_found_and_stopped(tmp_path: Path, fake_run) -> None:
    polite = fake_run("ecs-dl-stray")
    stubborn = fake_run("ecs-dl-stray", "stubborn")
    other = fake_run("ecs-dl-other")
    similar = fake_run("ecs-dl-stray-2")

    found = run_module(tmp_path, deployment_name="ecs-dl-stray")
    assert found["changed"] is False
    assert [run["pid"] for run in found["runs"]] == sorted([polite.pid, stubborn.pid])
    assert all(run["orphan"] for run in found["runs"])  # session leaders, parent not a run
    assert "site.yml -e deployment_name=ecs-dl-stray" in found["runs"][0]["command"]
    assert polite.poll() is None and stubborn.poll() is None

    stopped = run_module(tmp_path, deployment_name="ecs-dl-stray", stop=True, timeout=1)
    assert stopped["changed"] is True
    assert stopped["killed"] == [stubborn.pid]  # SIGTERM was not enough
    assert polite.wait(5) == -15 and stubborn.wait(5) == -9
    assert other.poll() is None and similar.poll() is None  # other deployments' runs go on
    assert run_module(tmp_path, deployment_name="ecs-dl-stray", stop=True)["runs"] == []
