"""site.yml stopped part-way (Ctrl-C, or a task that fails) never leaves anything behind.

The matrix (tests/integration/faults.py has the points and the faults):
- teardown after a fault: site.yml from scratch is stopped at a point, then teardown.yml runs;
  zero resources of the deployment remain, of every type, and no container, image, build folder,
  secret file, outputs file or process of the deployment is left.
- rerun after faults: a chain of site.yml runs, each stopped at the next point, then one that
  completes; it converges to what a clean run makes (the outputs file and the resource counts).
- from scratch again: after all that, site.yml from scratch succeeds; it is the clean run the
  chains are compared with.
- teardown after pause, interrupted: on that clean deployment a notebook is written through the
  Jupyter API, pause.yml leaves no instance, then teardown.yml is stopped by Ctrl-C at a chain
  of its points (the fleet starts an instance again for the work's archive task); a last
  teardown.yml delivers the work to outputs/<name>-work/, byte for byte, and leaves nothing.
All of it runs while the shared test deployment (ecs-dl-it) exists: it stays whole.

`make test` runs a part of the matrix (a failing task at a role boundary, Ctrl-C in a wait;
teardown stopped in the archive task's wait and in the file system's deletion);
ECS_DL_FAULT_MATRIX=full (`make test-faults`) runs every point with both faults, and teardown
stopped at each of its points.
"""

from __future__ import annotations

import hashlib
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
    file_digests,
    jupyter_trust,
    run_playbook,
    save_artifact,
    tail,
)
from tests.integration.faults import (
    FAULT_ACCESS_KEY,
    POINT_BY_ID,
    POINTS,
    TEARDOWN_POINTS,
    FaultRun,
    clear_faults,
    run_with_fault,
)
from tests.integration.jupyter_api import login, put_notebook, wait_until_answers
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
# teardown.yml after pause.yml, stopped by Ctrl-C at each of these points in turn, then run to
# its end: in the archive task's wait (the copy is not recorded: the next run copies again) and
# in the file system's deletion (the copy is recorded: the next run goes on without it).
TEARDOWN_CHAIN = (
    [point.id for point in TEARDOWN_POINTS]
    if FULL
    else ["td_in_work_archive_wait", "td_in_work_delete"]
)

# The state each completed chain converged to, compared with the clean run at the end.
CONVERGED: dict[str, dict[str, Any]] = {}
# Set when the clean run's deployment is left for the teardown-after-pause test.
CLEAN_DEPLOYED: list[bool] = []
# What the teardown-after-pause test writes into the work folder through Jupyter.
WORK_NOTEBOOK = "kept-at-teardown.ipynb"
WORK_CELLS = ["import numpy as np", "print('the work outlives the deployment', np.pi)"]


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
    # (site.yml writes the outputs file last; teardown.yml deletes it in its outputs role)
    assert not (REPO_ROOT / "outputs" / f"{DN}.json").exists() or run.point.id in (
        "outputs",
        "td_outputs",
    )


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
        # Jupyter's certificate: a deployment made anew (after a teardown) has a new TLS key
        (r"\b(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\b", "SHA256-FINGERPRINT"),
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
    trust = jupyter_trust(deployment.outputs)
    with urllib.request.urlopen(f"{url}login", timeout=10, context=trust) as response:
        assert response.status == 200, f"{deployment.name}'s Jupyter no longer answers at {url}"


@pytest.fixture(scope="module", autouse=True)
def removed_at_the_end(local_stack: Any) -> Iterator[None]:
    """Nothing of the deployment outlives the module (the clean run leaves its deployment to the
    teardown-after-pause test, which may be deselected or fail part-way)."""
    del local_stack
    yield
    clear_faults()
    if leftovers():
        teardown("fault-final-teardown.log")


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
    """A clean run succeeds after all of the above, and every chain converged to what it makes.
    Its deployment is left for the next test (which tears it down)."""
    del from_scratch
    result = run_playbook("site.yml", *ARGS)
    assert_playbook_ok(result, "site.yml from scratch after the faults", "fault-clean-site.log")
    clean = deployment_state()
    CLEAN_DEPLOYED.append(True)
    assert CONVERGED, "no chain completed (see test_rerun_after_faults_converges)"
    for mode, state in CONVERGED.items():
        assert state["counts"] == clean["counts"], (
            f"after the {mode} chain: {state['counts']}\nclean run: {clean['counts']}"
        )
        assert state["outputs"] == clean["outputs"], (
            f"the outputs after the {mode} chain differ from a clean run's:\n"
            f"{state['outputs']}\n---\n{clean['outputs']}"
        )


