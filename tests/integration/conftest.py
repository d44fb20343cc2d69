"""Integration fixtures: run the real playbooks against the local target and look at the result
through the same APIs a user would (boto3 against the moto endpoint).

The local target's services are started by `playbooks/local_stack.yml` (and by site.yml itself);
a failure to start them fails the run with the playbook's output, it never skips.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.integration.jupyter_api import trust

REPO_ROOT = Path(__file__).resolve().parents[2]
# The label ecs-dl.local-agent of what this clone's local ECS agent runs (its local_stack_dir):
# containers another clone's stack left in the same dockerd are not this deployment's.
LOCAL_AGENT_LABEL = f"ecs-dl.local-agent={REPO_ROOT / '.local'}"
if str(REPO_ROOT) not in sys.path:
    # `tests` is a namespace package; the repository root makes `tests.resources` importable.
    sys.path.insert(0, str(REPO_ROOT))

VENV_BIN = REPO_ROOT / ".venv" / "bin"
ENDPOINT_URL = "http://127.0.0.1:5100"
REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
# Override when two test runs share one moto server (each needs its own deployment name).
DEPLOYMENT_NAME = os.environ.get("ECS_DL_IT_DEPLOYMENT", "ecs-dl-it")
# Host ports of the test deployment's Jupyter and container sshd: not the defaults, so that the
# tests never collide with a `make demo` deployment on the same machine.
JUPYTER_PORT = int(os.environ.get("ECS_DL_IT_JUPYTER_PORT", "5388"))
CONTAINER_SSH_PORT = int(os.environ.get("ECS_DL_IT_SSH_PORT", "5322"))


def deployment_args(name: str, jupyter_port: int, ssh_port: int) -> tuple[str, ...]:
    """The extra vars of a test deployment: its name and host ports of its own."""
    return (
        "-e",
        f"deployment_name={name}",
        "-e",
        f"jupyter_port={jupyter_port}",
        "-e",
        f"container_ssh_port={ssh_port}",
    )


# The extra vars of every playbook run against the shared test deployment.
DEPLOYMENT_ARGS = deployment_args(DEPLOYMENT_NAME, JUPYTER_PORT, CONTAINER_SSH_PORT)
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"  # git-ignored: full playbook outputs
# The offline copy of the public TFLite models (byte for byte, with their sha256): the tests
# serve it over HTTP, so site.yml downloads the model through the same code path as a user's.
SHARED_TFLITE = (REPO_ROOT / ".." / "shared" / "models" / "tflite").resolve()
DEFAULT_MODEL_FILE = "mobilenet_v2_1.0_224_quant.tflite"
DEFAULT_MODEL_SHA256 = "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776"
PLAYBOOK_TIMEOUT = int(os.environ.get("ECS_DL_PLAYBOOK_TIMEOUT", "1800"))

_RECAP_CHANGED = re.compile(r"\bchanged=(\d+)")


def build_folder(name: str) -> Path:
    """The image_build role's folder on the local target's instance (this machine): under the
    deployment's .local/, the SSH user's only."""
    return REPO_ROOT / ".local" / "image-build" / name


def playbook_env() -> dict[str, str]:
    """The environment the playbooks run with: the venv's binaries first, no colour."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PY_COLORS"] = "0"
    env.pop("ANSIBLE_CONFIG", None)  # the repository's ansible.cfg (cwd) applies
    return env


