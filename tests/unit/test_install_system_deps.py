"""scripts/install-system-deps.sh leaves the system's sshd and registry as it found them (issue 15,
item 7): the project needs the programs only, while on a systemd machine Debian's
openssh-server starts sshd on 0.0.0.0:22 with password logins and docker-registry a registry
without authentication on port 5000.

The script runs in a scratch root (ECS_DL_DEPS_ROOT) with a PATH of stand-ins: apt-get, which
does what a package's maintainer script does (invoke-rc.d asks policy-rc.d before it starts a
service), and systemctl, which records what it is asked.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-system-deps.sh"
SERVICES = ("ssh", "docker-registry", "docker")

APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$LOG"
[ "$1" = install ] || exit 0
for service in {services}; do
    policy="$ECS_DL_DEPS_ROOT/usr/sbin/policy-rc.d"
    if [ -x "$policy" ]; then
        "$policy" "$service" start; echo "start $service: $?" >> "$LOG"
    else
        echo "start $service: 0 (no policy-rc.d)" >> "$LOG"
    fi
done
"""


@pytest.fixture
def scratch(tmp_path: Path) -> dict[str, str]:
    root, bin_dir = tmp_path / "root", tmp_path / "bin"
    (root / "usr" / "sbin").mkdir(parents=True)
    (root / "run" / "systemd" / "system").mkdir(parents=True)
    bin_dir.mkdir()
    for tool in ("rm", "chmod", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    stubs = {
        "id": "#!/bin/sh\necho 0\n",  # root
        "apt-get": APT_GET.format(services=" ".join(SERVICES)),
        "systemctl": '#!/bin/sh\necho "systemctl $*" >> "$LOG"\n',
    }
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {
        "PATH": str(bin_dir),
        "ECS_DL_DEPS_ROOT": str(root),
        "LOG": str(tmp_path / "log"),
        "HOME": str(tmp_path),
    }


def run_script(env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Path(env["LOG"]).read_text().splitlines()


def test_the_sshd_and_registry_services_never_start_and_stay_disabled(
    scratch: dict[str, str],
) -> None:
    log = run_script(scratch)
    install = next(line for line in log if line.startswith("apt-get install"))
    for package in ("docker.io", "docker-registry", "openssh-server", "debootstrap"):
        assert package in install.split(), install
    assert "start ssh: 101" in log, log
    assert "start docker-registry: 101" in log, log
    assert "start docker: 0" in log, log  # dockerd is not held back
    for unit in ("ssh.service", "ssh.socket", "docker-registry.service"):
        assert f"systemctl disable --now {unit}" in log, log
    assert not (Path(scratch["ECS_DL_DEPS_ROOT"]) / "usr" / "sbin" / "policy-rc.d").exists()


def test_a_policy_of_the_machines_own_is_left_alone(scratch: dict[str, str]) -> None:
    policy = Path(scratch["ECS_DL_DEPS_ROOT"]) / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")
    policy.chmod(0o755)
    log = run_script(scratch)
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"
    # The machine's policy let them start: disabled and stopped afterwards all the same.
    assert "systemctl disable --now ssh.service" in log, log


def test_nothing_missing_installs_and_disables_nothing(scratch: dict[str, str]) -> None:
    bin_dir = Path(scratch["PATH"])
    for tool in ("dockerd", "docker-registry", "sshd", "debootstrap"):
        (bin_dir / tool).write_text("#!/bin/sh\n")
        (bin_dir / tool).chmod(0o755)
    env = dict(scratch)
    result = subprocess.run(
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "System packages present" in result.stdout
    assert not Path(env["LOG"]).exists() or "systemctl" not in Path(env["LOG"]).read_text()
