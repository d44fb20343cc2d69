"""The module ecs_dl_stray_runs: the other ansible-playbook runs of a deployment are stopped.

A stand-in for an interrupted run's worker: a program named ansible-playbook (started as
ansible-playbook starts, `python .../ansible-playbook site.yml -e deployment_name=NAME`) in a
session of its own, as ansible-core's workers are, that ignores SIGTERM or not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

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

    def start(
        deployment: str | None,
        *extra: str,
        json_vars: bool = False,
        session: bool = True,
        detached: bool = True,
    ) -> subprocess.Popen[bytes]:
        """An orphaned worker by default: a session of its own, stdio on /dev/null. The
        deployment is named with `-e deployment_name=NAME`, or as JSON, or not at all (None)."""
        stdio = subprocess.DEVNULL if detached else None
        if deployment is None:
            named: list[str] = []
        elif json_vars:
            named = ["-e", json.dumps({"deployment_name": deployment, "jupyter_port": 8888})]
        else:
            named = ["-e", f"deployment_name={deployment}"]
        proc = subprocess.Popen(
            [sys.executable, str(program), "site.yml", *named, *extra],
            start_new_session=session,
            stdin=stdio,
            stdout=stdio,
            stderr=stdio,
        )
        started.append(proc)
        time.sleep(0.3)  # until its signal handler is set
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


PARENT = """\
import subprocess, sys
sys.exit(subprocess.run([sys.executable, *sys.argv[-2:]]).returncode)
"""


def run_module(tmp_path: Path, *parent_args: str, **args: Any) -> dict[str, Any]:
    """The module, run by a stand-in ansible-playbook with parent_args (as a run's worker is)
    when they are given, else alone."""
    launcher = None
    if parent_args:
        parent = tmp_path / "parent" / "ansible-playbook"
        parent.parent.mkdir(exist_ok=True)
        parent.write_text(PARENT)
        launcher = [sys.executable, str(parent), *parent_args]
    returncode, result = run_library_module(
        "ecs_dl_stray_runs", args, tmp_path / "args.json", timeout=60, launcher=launcher
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
    for run in found["runs"]:
        assert run["playbook"] == "site.yml"
        assert run["label"] == f"ansible-playbook site.yml (pid {run['pid']})"
    assert polite.poll() is None and stubborn.poll() is None

    stopped = run_module(tmp_path, deployment_name="ecs-dl-stray", stop=True, timeout=1)
    assert stopped["changed"] is True
    assert stopped["killed"] == [stubborn.pid]  # SIGTERM was not enough
    assert polite.wait(5) == -15 and stubborn.wait(5) == -9
    assert other.poll() is None and similar.poll() is None  # other deployments' runs go on
    assert run_module(tmp_path, deployment_name="ecs-dl-stray", stop=True)["runs"] == []


def test_only_the_orphans_are_stopped_when_asked(tmp_path: Path, fake_run) -> None:
    """site.yml's use: a worker left by an interrupted run is stopped, a whole run is not,
    whether started from a terminal (no session of its own) or by setsid or a service manager
    (a session of its own, but its output goes somewhere)."""
    orphan = fake_run("ecs-dl-stray")
    from_terminal = fake_run("ecs-dl-stray", session=False, detached=False)
    from_service = fake_run("ecs-dl-stray", session=True, detached=False)
    whole = sorted([from_terminal.pid, from_service.pid])

    result = run_module(tmp_path, deployment_name="ecs-dl-stray", stop=True, only_orphans=True)
    assert result["changed"] is True
    by_pid = {run["pid"]: run for run in result["runs"]}
    assert by_pid[orphan.pid]["orphan"] is True and by_pid[orphan.pid]["stopped"] is True
    for pid in whole:
        assert by_pid[pid]["orphan"] is False and by_pid[pid]["stopped"] is False
    assert orphan.wait(5) == -15
    assert from_terminal.poll() is None and from_service.poll() is None

    again = run_module(tmp_path, deployment_name="ecs-dl-stray", stop=True, only_orphans=True)
    assert again["changed"] is False
    assert [(run["pid"], run["stopped"]) for run in again["runs"]] == [(p, False) for p in whole]


def test_a_deployment_named_in_json_is_found(tmp_path: Path, fake_run) -> None:
    """`-e '{"deployment_name": ...}'`, as the tests and scripts pass it."""
    ours = fake_run("ecs-dl-stray", json_vars=True)
    fake_run("ecs-dl-stray-2", json_vars=True)

    found = run_module(tmp_path, deployment_name="ecs-dl-stray")
    assert [run["pid"] for run in found["runs"]] == [ours.pid]


def test_a_run_naming_no_deployment_is_of_the_inventorys(tmp_path: Path, fake_run) -> None:
    """`ansible-playbook site.yml` interrupted, then `ansible-playbook teardown.yml`: both use
    the inventory's deployment, so the first is found; a run that names a deployment is not
    taken for an unnamed one, nor is an unnamed one found by a run that names its deployment."""
    unnamed = fake_run(None)
    fake_run("ecs-dl-other")

    found = run_module(tmp_path, "teardown.yml", deployment_name="ecs-dl")
    assert [run["pid"] for run in found["runs"]] == [unnamed.pid]

    named = run_module(
        tmp_path, "teardown.yml", "-e", "deployment_name=ecs-dl", deployment_name="ecs-dl"
    )
    assert named["runs"] == []
    assert run_module(tmp_path, deployment_name="ecs-dl")["runs"] == []  # no run above it


def test_without_proc_it_warns_and_finds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, fake_run
) -> None:
    """macOS and the like have no /proc: site.yml and teardown.yml go on, with a warning."""
    from ansible_collections.ecs_dl.deep_learning.plugins.modules import ecs_dl_stray_runs

    fake_run("ecs-dl-stray")
    monkeypatch.setattr(ecs_dl_stray_runs, "PROC", str(tmp_path / "no-proc"))
    args = {"deployment_name": "ecs-dl-stray", "stop": True}
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        ecs_dl_stray_runs.main()
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    assert exit_info.value.code == 0
    assert (result["changed"], result["runs"], result["killed"]) == (False, [], [])
    # In the result; or on stderr once another test has loaded Ansible's controller side, after
    # which module warnings go to its display.
    warned = json.dumps(result.get("warnings")) + printed.err
    assert "other runs of the deployment were not looked for" in warned, printed


def test_another_runs_extra_vars_never_reach_the_result(tmp_path: Path, fake_run) -> None:
    """The attack: a run given its password on the command line (`-e jupyter_password=...`, seen
    by every user in `ps`); a second run must not copy it into its own output (the preflight
    prints the labels, and CI keeps the logs)."""
    secret = "hunter2-NOT-FOR-LOGS"
    run = fake_run(
        "ecs-dl-stray",
        "-i",
        "inventory/local",
        "-e",
        f"jupyter_password={secret}",
        "--extra-vars",
        json.dumps({"ssh_key": secret}),
    )
    found = run_module(tmp_path, deployment_name="ecs-dl-stray")
    assert [r["pid"] for r in found["runs"]] == [run.pid]
    assert secret not in json.dumps(found)
    assert found["runs"][0]["playbook"] == "site.yml"


@pytest.mark.parametrize(
    ("argv", "playbooks"),
    [
        (["ansible-playbook", "site.yml"], "site.yml"),
        (
            ["python3", "/x/ansible-playbook", "-i", "inv.yml", "playbooks/predict.yml"],
            "playbooks/predict.yml",
        ),
        (["ansible-playbook", "-e", "@vars.yml", "-e", "x=a.yml", "teardown.yml"], "teardown.yml"),
        (["ansible-playbook", "--extra-vars", "{}", "a.yml", "b.yaml"], "a.yml b.yaml"),
        (["ansible-playbook", "--version"], "?"),
    ],
)
def test_a_run_is_named_by_its_playbooks_only(argv: list[str], playbooks: str) -> None:
    from ansible_collections.ecs_dl.deep_learning.plugins.modules import ecs_dl_stray_runs

    assert ecs_dl_stray_runs.playbooks_of(argv) == playbooks