def test_teardown_after_pause_and_interruptions_delivers_the_work(
    local_stack: Any, other_deployment: dict[str, int], control_dir: Path
) -> None:
    """pause.yml, then teardown.yml stopped by Ctrl-C at each point of TEARDOWN_CHAIN, then a
    teardown.yml to the end: the notebook is in outputs/<name>-work/ (same sha256) and nothing
    of the deployment is left."""
    del local_stack, other_deployment
    if not CLEAN_DEPLOYED:
        # Run alone (or after a failed clean run): a deployment of its own.
        clear_faults()
        if leftovers():
            teardown("fault-pause-pre-teardown.log")
        result = run_playbook("site.yml", *ARGS)
        assert_playbook_ok(result, f"site.yml for {DN}", "fault-pause-site.log")
    CLEAN_DEPLOYED.clear()
    for earlier in (REPO_ROOT / "outputs").glob(f"{DN}-work*"):
        shutil.rmtree(earlier) if earlier.is_dir() else earlier.unlink()
    outputs = json.loads((REPO_ROOT / "outputs" / f"{DN}.json").read_text())
    url = outputs["jupyter"]["url"]
    certificate = outputs["jupyter"]["certificate"]
    wait_until_answers(url, timeout=300, verify=certificate)
    password = Path(outputs["jupyter_password"]).read_text().strip()
    session = login(url, password, verify=certificate)
    put_notebook(session, url, WORK_NOTEBOOK, WORK_CELLS)
    # The work as the file system holds it (the local ECS agent's folder of it).
    system_id = outputs["work"]["file_system_id"]
    work_folder = REPO_ROOT / ".local" / "ecs-agent" / "efs" / system_id / "work"
    work_before = file_digests(work_folder)
    assert WORK_NOTEBOOK in work_before, sorted(work_before)

    paused = run_playbook("playbooks/pause.yml", *ARGS)
    assert_playbook_ok(paused, f"pause.yml of {DN}", "fault-pause.log")
    counts = count_resources(ENDPOINT_URL, REGION, DN, ACCESS_KEY, SECRET_KEY)
    assert counts["instances"] == 0 and counts["ecs_tasks"] == 0, counts

    for point_id in TEARDOWN_CHAIN:
        run = run_with_fault(
            ARGS, POINT_BY_ID[point_id], "sigint", control_dir, playbook="teardown.yml"
        )
        assert_struck(run, f"fault-pause-teardown-{point_id}.log")
        assert (REPO_ROOT / ".local" / "ecs-agent" / "efs" / system_id).is_dir() or (
            REPO_ROOT / "outputs" / f"{DN}-work.json"
        ).is_file(), f"teardown stopped at {point_id} lost the work: no copy, no file system"
    teardown("fault-pause-teardown.log")
    assert_nothing_left("pause.yml and the interrupted teardowns")

    delivered = REPO_ROOT / "outputs" / f"{DN}-work"
    assert file_digests(delivered) == work_before, f"{delivered} is not the work on {system_id}"
    notebook = json.loads((delivered / WORK_NOTEBOOK).read_text())
    assert ["".join(cell["source"]) for cell in notebook["cells"]] == WORK_CELLS
    record = json.loads((REPO_ROOT / "outputs" / f"{DN}-work.json").read_text())
    assert record["file_system_id"] == system_id, record
    archive = Path(record["archive"])
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == record["sha256"], record
    assert not work_folder.parent.exists(), f"{work_folder.parent} is still there"
