"""What the benchmarks share: where the repository is, how ansible-playbook runs, and how many
tasks a run changed."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
_CHANGED = re.compile(r"\bchanged=(\d+)")


def recap_changed(stdout: str) -> int:
    """Sum of `changed=N` in the PLAY RECAP lines of an ansible-playbook output."""
    total, in_recap = 0, False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        match = _CHANGED.search(line) if in_recap else None
        if match:
            total += int(match.group(1))
        elif in_recap and line.strip():
            in_recap = False
    return total


def ansible_env(**extra: str) -> dict[str, str]:
    """This process's environment with the venv's binaries first and no colour, plus `extra`."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env.update(extra)
    return env


def timed_playbook(playbook: str, *extra: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run `ansible-playbook PLAYBOOK EXTRA...` from the repository root (output merged); return
    its wall time in seconds and the result."""
    start = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", playbook, *extra],
        cwd=REPO_ROOT,
        env=ansible_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    return time.monotonic() - start, result
