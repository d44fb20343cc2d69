"""No secret leaks: site.yml at -vvv prints none, and no file holds one but those meant to (0600).

One site.yml -vvv run for a deployment of its own (ECS_DL_SEC_DEPLOYMENT, default ecs-dl-sec,
with host ports of its own), torn down when the module ends. The secrets are read the way a
user (or an attacker with the account) would: the generated Jupyter password and the private
keys (the key pair's, the container's host key, Jupyter's TLS key) from .secrets/, the
password's argon2 hash from SSM, an ECR token from GetAuthorizationToken.
Each is looked for in several forms (whole, base64, per-line fragments of the keys, so that a
JSON-escaped or re-wrapped key is found too) in:

- the playbook's -vvv output;
- every file under the repository (not .git and .venv) but the four files meant to hold them,
  which must be 0600 in a 0700 folder: outputs/, .local/ (logs, sshd, the registry's manifests
  and image configs), tests/artifacts/, ...; plus ~/.docker, ~/.ansible, Ansible's scratch files
  in /tmp (the instance-side build folder, with the build context and the docker client's
  config, is on the local target the repository's .local/image-build/<name>);
- the built image's `docker history --no-trunc` and `docker inspect`, the registered task
  definitions and the deployment's CloudWatch logs.

moto's ECR token is `base64("AWS:<account>-auth-token")`, the same on every call: the token this
test gets is the one the image_push role got and used for docker login.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import (
    REPO_ROOT,
    assert_playbook_ok,
    deployment_args,
    local_client,
    run_playbook,
    save_artifact,
    tail,
)
from tests.resources import task_definition_families

NAME = os.environ.get("ECS_DL_SEC_DEPLOYMENT", "ecs-dl-sec")
JUPYTER_PORT = int(os.environ.get("ECS_DL_SEC_JUPYTER_PORT", "5588"))
CONTAINER_SSH_PORT = int(os.environ.get("ECS_DL_SEC_SSH_PORT", "5522"))
ARGS = deployment_args(NAME, JUPYTER_PORT, CONTAINER_SSH_PORT)
SECRETS_DIR = REPO_ROOT / ".secrets"
# Files larger than this are not read: only the registry's compressed image layers are (the
# image's metadata is checked through docker, and its build context is scanned as files).
MAX_SCAN_BYTES = 16 * 1024 * 1024
# A key line shorter than this is padding or a fixed header, not the key's own material.
MIN_FRAGMENT = 20


@dataclass
class Secret:
    """One secret, the forms it is looked for in, and the file meant to hold it (if any)."""

    name: str
    # Never in a repr: a failing test must not print the secrets it protects.
    value: str = field(repr=False)
    fragments: list[str] = field(repr=False)
    home: Path | None = None

    def found_in(self, data: bytes) -> list[int]:
        """The indexes of the fragments that occur in data."""
        return [i for i, fragment in enumerate(self.fragments) if fragment.encode() in data]


@dataclass
class VerboseRun:
    stdout: str = field(repr=False)
    started: float
    outputs: dict[str, Any] = field(default_factory=dict, repr=False)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def key_fragments(pem: str) -> list[str]:
    """Pieces of a private key that only this key has, in the forms a leak would take.

    Each base64 line of the body but the first (an OpenSSH key's first line encodes the fixed
    `openssh-key-v1`/`none`/`ssh-ed25519` header, the same in every such key), and slices of
    the base64 of the whole file (as `slurp` or a JSON `b64` field would carry it) past its
    fixed `-----BEGIN ...` start.
    """
    body = [line.strip() for line in pem.splitlines() if line.strip() and "-----" not in line]
    fragments = [line for line in body[1:] if len(line) >= MIN_FRAGMENT]
    whole = _b64(pem)
    fragments += [whole[i : i + 40] for i in range(120, len(whole) - 40, 160)]
    assert fragments, "the key has no line to look for"
    return fragments


def ec_key_fragments(pem: str) -> list[str]:
    """Pieces of an EC private key (SEC1 PEM, as community.crypto writes Jupyter's TLS key)
    that only its private half has.

    Such a file holds the public key too, in its last bytes; the certificate, which is public
    and printed, holds the same bytes at the same base64 alignment. So only the body's first
    line (the version and the 32-byte private scalar) and slices of the base64 of the whole
    file count."""
    body = [line.strip() for line in pem.splitlines() if line.strip() and "-----" not in line]
    der = base64.b64decode("".join(body))
    assert der[5:7] == b"\x04\x20", "not a SEC1 EC private key with a 32-byte scalar"
    assert base64.b64decode(body[0])[7:39] == der[7:39], "the scalar is not in the first line"
    whole = _b64(pem)
    return [body[0]] + [whole[i : i + 40] for i in range(120, len(whole) - 40, 160)]


def password_fragments(value: str) -> list[str]:
    return [value, _b64(value)]


def hash_fragments(value: str) -> list[str]:
    """The hash (argon2:$argon2id$v=..$m=..,t=..,p=..$SALT$DIGEST), its salt and its digest."""
    parts = value.split("$")
    well_formed = len(parts) >= 3 and len(parts[-1]) >= 16
    assert well_formed, "not an argon2 hash in jupyter_server's form"
    return [value, parts[-1], parts[-2], _b64(value)]


@pytest.fixture(scope="module")
def verbose_run(local_stack) -> Iterator[VerboseRun]:
    """site.yml -vvv for NAME, once; teardown.yml when the module is done."""
    del local_stack
    started = time.time()
    result = run_playbook("site.yml", *ARGS, "-vvv")
    try:
        assert_playbook_ok(result, f"site.yml -vvv for {NAME}", "site-secrets-vvv.log")
        outputs_path = REPO_ROOT / "outputs" / f"{NAME}.json"
        yield VerboseRun(result.stdout, started, json.loads(outputs_path.read_text()))
    finally:
        final = run_playbook("teardown.yml", *ARGS)
        save_artifact("teardown-secrets.log", final.stdout)
        if final.returncode != 0:
            print(
                f"teardown.yml for {NAME} failed (exit {final.returncode}):\n{tail(final.stdout)}"
            )


def ecr_token() -> str:
    data = local_client("ecr").get_authorization_token()["authorizationData"]
    return data[0]["authorizationToken"]


@pytest.fixture(scope="module")
def secrets(verbose_run: VerboseRun) -> list[Secret]:
    del verbose_run
    return read_secrets()


def read_secrets() -> list[Secret]:
    """The deployment's secrets, read from where site.yml put them."""
    password_file = SECRETS_DIR / f"{NAME}-jupyter-password"
    key_file = SECRETS_DIR / f"{NAME}.pem"
    host_key_file = SECRETS_DIR / f"{NAME}-container-host-key"
    tls_key_file = SECRETS_DIR / f"{NAME}-jupyter-tls.key"
    for path in (password_file, key_file, host_key_file, tls_key_file):
        assert path.is_file(), f"site.yml wrote no {path}"
    password = password_file.read_text().strip()
    password_hash = local_client("ssm").get_parameter(
        Name=f"/{NAME}/jupyter/password-hash", WithDecryption=True
    )["Parameter"]["Value"]
    token = ecr_token()
    # The same token on every call (moto's is fixed): this one is the one the push used.
    # (Compared outside the assert: pytest would print both tokens on a failure.)
    same = ecr_token() == token
    assert same, "moto's ECR token changes between calls: the token site.yml used is unknown"
    user, _, registry_password = base64.b64decode(token).decode().partition(":")
    well_formed = user == "AWS" and len(registry_password) >= 16
    assert well_formed, "ECR's token is not base64('AWS:<password>')"
    found = [
        Secret("Jupyter password", password, password_fragments(password), password_file),
        Secret("Jupyter password hash", password_hash, hash_fragments(password_hash)),
        Secret("private key", key_file.read_text(), key_fragments(key_file.read_text()), key_file),
        Secret(
            "container host key",
            host_key_file.read_text(),
            key_fragments(host_key_file.read_text()),
            host_key_file,
        ),
        Secret(
            "Jupyter TLS key",
            tls_key_file.read_text(),
            ec_key_fragments(tls_key_file.read_text()),
            tls_key_file,
        ),
        Secret("registry token", token, [token, _b64(token)]),
        Secret("registry password", registry_password, password_fragments(registry_password)),
    ]
    # Nothing shorter than 16 characters is a meaningful needle (it could match by chance).
    assert all(len(f) >= 16 for s in found for f in s.fragments), [s.name for s in found]
    return found


def leaks(data: bytes, secrets: Iterable[Secret], where: str) -> list[str]:
    """'<secret> in <where> (fragment <index>)' for each fragment found (never the fragment)."""
    return [
        f"{secret.name} in {where} (fragment {index})"
        for secret in secrets
        for index in secret.found_in(data)
    ]


def files_under(root: Path, *, prune: Callable[[Path], bool] = lambda p: False) -> Iterator[Path]:
    """Regular files under root (symbolic links not followed), not in pruned folders."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not prune(here / d)]
        for name in files:
            path = here / name
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


def scanned_files(verbose_run: VerboseRun) -> Iterator[Path]:
    """Every place the project (or the tools it runs) may write to on this machine."""
    yield from files_under(
        REPO_ROOT, prune=lambda p: p.parent == REPO_ROOT and p.name in (".git", ".venv")
    )
    home = Path.home()
    # (the build folder, with the push's docker client folder, is the repository's .local/)
    for folder in (home / ".docker", home / ".ansible"):
        if folder.is_dir():
            yield from files_under(folder)
    # Ansible's tempfile module (the models role's download folder, image_build's archive).
    for entry in Path("/tmp").glob("ansible.*"):
        if entry.lstat().st_mtime >= verbose_run.started - 1:
            yield from ([entry] if entry.is_file() else files_under(entry))


def test_the_vvv_output_holds_no_secret(verbose_run: VerboseRun, secrets: list[Secret]) -> None:
    # (Tested outside the assert, which would print the whole output on a failure.)
    verbose = "ESTABLISH LOCAL CONNECTION" in verbose_run.stdout
    assert verbose, "not a -vvv run"
    hidden = "has been hidden due to the fact that" in verbose_run.stdout
    assert hidden, "no task's result was hidden (no_log)"
    found = leaks(verbose_run.stdout.encode(), secrets, "site.yml -vvv output")
    assert not found, found


def test_the_search_finds_each_secret_in_the_forms_a_leak_takes(secrets: list[Secret]) -> None:
    """A control: each secret is found as JSON, YAML (Ansible's output) and base64 text."""
    for secret in secrets:
        for form, text in (
            ("JSON", json.dumps({"value": secret.value})),
            ("YAML", yaml.safe_dump({"result": {"stdout": secret.value}}, width=80)),
            ("base64", _b64(secret.value)),
            ("raw", secret.value),
        ):
            found = bool(secret.found_in(text.encode()))
            assert found, f"the search misses the {secret.name} written as {form}"


def test_the_secret_files_are_owner_only(verbose_run: VerboseRun, secrets: list[Secret]) -> None:
    del verbose_run
    folder_mode = stat.S_IMODE(SECRETS_DIR.stat().st_mode)
    assert folder_mode == 0o700, f"{SECRETS_DIR} is {folder_mode:o}, not 700"
    homes = {secret.home for secret in secrets if secret.home}
    homes.add(REPO_ROOT / "outputs" / f"{NAME}.json")  # names the key's path: 0600 too
    modes = {str(path): f"{stat.S_IMODE(path.stat().st_mode):o}" for path in homes}
    assert all(mode == "600" for mode in modes.values()), modes
    # The search finds each secret where it is meant to be, so it would find it elsewhere.
    for secret in secrets:
        if secret.home:
            found = bool(secret.found_in(secret.home.read_bytes()))
            assert found, f"{secret.name} not found in {secret.home}"


def test_no_file_holds_a_secret_but_its_own(verbose_run: VerboseRun, secrets: list[Secret]) -> None:
    found: list[str] = []
    scanned = 0
    skipped: list[str] = []
    for path in scanned_files(verbose_run):
        try:
            size = path.stat().st_size
            if size > MAX_SCAN_BYTES:
                skipped.append(str(path))
                continue
            data = path.read_bytes()
        except (FileNotFoundError, PermissionError):
            continue  # a scratch file removed while we walked, or a socket's leftovers
        scanned += 1
        # A secret's own file holds it (and nothing else secret).
        found += leaks(data, [s for s in secrets if s.home != path], str(path))
    assert scanned > 100, f"only {scanned} files scanned"
    # Only compressed layers may be too big to read, and only in the registry's blob store.
    unexpected = [p for p in skipped if "/.local/registry/" not in p]
    assert not unexpected, f"files too big to scan outside the registry's blobs: {unexpected}"
    assert not found, found


def docker_text(*args: str) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr.strip()}"
    return result.stdout


def test_the_image_holds_no_secret(verbose_run: VerboseRun, secrets: list[Secret]) -> None:
    image = verbose_run.outputs["image_uri"]
    history = docker_text("history", "--no-trunc", "--format", "{{json .}}", image)
    inspect = docker_text("image", "inspect", image)
    found = leaks(history.encode(), secrets, f"docker history of {image}")
    found += leaks(inspect.encode(), secrets, f"docker inspect of {image}")
    assert not found, found


def test_task_definitions_and_logs_hold_no_secret(
    verbose_run: VerboseRun, secrets: list[Secret]
) -> None:
    ecs = local_client("ecs")
    definitions = [
        ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        for family in task_definition_families(NAME)
    ]
    jupyter = next(d for d in definitions if d["family"] == f"{NAME}-jupyter")
    given = {s["name"] for c in jupyter["containerDefinitions"] for s in c.get("secrets", [])}
    assert "JUPYTER_PASSWORD_HASH" in given, "the hash is not handed over through `secrets`"
    found = leaks(json.dumps(definitions, default=str).encode(), secrets, "the task definitions")

    logs = local_client("logs")
    events: list[str] = []
    for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=verbose_run.outputs["log_group"]
    ):
        events += [event["message"] for event in page["events"]]
    assert events, "the Jupyter task wrote no log"
    found += leaks("\n".join(events).encode(), secrets, "the CloudWatch logs")
    assert not found, found