def run_playbook(
    *args: str, timeout: int = PLAYBOOK_TIMEOUT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `ansible-playbook ARGS` from the repository root (with `env` added to its
    environment); stdout and stderr are merged."""
    return subprocess.run(
        ["ansible-playbook", *args],
        cwd=REPO_ROOT,
        env={**playbook_env(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def recap_changed(stdout: str) -> int:
    """The sum of `changed=N` over the hosts of every PLAY RECAP in `stdout`."""
    total = 0
    found = False
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap, found = True, True
            continue
        if in_recap:
            match = _RECAP_CHANGED.search(line)
            if match:
                total += int(match.group(1))
            elif line.strip():
                in_recap = False
    if not found:
        raise AssertionError(f"no PLAY RECAP in the output:\n{tail(stdout)}")
    return total


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by its path relative to it."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def save_artifact(name: str, text: str) -> Path:
    """Keep a full playbook/Molecule output in tests/artifacts/NAME (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_text(text)
    return path


def tail(text: str, lines: int = 80) -> str:
    """The last `lines` lines of a playbook's output, for failure messages."""
    return "\n".join(text.splitlines()[-lines:])


def failure_message(stdout: str) -> str:
    """The `msg` of the task that failed: the YAML result under the last `fatal:` line (or
    `failed:`, a loop's item)."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(("fatal: [", "failed: ["))]
    assert starts, f"no task failed:\n{tail(stdout)}"
    block = []
    for line in lines[starts[-1] + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line)
    result = yaml.safe_load("\n".join(block)) or {}
    assert isinstance(result, dict) and "msg" in result, f"no msg in:\n{tail(stdout)}"
    return str(result["msg"])


def assert_failed_clearly(result: subprocess.CompletedProcess[str], fragment: str) -> str:
    """Non-zero exit; the failed task's message is one line that holds `fragment`."""
    assert result.returncode != 0, f"the playbook succeeded with bad input:\n{tail(result.stdout)}"
    assert "Traceback" not in result.stdout, tail(result.stdout)
    msg = failure_message(result.stdout)
    assert fragment in msg, f"the message does not say {fragment!r}: {msg}"
    assert "\n" not in msg.strip(), f"the message is not one line: {msg!r}"
    return msg


def assert_playbook_ok(
    result: subprocess.CompletedProcess[str], what: str, artifact: str | None = None
) -> None:
    """Fail with the playbook's tail when it did not exit 0 (full output in tests/artifacts/)."""
    saved = save_artifact(artifact, result.stdout) if artifact else None
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {result.returncode}): {' '.join(map(str, result.args))}\n"
            + (f"full output: {saved}\n" if saved else "")
            + tail(result.stdout),
            pytrace=False,
        )


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def local_stack() -> subprocess.CompletedProcess[str]:
    """The local target's services (moto, dockerd, registry, sshd, base image), started once."""
    result = run_playbook("playbooks/local_stack.yml")
    assert_playbook_ok(result, "the local stack (playbooks/local_stack.yml)", "local_stack.log")
    return result


class Deployment:
    """One run of site.yml for the integration deployment, with what it printed and wrote."""

    def __init__(self, name: str, stdout: str, outputs_path: Path) -> None:
        self.name = name
        self.stdout = stdout
        self.outputs_path = outputs_path
        self.outputs: dict[str, Any] = json.loads(outputs_path.read_text())


