"""site.yml stopped part-way (Ctrl-C, or a task that fails) never leaves anything behind.

The matrix (tests/integration/faults.py has the points and the faults):
- teardown after a fault: site.yml from scratch is stopped at a point, then teardown.yml runs;
  zero resources of the deployment remain, of every type, and no container, image, build folder,
  secret file, outputs file or process of the deployment is left.
- rerun after faults: a chain of site.yml runs, each stopped at the next point, then one that
  completes; it converges to what a clean run makes (the outputs file and the resource counts).
- from scratch again: after all that, site.yml from scratch succeeds; it is the clean run the
  chains are compared with.
All of it runs while the shared test deployment (ecs-dl-it) exists: it stays whole.

`make test` runs a part of the matrix (a failing task at a role boundary, Ctrl-C in a wait);
ECS_DL_FAULT_MATRIX=full (`make test-faults`) runs every point with both faults.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    ACCESS_KEY,
    ENDPOINT_URL,
    LOCAL_AGENT_LABEL,
    REGION,
    REPO_ROOT,
    SECRET_KEY,
    Deployment,
    assert_playbook_ok,
    build_folder,
    deployment_args,
    docker_container_ids,
    docker_network_ids,
    run_playbook,
    save_artifact,
    tail,
)
from tests.integration.faults import (
    FAULT_ACCESS_KEY,
    POINT_BY_ID,
    POINTS,
    FaultRun,
    clear_faults,
    run_with_fault,
)
from tests.integration.processes import host_processes
from tests.resources import count_resources

DN = "ecs-dl-fault"
ARGS = [*deployment_args(DN, 5688, 5622), "-e", f"aws_access_key={FAULT_ACCESS_KEY}"]
FULL = os.environ.get("ECS_DL_FAULT_MATRIX", "") == "full"

ALL_CASES = [
    (point.id, mode)
    for point in POINTS
    for mode in ("sigint", "fail")
    if mode == "sigint" or point.fail
]
# make test's part: one failing task at a role boundary, one Ctrl-C inside a wait, and a chain
# over a boundary and a wait (the whole matrix: make test-faults, well over an hour here).
CI_CASES = [
    ("network", "fail"),
    ("in_service_wait", "sigint"),
]
TEARDOWN_CASES = ALL_CASES if FULL else CI_CASES
CHAINS = {
    mode: [point.id for point in POINTS if mode == "sigint" or point.fail]
    for mode in ("sigint", "fail")
}
if not FULL:
    CHAINS = {"fail": ["cluster", "in_service_wait"]}

# The state each completed chain converged to, compared with the clean run at the end.
CONVERGED: dict[str, dict[str, Any]] = {}


# --- what is left ---------------------------------------------------------------------------


def leftovers() -> dict[str, Any]:
    """Everything of the deployment that still exists, by kind (empty when nothing does)."""
    left: dict[str, Any] = {
        kind: n
        for kind, n in count_resources(ENDPOINT_URL, REGION, DN, ACCESS_KEY, SECRET_KEY).items()
        if n
    }
    containers = docker_container_ids(
        f"com.amazonaws.ecs.cluster={DN}", LOCAL_AGENT_LABEL, include_stopped=True
    )
    if containers:
        left["containers"] = containers
    networks = docker_network_ids(f"com.amazonaws.ecs.cluster={DN}", LOCAL_AGENT_LABEL)
    if networks:
        left["docker networks"] = networks
    images = subprocess.run(
        ["docker", "images", "-q", "--filter", f"label=com.ecs-deep-learning.deployment={DN}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    if images:
        left["images"] = images
    for path in (
        REPO_ROOT / "outputs" / f"{DN}.json",
        build_folder(DN),
        *sorted((REPO_ROOT / ".secrets").glob(f"{DN}*")),
    ):
        if path.exists():
            left.setdefault("files", []).append(str(path))
    processes = deployment_processes()
    if processes:
        left["processes"] = processes
    return left


def deployment_processes() -> list[str]:
    """Processes (other than this one and its parent) whose command line names the deployment."""
    return [
        f"{pid}: {cmdline[:200]}"
        for pid, cmdline in host_processes()
        if re.search(rf"\b{re.escape(DN)}\b", cmdline)
    ]


def teardown(artifact: str) -> subprocess.CompletedProcess[str]:
    result = run_playbook("teardown.yml", *ARGS)
    assert_playbook_ok(result, f"teardown.yml of {DN}", artifact)
    return result


def assert_nothing_left(after: str) -> None:
    left = leftovers()
    assert not left, f"after {after}, the deployment {DN} left {json.dumps(left, indent=1)}"


def assert_struck(run: FaultRun, artifact: str) -> None:
    """The fault struck at its point and the run stopped there, with a non-zero exit."""
    save_artifact(artifact, run.stdout)
    where = f"{run.mode} at {run.point.id}"
    assert run.struck_at is not None, f"{where}: {run.detail}\n{tail(run.stdout)}"
    assert run.returncode != 0, f"{where}: site.yml still succeeded\n{tail(run.stdout)}"
    assert re.search(run.point.banner, run.stopped_in), (
        f"{where}: the run stopped in {run.stopped_in!r}, not at the point\n{tail(run.stdout)}"
    )
    if run.mode == "sigint":
        # "User interrupted execution" (exit 99); when the signal lands while ansible-core
        # forks a worker, "Unexpected Exception ... process object is closed" (exit 250), or
        # the process dies of the signal itself.
        said = re.search(r"User interrupted execution|Unexpected Exception", run.stdout)
        assert said or run.returncode == -signal.SIGINT, (
            f"{where}: exit {run.returncode}\n{tail(run.stdout)}"
        )
    elif run.point.fail == "aws":
        # The task there failed because AWS denied its requests (some modules name the error,
        # some only what they were doing).
        assert run.denied > 0, f"{where}: no request was denied\n{tail(run.stdout)}"
        # A loop task reports the failed item as "failed: [HOST] (item=...)"; a task of the
        # instance's play run on this machine as "fatal: [INSTANCE -> localhost]".
        assert re.search(r"^(fatal|failed): \[[^\]]+\]", run.stdout, re.M), tail(run.stdout)
    else:
        # The module on the instance dies with the connection: the task is unreachable or
        # failed (rc -9), depending on when the connection went.
        assert re.search(r"UNREACHABLE!|FAILED!.*\n(.*\n)*\s*rc: -9", run.stdout), tail(run.stdout)
    assert not (REPO_ROOT / "outputs" / f"{DN}.json").exists() or run.point.id == "outputs"


def normalized(outputs: dict[str, Any]) -> str:
    """The outputs with what differs between two clean runs (generated ids) replaced."""
    text = json.dumps(outputs, sort_keys=True, indent=1)
    for pattern, name in (
        (r"\b(vpc|subnet|sg|igw|rtb|lt|i|sfr|ami|fs|fsap)-[0-9a-f-]{6,}", r"\1-ID"),
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID"),
        (r"(task-definition/[a-z0-9-]+):\d+", r"\1:REV"),
        # a push's manifest digest: a push after a teardown compresses the layers anew
        (r"@sha256:[0-9a-f]{64}", "@sha256:DIGEST"),
        (r"\b[0-9a-f]{32}\b", "HEX32"),
    ):
        text = re.sub(pattern, name, text)
    return text


def deployment_state() -> dict[str, Any]:
    outputs = json.loads((REPO_ROOT / "outputs" / f"{DN}.json").read_text())
    return {
        "outputs": normalized(outputs),
        "counts": count_resources(ENDPOINT_URL, REGION, DN, ACCESS_KEY, SECRET_KEY),
    }


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_deployment(deployment: Deployment) -> Iterator[dict[str, int]]:
    """The shared test deployment, counted before the matrix; it must be whole after it."""
    before = count_resources(ENDPOINT_URL, REGION, deployment.name, ACCESS_KEY, SECRET_KEY)
    yield before
    after = count_resources(ENDPOINT_URL, REGION, deployment.name, ACCESS_KEY, SECRET_KEY)
    assert after == before, f"{deployment.name} changed while {DN} came and went"
    url = deployment.outputs["jupyter"]["url"]
    with urllib.request.urlopen(f"{url}login", timeout=10) as response:
        assert response.status == 200, f"{deployment.name}'s Jupyter no longer answers at {url}"


@pytest.fixture
def control_dir() -> Iterator[Path]:
    """The SSH control sockets of one fault run (so that only its connections are dropped)."""
    path = Path(tempfile.mkdtemp(prefix="ecs-dl-cp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def from_scratch(local_stack: Any, other_deployment: dict[str, int]) -> None:
    """Nothing of the deployment exists (a leftover of an earlier failed case is removed)."""
    del local_stack, other_deployment
    clear_faults()
    if leftovers():
        teardown("fault-pre-teardown.log")
    assert_nothing_left("the teardown before this case")


# --- the matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point_id", "mode"), TEARDOWN_CASES, ids=[f"{p}-{m}" for p, m in TEARDOWN_CASES]
)
def test_teardown_after_fault(from_scratch: None, control_dir: Path, point_id: str, mode: str):
    del from_scratch
    run = run_with_fault(ARGS, POINT_BY_ID[point_id], mode, control_dir)
    assert_struck(run, f"fault-{point_id}-{mode}.log")
    teardown(f"fault-{point_id}-{mode}-teardown.log")
    assert_nothing_left(f"{mode} at {point_id} and teardown.yml")


@pytest.mark.parametrize("mode", sorted(CHAINS))
def test_rerun_after_faults_converges(from_scratch: None, control_dir: Path, mode: str) -> None:
    del from_scratch
    for point_id in CHAINS[mode]:
        run = run_with_fault(ARGS, POINT_BY_ID[point_id], mode, control_dir)
        assert_struck(run, f"chain-{mode}-{point_id}.log")
    final = run_playbook("site.yml", *ARGS)
    assert_playbook_ok(final, f"site.yml after the {mode} chain", f"chain-{mode}-final.log")
    CONVERGED[mode] = deployment_state()
    teardown(f"chain-{mode}-teardown.log")
    assert_nothing_left(f"the {mode} chain and teardown.yml")


def test_site_from_scratch_after_faults(from_scratch: None) -> None:
    """A clean run succeeds after all of the above, and every chain converged to what it makes."""
    del from_scratch
    result = run_playbook("site.yml", *ARGS)
    assert_playbook_ok(result, "site.yml from scratch after the faults", "fault-clean-site.log")
    clean = deployment_state()
    teardown("fault-clean-teardown.log")
    assert_nothing_left("the clean run and teardown.yml")
    assert CONVERGED, "no chain completed (see test_rerun_after_faults_converges)"
    for mode, state in CONVERGED.items():
        assert state["counts"] == clean["counts"], (
            f"after the {mode} chain: {state['counts']}\nclean run: {clean['counts']}"
        )
        assert state["outputs"] == clean["outputs"], (
            f"the outputs after the {mode} chain differ from a clean run's:\n"
            f"{state['outputs']}\n---\n{clean['outputs']}"
        )
