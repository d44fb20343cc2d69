"""The supply chain of the image and of the data, tested as the attacks they stop.

- Every Python package the image installs is pinned with the sha256 of its wheels, and every
  install or download step of the Dockerfile runs with --require-hashes: a package index, proxy
  or mirror that serves other bytes for a pinned version stops the build (the refusal itself is
  tests/integration/test_image_supply_chain.py's, with real builds).
- The base image on AWS is a digest reference (ECR Public's Debian), and the Dockerfile's default
  is the same one; a base image given by tag is built with a warning.
- MNIST files whose sha256 is not the published one are refused, naming the file and both
  digests.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "image_build_args.yml"
ROLE_DEFAULTS = ROOT / "roles" / "image_build" / "defaults" / "main.yml"
sys.path.insert(0, str(DOCKER / "ecsdl" / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import lock_image_requirements  # noqa: E402
from ecsdl import datasets  # noqa: E402

HASHED_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[^\s=]+( --hash=sha256:[0-9a-f]{64})+$")
DIGEST_REFERENCE = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


def requirement_files() -> list[Path]:
    """Every requirement file of the build context (the package's own folder aside)."""
    return sorted(path for path in DOCKER.rglob("*.txt") if DOCKER / "ecsdl" not in path.parents)


def logical_lines(text: str) -> list[str]:
    """The requirement lines with their continuations joined, comments and blanks left out."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def run_commands() -> list[str]:
    """Each command of each RUN instruction of the Dockerfile (split at && and ;), with the
    instruction's continuation lines joined and its comment lines left out."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    text = re.sub(r"\\\n", " ", "\n".join(lines) + "\n")
    commands = []
    for line in text.splitlines():
        if line.startswith("RUN "):
            commands += [part.strip() for part in re.split(r"&&|;|\|\|", line[4:]) if part.strip()]
    return commands


@pytest.mark.parametrize("path", requirement_files(), ids=lambda p: str(p.relative_to(DOCKER)))
def test_every_requirement_is_pinned_with_its_wheels_sha256(path: Path) -> None:
    lines = logical_lines(path.read_text())
    assert lines, f"{path}: no requirement"
    unhashed = [line.split()[0] for line in lines if not HASHED_PIN.match(line)]
    assert not unhashed, f"{path}: pinned without --hash=sha256:... : {unhashed}"


def test_the_lock_script_writes_every_requirement_file() -> None:
    listed = {ROOT / name for name in lock_image_requirements.FILES}
    assert listed == set(requirement_files())


def test_the_lock_script_keeps_comments_and_writes_a_hash_line_per_wheel() -> None:
    items = lock_image_requirements.parse(
        "# why\nsix==1.17.0 \\\n    --hash=sha256:old\nuv==0.13.9\n"
    )
    assert items == ["# why", ("six", "1.17.0"), ("uv", "0.13.9")]
    text = lock_image_requirements.render(items, {"six": ["a" * 64], "uv": ["b" * 64, "c" * 64]})
    assert text == (
        f"# why\nsix==1.17.0 \\\n    --hash=sha256:{'a' * 64}\n"
        f"uv==0.13.9 \\\n    --hash=sha256:{'b' * 64} \\\n    --hash=sha256:{'c' * 64}\n"
    )
    assert all(HASHED_PIN.match(line) for line in logical_lines(text))


def test_every_install_and_download_of_the_build_checks_hashes() -> None:
    installs = [
        command for command in run_commands() if re.search(r"\bpip (install|download)\b", command)
    ]
    assert len(installs) >= 6, installs  # tools, venv, digits, pytest, ecsdl, CUDA
    unchecked = [
        command
        for command in installs
        if "--require-hashes" not in command
        # the project's own package: a wheel built here, installed with no index at all
        and not ("--offline" in command and "/tmp/ecsdl-wheel/" in command)
    ]
    assert not unchecked, f"installs without --require-hashes: {unchecked}"
    assert all("--only-binary=:all:" in c for c in installs if "--require-hashes" in c)


def test_the_package_is_built_offline_without_build_isolation() -> None:
    """uv's build isolation would download the build backend (setuptools) with no hash."""
    builds = [c for c in run_commands() if "/tmp/ecsdl" in c and re.search(r"\b(pip|uv)\b", c)]
    assert builds, "no step builds or installs the ecsdl package"
    for command in builds:
        assert "--no-deps" in command, command
        assert "--no-index" in command or "--offline" in command, command
        if " wheel " in command:
            assert "--no-build-isolation" in command, command


def test_the_build_installs_only_from_hashed_requirement_files() -> None:
    copies = {  # /tmp/... in the image -> the context's file or folder
        Path(m.group(2)): DOCKER / m.group(1)
        for m in re.finditer(r"^COPY (\S+) (/tmp/\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    }
    read = set()
    for command in run_commands():
        for name in re.findall(r"-r\s+(\S+)", command):
            name = name.strip("\"'")
            if "${mxnet_requirements}" in name:
                read.update((DOCKER / "mxnet").glob("*.txt"))
                continue
            target = Path(name)
            base = next((p for p in copies if p == target or p in target.parents), None)
            assert base is not None, f"-r {name}: not copied from the build context"
            read.add(copies[base] / target.relative_to(base))
    assert read, "no -r requirement file in the Dockerfile"
    assert read <= set(requirement_files()), read - set(requirement_files())


@pytest.mark.parametrize(
    "variable", ["image_build_cpu_mxnet_package", "image_build_gpu_mxnet_package"]
)
def test_each_mxnet_build_has_its_hashed_requirement_file(variable: str) -> None:
    package = yaml.safe_load(ROLE_DEFAULTS.read_text())[variable]
    path = DOCKER / "mxnet" / f"{package.split('==')[0]}.txt"
    assert [line.split()[0] for line in logical_lines(path.read_text())] == [package]


# --- the role's build arguments, through Ansible --------------------------------------------


def build_args(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    report = tmp_path / "args.json"
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOK),
         "-e", f"project_dir={ROOT}", "-e", f"report={report}", *extra],
        capture_output=True, text=True, timeout=180, check=False, cwd=ROOT, env=env,
    )  # fmt: skip
    args = json.loads(report.read_text()) if report.exists() else {}
    return result, args


def test_an_mxnet_build_without_its_hashed_file_stops_before_the_build(tmp_path: Path) -> None:
    result, args = build_args(
        tmp_path, "-e", "local_target=false", "-e", "image_build_mxnet_package=mxnet-cu112==1.9.0"
    )
    assert result.returncode != 0 and not args
    output = " ".join(result.stdout.split())
    assert "image_build_mxnet_package is 'mxnet-cu112==1.9.0', but" in output
    assert "docker/mxnet/mxnet-cu112.txt does not pin it" in output


# --- the base image ------------------------------------------------------------------------


def test_the_dockerfile_default_base_image_is_the_pinned_aws_one() -> None:
    pinned = yaml.safe_load(ROLE_DEFAULTS.read_text())["image_build_aws_base_image"]
    assert pinned.startswith("public.ecr.aws/docker/library/debian:bookworm-slim@sha256:")
    assert DIGEST_REFERENCE.match(pinned)
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert default and default.group(1) == pinned


def test_aws_builds_from_a_digest_reference_without_warning(tmp_path: Path) -> None:
    result, args = build_args(tmp_path, "-e", "local_target=false")
    assert result.returncode == 0, result.stdout[-3000:]
    assert DIGEST_REFERENCE.match(args["BASE_IMAGE"]), args
    assert args["BASE_IMAGE"].startswith("public.ecr.aws/docker/library/debian:bookworm-slim@")
    assert "WARNING" not in result.stdout


@pytest.mark.parametrize(
    "extra",
    [
        ("-e", "image_build_base_image=debian:bookworm-slim"),
        (
            "-e",
            '{"image_build_args": {"BASE_IMAGE": "public.ecr.aws/docker/library/debian:bookworm"}}',
        ),
    ],
    ids=["image_build_base_image", "image_build_args"],
)
def test_aws_base_image_by_tag_is_built_with_a_warning(tmp_path: Path, extra: tuple) -> None:
    result, args = build_args(tmp_path, "-e", "local_target=false", *extra)
    assert result.returncode == 0, result.stdout[-3000:]
    output = " ".join(result.stdout.split())
    assert (
        f"WARNING: the base image (BASE_IMAGE) is {args['BASE_IMAGE']}, which names no digest"
        in output
    )


def test_the_local_target_keeps_its_offline_base_image(tmp_path: Path) -> None:
    result, args = build_args(tmp_path, "-e", "local_target=true")
    assert result.returncode == 0, result.stdout[-3000:]
    assert args["BASE_IMAGE"] == "ecs-dl/debian:bookworm-minbase"
    assert "WARNING" not in result.stdout


# --- MNIST ----------------------------------------------------------------------------------


# `sha256sum` of the files as MNIST publishes them (yann.lecun.com/exdb/mnist) and its mirrors
# serve them byte for byte (ossci-datasets.s3.amazonaws.com, storage.googleapis.com/cvdf-datasets).
PUBLISHED_MNIST = """
440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  train-images-idx3-ubyte.gz
3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  train-labels-idx1-ubyte.gz
8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  t10k-images-idx3-ubyte.gz
f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  t10k-labels-idx1-ubyte.gz
"""


def test_mnist_digests_are_the_published_ones() -> None:
    published = dict(reversed(line.split()) for line in PUBLISHED_MNIST.strip().splitlines())
    assert datasets.MNIST_SHA256 == published


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


@pytest.fixture
def mnist_copy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A small folder in MNIST's format and the sha256 of its four files."""
    rng = np.random.default_rng(0)
    digests = {}
    for name, array in {
        "train-images-idx3-ubyte.gz": rng.integers(0, 255, (20, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 20),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 255, (5, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5),
    }.items():
        data = _idx(array)
        (tmp_path / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return tmp_path, digests


def test_mnist_files_with_the_expected_digests_load(
    mnist_copy: tuple[Path, dict[str, str]],
) -> None:
    folder, digests = mnist_copy
    data = datasets.load_mnist(str(folder), digests)
    assert data.input_shape == (1, 28, 28) and len(data.train_y) == 20


@pytest.mark.parametrize("name", sorted(datasets.MNIST_FILES.values()))
def test_a_tampered_mnist_file_is_refused(
    mnist_copy: tuple[Path, dict[str, str]], name: str
) -> None:
    folder, digests = mnist_copy
    path = folder / name
    # the attack: the same well-formed file with one label or pixel changed
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw), mtime=0))
    tampered = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(datasets.DatasetError) as info:
        datasets.load_mnist(str(folder), digests)
    message = str(info.value)
    assert "\n" not in message
    assert f"{folder / name}: sha256 {tampered}, expected {digests[name]}" in message


def test_by_default_only_mnist_itself_is_accepted(mnist_copy: tuple[Path, dict[str, str]]) -> None:
    folder, digests = mnist_copy
    with pytest.raises(
        datasets.DatasetError,
        match=f"expected {datasets.MNIST_SHA256['train-images-idx3-ubyte.gz']}",
    ):
        datasets.load_mnist(str(folder))