@pytest.fixture(scope="session")
def model_server() -> Iterator[str]:
    """http://127.0.0.1:PORT/ serving ../shared/models/tflite (python3 -m http.server), the
    stand-in for github.com/google-coral/test_data, which these machines cannot reach."""
    from tests.conftest import free_port

    if not (SHARED_TFLITE / DEFAULT_MODEL_FILE).is_file():
        pytest.fail(f"the shared test models are missing: {SHARED_TFLITE / DEFAULT_MODEL_FILE}")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
         str(SHARED_TFLITE), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def wait_for_http(url: str, process: subprocess.Popen[Any], timeout: float = 30) -> None:
    """Wait until `url` answers (any HTTP status), failing if `process` ends first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{url} did not answer (exit {process.poll()})", pytrace=False)
            time.sleep(0.2)


@pytest.fixture(scope="session")
def deployment(
    local_stack: subprocess.CompletedProcess[str], model_server: str
) -> Iterator[Deployment]:
    """site.yml with deployment_name=ecs-dl-it, run ONCE, its model the default one downloaded
    from model_server; teardown.yml again at session end. Later runs of site.yml for it give
    no model_source: the deployment keeps the one it has."""
    del local_stack
    result = run_playbook(
        "site.yml", *DEPLOYMENT_ARGS, "-e", f"model_source={model_server}{DEFAULT_MODEL_FILE}"
    )
    try:
        assert_playbook_ok(result, f"site.yml for {DEPLOYMENT_NAME}", "site-1.log")
        outputs_path = REPO_ROOT / "outputs" / f"{DEPLOYMENT_NAME}.json"
        if not outputs_path.is_file():
            pytest.fail(
                f"site.yml succeeded but wrote no {outputs_path}\n{tail(result.stdout)}",
                pytrace=False,
            )
        yield Deployment(DEPLOYMENT_NAME, result.stdout, outputs_path)
    finally:
        # For safety: the teardown tests have normally removed everything already.
        final = run_playbook("teardown.yml", *DEPLOYMENT_ARGS)
        save_artifact("teardown-final.log", final.stdout)
        if final.returncode != 0:
            print(f"final teardown.yml failed (exit {final.returncode}):\n{tail(final.stdout)}")


def run_in_image(deployment: Deployment, *command: str) -> subprocess.CompletedProcess[str]:
    """`command` in a container of the deployment's pushed image, with the local endpoint and
    its test credentials (as the ECS tasks get them), on the host's network."""
    return subprocess.run(
        [
            "docker", "run", "--rm", "--network", "host",
            "-e", f"AWS_ENDPOINT_URL={deployment.outputs['endpoint']}",
            "-e", f"AWS_ACCESS_KEY_ID={ACCESS_KEY}", "-e", f"AWS_SECRET_ACCESS_KEY={SECRET_KEY}",
            "-e", f"AWS_DEFAULT_REGION={deployment.outputs['region']}",
            deployment.outputs["image_uri"],
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip


def local_client(service: str) -> Any:
    """A boto3 client of the local target's endpoint, with the test credentials."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    return session.client(service, endpoint_url=ENDPOINT_URL)


@pytest.fixture(scope="session")
def aws_client() -> Callable[[str], Any]:
    """A factory of boto3 clients for the local target's endpoint: aws_client('ec2')."""
    return local_client


def skimage_photo(name: str) -> Path:
    """A photo of scikit-image's data (chelsea.png is a cat, coffee.png is not)."""
    import skimage

    path = Path(skimage.__file__).parent / "data" / name
    assert path.is_file(), f"scikit-image has no {path}"
    return path


def jupyter_trust(outputs: dict[str, Any]) -> ssl.SSLContext:
    """A TLS context (for urllib) that trusts the deployment's Jupyter certificate only."""
    return ssl.create_default_context(cafile=outputs["jupyter"]["certificate"])


class JupyterAccess:
    """How a user reaches the deployment's Jupyter: the URL, the certificate to trust (a file,
    as `curl --cacert` takes it) and the password, from the outputs."""

    def __init__(
        self,
        url: str,
        certificate: str,
        certificate_sha256: str,
        password: str,
        notebook: str,
        cat_image: str,
        not_cat_image: str,
    ) -> None:
        self.url = url
        self.certificate = certificate
        self.certificate_sha256 = certificate_sha256
        self.password = password
        self.notebook = notebook
        self.cat_image = cat_image
        self.not_cat_image = not_cat_image

    def client(self) -> requests.Session:
        """A new client (no login) that trusts the deployment's certificate only."""
        return trust(requests.Session(), self.certificate)


@pytest.fixture(scope="session")
def jupyter_access(deployment: Deployment, aws_client: Callable[[str], Any]) -> JupyterAccess:
    """The outputs' Jupyter URL and password; two photos in the input bucket for the notebook."""
    outputs = deployment.outputs
    password_file = Path(outputs["jupyter_password"])
    assert password_file.is_file(), f"the outputs name {password_file} as the password's file"
    bucket = outputs["buckets"]["input"]
    s3 = aws_client("s3")
    images = {}
    for name in ("chelsea.png", "coffee.png"):
        s3.upload_file(str(skimage_photo(name)), bucket, f"tests/{name}")
        images[name] = f"s3://{bucket}/tests/{name}"
    return JupyterAccess(
        url=outputs["jupyter"]["url"],
        certificate=outputs["jupyter"]["certificate"],
        certificate_sha256=outputs["jupyter"]["certificate_sha256"],
        password=password_file.read_text().strip(),
        # The server's root is the notebook user's ~/work (docker/jupyter_server_config.py).
        notebook="classify.ipynb",
        cat_image=images["chelsea.png"],
        not_cat_image=images["coffee.png"],
    )


def docker_container_ids(*labels: str, include_stopped: bool = False) -> list[str]:
    """Ids of the local dockerd's containers with all these labels (KEY=VALUE), running or all."""
    filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
    result = subprocess.run(
        ["docker", "ps", "-q", *(["-a"] if include_stopped else []), *filters],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def docker_network_ids(*labels: str) -> list[str]:
    """Ids of the local dockerd's networks with all these labels (KEY=VALUE)."""
    filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
    result = subprocess.run(
        ["docker", "network", "ls", "-q", *filters],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()
