"""The Molecule scenario: destroy, syntax, converge, idempotence, verify, destroy."""

from __future__ import annotations

import subprocess

from tests.integration.conftest import REPO_ROOT, playbook_env, save_artifact, tail

MOLECULE_TIMEOUT = 3600


def test_molecule_default_scenario(local_stack: subprocess.CompletedProcess[str]) -> None:
    del local_stack  # teardown.yml (molecule's first destroy) needs the endpoint up
    env = playbook_env()
    env["MOLECULE_NO_COLOR"] = "1"
    env["NO_COLOR"] = "1"
    result = subprocess.run(
        ["molecule", "test", "--scenario-name", "default"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=MOLECULE_TIMEOUT,
        check=False,
    )
    saved = save_artifact("molecule-default.log", result.stdout)
    assert result.returncode == 0, (
        f"molecule test failed (exit {result.returncode}), full output in {saved}:\n"
        f"{tail(result.stdout, 120)}"
    )
