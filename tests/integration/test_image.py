"""The MXNet image (docker/): it builds, its package tests pass in the test stage, `classify` finds
the cat with both shared MobileNets, Jupyter and sshd run as promised (as jovyan, uid 61000: no
process of the container is root or has a capability), and no secret is in it.

The session builds the image itself with the docker CLI (classic builder, as the role does), on
the local target's offline Debian base (`make up` makes it). The build host's extra CA
certificates go to docker/certs/ for the builder stage, as the role copies them. The tag is
ECS_DL_TEST_IMAGE (default ecsdl-test/mxnet:test; the test stage gets `-stage` appended), so a
run does not retag an image someone else's containers use. The `classify --output s3://` tests
talk to an in-process moto server (tests/conftest.py) from a `--network host` container.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CONTAINER_UID
from tests.integration.processes import PROCESS_LIST, parse_listing
from tests.tls import plain_http_refused, self_signed

# Jupyter's TLS key and certificate, as the deployment gives them to the task (the key from an
# SSM SecureString); a client trusts that certificate only.
TLS_KEY, TLS_CERT = self_signed("ecsdl-image-test", ["127.0.0.1"])
TLS_ENV = ("-e", f"JUPYTER_TLS_KEY={TLS_KEY}", "-e", f"JUPYTER_TLS_CERT={TLS_CERT}")
TLS_CONTEXT = ssl.create_default_context(cadata=TLS_CERT)

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
MODELS_DIR = (REPO_ROOT / ".." / "shared" / "models" / "imagenet-mobilenet").resolve()
MODELS = ("mobilenet_v1_0.5_160", "mobilenet_v1_0.25_128")
BASE_IMAGE = os.environ.get("ECS_DL_BASE_IMAGE", "ecs-dl/debian:bookworm-minbase")
IMAGE = os.environ.get("ECS_DL_TEST_IMAGE", "ecsdl-test/mxnet:test")
TEST_STAGE_IMAGE = f"{IMAGE}-stage"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
BUILD_TIMEOUT = int(os.environ.get("ECS_DL_IMAGE_BUILD_TIMEOUT", "1200"))
SAMPLES = {"chelsea": True, "coffee": False, "astronaut": False, "rocket": False}
PASSWORD = "correct horse battery staple"


def docker(*args: str, timeout: int = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"docker {' '.join(args[:3])} ... failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def build(*args: str) -> None:
    docker(
        "build",
        "--build-arg",
        f"BASE_IMAGE={BASE_IMAGE}",
        *args,
        str(DOCKER_DIR),
        timeout=BUILD_TIMEOUT,
    )


@pytest.fixture(scope="session")
def host_ca_certs() -> list[Path]:
    return sorted(HOST_CA_DIR.glob("*.crt"))


@pytest.fixture(scope="session")
def image(host_ca_certs: list[Path]) -> Iterator[str]:
    """The runtime image, built once; the test stage (package tests) built right after it."""
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not on PATH")
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        pytest.fail(
            f"the base image {BASE_IMAGE} is missing: run `make up` (the local target) first"
        )
    copied = []
    for cert in host_ca_certs:  # as the role does: the builder stage trusts the host's extra CAs
        target = DOCKER_DIR / "certs" / cert.name
        if not target.exists():
            shutil.copyfile(cert, target)
            copied.append(target)
    try:
        build("--target", "runtime", "-t", IMAGE)
        build("--target", "test", "-t", TEST_STAGE_IMAGE)
    finally:
        for target in copied:
            target.unlink(missing_ok=True)
    yield IMAGE


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not all((MODELS_DIR / f"{m}-symbol.json").is_file() for m in MODELS):
        pytest.fail(f"the shared pretrained models are missing: expected them in {MODELS_DIR}")
    return MODELS_DIR


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-image's sample photos: chelsea as JPEG (a cat), the others as PNG."""
    from skimage import data, io

    folder = tmp_path_factory.mktemp("samples")
    for name in SAMPLES:
        suffix = "jpg" if name == "chelsea" else "png"
        io.imsave(folder / f"{name}.{suffix}", getattr(data, name)(), check_contrast=False)
    folder.chmod(0o755)  # the container's user (uid 61000) reads them
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def sample_path(name: str) -> str:
    return f"/images/{name}.{'jpg' if name == 'chelsea' else 'png'}"


def run_in_image(
    image: str, models_dir: Path, samples: Path, *command: str, docker_args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return docker(
        "run",
        "--rm",
        "-v",
        f"{models_dir}:/models:ro",
        "-v",
        f"{samples}:/images:ro",
        *docker_args,
        image,
        *command,
        check=False,
    )


def test_the_test_stage_ran_the_package_tests(image: str) -> None:
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", TEST_STAGE_IMAGE)
    assert "pytest" in history.stdout
    assert "pytest" not in docker("history", "--no-trunc", image).stdout
    result = docker("run", "--rm", image, "python", "-c", "import pytest", check=False)
    assert result.returncode != 0, "the runtime image must not contain pytest"


@pytest.mark.parametrize("model", MODELS)
def test_classify_finds_the_cat(image: str, models_dir: Path, samples: Path, model: str) -> None:
    images = [sample_path(name) for name in SAMPLES]
    result = run_in_image(
        image, models_dir, samples, "classify", "--json", "--model", f"/models/{model}", *images
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["image"] for line in lines] == images
    verdicts = {Path(line["image"]).stem: line["is_cat"] for line in lines}
    assert verdicts == SAMPLES, result.stdout
    for line in lines:
        assert set(line) == {"image", "is_cat", "cat_probability", "top"}
        assert isinstance(line["is_cat"], bool)
        assert isinstance(line["cat_probability"], float) and 0 <= line["cat_probability"] <= 1
        assert len(line["top"]) == 5
        probabilities = [entry["probability"] for entry in line["top"]]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(set(e) == {"label", "probability"} for e in line["top"])
        assert all(isinstance(e["label"], str) and e["label"] for e in line["top"])
    chelsea = lines[0]
    assert chelsea["cat_probability"] > 0.8
    assert chelsea["top"][0]["label"] == "Egyptian cat"


def test_classify_reports_a_bad_image_and_still_the_good_one(
    image: str, models_dir: Path, samples: Path
) -> None:
    result = run_in_image(
        image,
        models_dir,
        samples,
        "classify",
        "--json",
        "--model",
        f"/models/{MODELS[0]}",
        "/images/no-such-photo.jpg",
        sample_path("chelsea"),
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "classify: /images/no-such-photo.jpg: no such file"
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["image"], line["is_cat"]) for line in lines] == [(sample_path("chelsea"), True)]


def test_classify_without_a_model_says_so(image: str, models_dir: Path, samples: Path) -> None:
    result = run_in_image(
        image, models_dir, samples, "classify", "--model", "/models/nope", sample_path("coffee")
    )
    assert result.returncode == 3
    assert result.stderr.strip() == "classify: model: /models/nope-symbol.json: no such file"


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def s3_docker_args(endpoint: str) -> tuple[str, ...]:
    """`docker run` arguments for a container that reaches the moto server on the host's
    loopback, as boto3 inside the image would reach S3."""
    env = [f"AWS_ENDPOINT_URL={endpoint}", *(f"{k}={v}" for k, v in S3_ENV.items())]
    return ("--network", "host", *(arg for pair in env for arg in ("-e", pair)))


@pytest.fixture
def results_bucket(moto_endpoint: str) -> str:
    """A fresh bucket on the module's moto server, for `classify --output s3://...`."""
    name = f"ecsdl-results-{uuid.uuid4().hex[:8]}"
    s3_client(moto_endpoint).create_bucket(Bucket=name)
    return name


def test_classify_output_to_s3_holds_the_json_lines_even_with_a_bad_image(
    image: str, models_dir: Path, samples: Path, moto_endpoint: str, results_bucket: str
) -> None:
    """The container (host network, AWS_ENDPOINT_URL: the moto server) uploads exactly the JSON
    lines it prints; the unreadable image is on stderr only and the exit status stays 1."""
    images = [sample_path("chelsea"), "/images/no-such-photo.jpg", sample_path("coffee")]
    uri = f"s3://{results_bucket}/runs/1/results.json"
    result = run_in_image(
        image,
        models_dir,
        samples,
        *("classify", "--json", "--model", f"/models/{MODELS[0]}", "--output", uri, *images),
        docker_args=s3_docker_args(moto_endpoint),
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == "classify: /images/no-such-photo.jpg: no such file"
    s3 = s3_client(moto_endpoint)
    written = s3.get_object(Bucket=results_bucket, Key="runs/1/results.json")["Body"].read()
    written = written.decode()
    assert written == result.stdout
    lines = [json.loads(line) for line in written.splitlines()]
    assert [(line["image"], line["is_cat"]) for line in lines] == [
        (sample_path("chelsea"), True),
        (sample_path("coffee"), False),
    ]


def test_classify_output_to_a_missing_bucket_exits_4(
    image: str, models_dir: Path, samples: Path, moto_endpoint: str
) -> None:
    uri = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/results.json"
    result = run_in_image(
        image,
        models_dir,
        samples,
        *("classify", "--json", "--model", f"/models/{MODELS[0]}", "--output", uri),
        sample_path("chelsea"),
        docker_args=s3_docker_args(moto_endpoint),
    )
    assert result.returncode == 4, result.stderr
    assert result.stderr.strip() == (
        f"classify: results not written: {uri}: cannot write to S3 (NoSuchBucket)"
    )
    assert json.loads(result.stdout)["is_cat"] is True, "stdout still has the result"


def test_classify_output_to_a_local_path(image: str, models_dir: Path, samples: Path) -> None:
    images = [sample_path(name) for name in SAMPLES]
    script = (
        f'classify --json --model /models/{MODELS[0]} --output /tmp/out/x.json "$@"'
        " && echo '=== file' && cat /tmp/out/x.json"
    )
    result = run_in_image(image, models_dir, samples, "sh", "-c", script, "sh", *images)
    assert result.returncode == 0, result.stderr
    printed, _, written = result.stdout.partition("=== file\n")
    assert written == printed
    assert [json.loads(line)["image"] for line in written.splitlines()] == images


def test_train_writes_its_checkpoint_in_the_users_home_with_no_capability(image: str) -> None:
    result = docker(
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        image,
        "sh",
        "-c",
        "train --dataset digits --epochs 1 --output ~/work/trained/mlp > /dev/null"
        " && stat -c '%U %n' ~/work/trained/*",
    )
    assert result.stdout.split("\n")[:-1] == [
        f"jovyan /home/jovyan/work/trained/{name}"
        for name in ("labels.txt", "mlp-0000.params", "mlp-symbol.json")
    ], result.stdout


def test_the_image_user_is_jovyan_and_nothing_can_become_root(image: str) -> None:
    """USER is jovyan by number (an orchestrator can check it is not root without running it);
    no set-user-ID or set-group-ID program is left to become root or another user with."""
    user = docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    assert user.split(":")[0] == CONTAINER_UID, f"the image's USER is {user!r}"
    assert docker("run", "--rm", image, "id", "-un").stdout.strip() == "jovyan"
    setid = docker(
        "run", "--rm", image, "sh", "-c", "find / -xdev -type f -perm /6000 2>/dev/null || true"
    ).stdout.split()
    assert setid == [], f"set-user-ID/set-group-ID programs in the image: {setid}"


PROCESS_STATUS = "grep -E '^(Uid|Gid|CapEff|CapPrm|CapBnd|NoNewPrivs):' /proc/self/status"


@pytest.mark.parametrize(
    "docker_args",
    [(), ("--user", "0"), ("--cap-drop", "ALL")],
    ids=["image-default", "started-as-root", "cap-drop-all"],
)
def test_commands_run_as_jovyan_with_no_capability(
    image: str, docker_args: tuple[str, ...]
) -> None:
    """Whatever it is started as, the command runs as uid 61000 with no effective capability;
    started as root, the entrypoint drops to jovyan for good (setpriv, no new privileges)."""
    result = docker("run", "--rm", *docker_args, image, "sh", "-c", f"{PROCESS_STATUS}; echo $HOME")
    lines = result.stdout.split("\n")
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    status = {key: value.split() for key, value in status.items()}
    assert status["Uid"] == [CONTAINER_UID] * 4, status
    assert status["Gid"] == [CONTAINER_UID] * 4, status
    assert int(status["CapEff"][0], 16) == 0 and int(status["CapPrm"][0], 16) == 0, status
    assert "/home/jovyan" in lines
    if docker_args[:2] == ("--user", "0"):
        assert status["NoNewPrivs"] == ["1"] and int(status["CapBnd"][0], 16) == 0, status


def test_no_secret_in_the_image(image: str, host_ca_certs: list[Path]) -> None:
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    config = docker("image", "inspect", "--format", "{{json .Config}}", image).stdout
    for text in (history, config):
        for needle in ("PRIVATE KEY", "BEGIN CERTIFICATE", "argon2:", "sha1:"):
            assert needle not in text
        assert not re.search(r"(?i)(password|passwd|token|secret)\s*=", text), text
    for cert in host_ca_certs:
        body = "".join(
            line for line in cert.read_text().splitlines() if line and not line.startswith("---")
        )
        assert body[:64] not in history and body[:64] not in config
    listing = docker(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "ls /usr/local/share/ca-certificates/; ls -R /etc/ssh/ | grep ssh_host_ || true; "
        "cat /etc/ssl/certs/ca-certificates.crt",
    ).stdout
    assert ".crt" not in listing.split("-----BEGIN")[0], "a build CA certificate is in the image"
    assert "ssh_host_" not in listing.split("-----BEGIN")[0], "SSH host keys are baked in"
    bundle = listing.replace("\n", "")
    for cert in host_ca_certs:
        lines = [ln for ln in cert.read_text().splitlines() if ln and not ln.startswith("---")]
        assert "".join(lines)[:64] not in bundle, f"{cert.name} is trusted in the runtime image"


def test_without_a_password_hash_jupyter_does_not_start(image: str) -> None:
    result = docker("run", "--rm", image, check=False, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "start-notebook: JUPYTER_PASSWORD_HASH is not set (a jupyter_server.auth.passwd() hash); "
        "refusing to start Jupyter without a password"
    ]


def test_without_a_tls_key_and_certificate_jupyter_does_not_start(
    image: str, password_hash: str
) -> None:
    result = docker(
        "run", "--rm", "-e", f"JUPYTER_PASSWORD_HASH={password_hash}", image,
        check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 64
    assert result.stderr.strip().splitlines() == [
        "start-notebook: JUPYTER_TLS_KEY and JUPYTER_TLS_CERT are not set (a PEM key and its "
        "certificate); refusing to serve Jupyter over plain HTTP"
    ]


def test_a_tls_key_without_its_certificate_is_refused(image: str, password_hash: str) -> None:
    result = docker(
        "run", "--rm", "-e", f"JUPYTER_PASSWORD_HASH={password_hash}", "-e",
        f"JUPYTER_TLS_KEY={TLS_KEY}", image, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 64
    assert "JUPYTER_TLS_KEY and JUPYTER_TLS_CERT go together" in result.stderr
    assert "PRIVATE KEY" not in result.stderr + result.stdout


@pytest.fixture
def container_name() -> Iterator[str]:
    name = f"ecsdl-test-{uuid.uuid4().hex[:8]}"
    yield name
    docker("rm", "-f", name, check=False)


def _wait_for_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2, context=TLS_CONTEXT)  # noqa: S310
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError as exc:
            last = str(exc)
            time.sleep(0.5)
    pytest.fail(f"Jupyter did not answer on {url} within {timeout:.0f} s ({last})")


@pytest.fixture(scope="session")
def password_hash(image: str) -> str:
    """PASSWORD as jupyter_server.auth.passwd() hashes it (what the deployment puts in SSM)."""
    return docker(
        "run",
        "--rm",
        image,
        "python",
        "-c",
        f"from jupyter_server.auth import passwd; print(passwd({PASSWORD!r}))",
    ).stdout.strip()


def jupyter_login(base: str, password: str = PASSWORD) -> tuple[Any, str]:
    """An opener logged in to Jupyter at base (its cookies), and the _xsrf token for writes."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), urllib.request.HTTPSHandler(context=TLS_CONTEXT)
    )
    opener.open(f"{base}/login", timeout=5)
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    body = urllib.parse.urlencode({"password": password, "_xsrf": xsrf}).encode()
    opener.open(f"{base}/login?next=%2Fapi%2Fstatus", data=body, timeout=10)
    return opener, xsrf


def test_jupyter_needs_the_password_and_runs_as_non_root(
    image: str, container_name: str, password_hash: str
) -> None:
    docker(
        "run",
        "-d",
        "--name",
        container_name,
        "-p",
        "127.0.0.1::8888",
        "-e",
        f"JUPYTER_PASSWORD_HASH={password_hash}",
        *TLS_ENV,
        image,
    )
    port = docker("port", container_name, "8888/tcp").stdout.split(":")[-1].strip()
    base = f"https://127.0.0.1:{port}"
    _wait_for_http(f"{base}/login")

    # HTTPS only: plain HTTP on the port gets no answer
    assert plain_http_refused("127.0.0.1", int(port)) == ""

    # the hash and the TLS key are in 0600 files of jovyan's, in no process's environment
    # (tini's included)
    assert secret_holders(container_name, "JUPYTER_PASSWORD_HASH", "JUPYTER_TLS_KEY") == ""
    tls_files = docker(
        "exec", container_name, "sh", "-c",
        "cd /tmp/ecsdl-secrets.* && stat -c '%U %a %n' jupyter-tls.key jupyter-tls.crt",
    ).stdout.split()  # fmt: skip
    assert tls_files[0:2] == ["jovyan", "600"] and tls_files[3:5] == ["jovyan", "600"], tls_files
    hash_file = docker(
        "exec", container_name, "sh", "-c",
        "stat -c '%U %a' /tmp/ecsdl-secrets.*/jupyter-password-hash "
        "&& stat -c '%U %a' /tmp/ecsdl-secrets.* && cat /tmp/ecsdl-secrets.*/jupyter-password-hash",
    ).stdout.splitlines()  # fmt: skip
    assert hash_file == ["jovyan 600", "jovyan 700", password_hash], hash_file

    # without login: the API refuses
    for path in ("/api/status", "/api/contents", "/api/kernels"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + path, timeout=5, context=TLS_CONTEXT)  # noqa: S310
        assert info.value.code == 403, path

    # with the password: it answers
    opener, _ = jupyter_login(base)
    status = json.loads(opener.open(f"{base}/api/status", timeout=5).read())
    assert "started" in status
    contents = json.loads(opener.open(f"{base}/api/contents", timeout=5).read())
    assert {"classify.ipynb", "train.ipynb"} <= {item["name"] for item in contents["content"]}

    # a wrong password does not log in
    jar2 = http.cookiejar.CookieJar()
    opener2 = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar2), urllib.request.HTTPSHandler(context=TLS_CONTEXT)
    )
    opener2.open(f"{base}/login", timeout=5)
    xsrf2 = next(c.value for c in jar2 if c.name == "_xsrf")
    bad = urllib.parse.urlencode({"password": "wrong", "_xsrf": xsrf2}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener2.open(f"{base}/login", data=bad, timeout=10)
    assert refused.value.code == 401
    with pytest.raises(urllib.error.HTTPError):
        opener2.open(f"{base}/api/status", timeout=5)

    uids = docker(
        "exec",
        container_name,
        "python",
        "-c",
        "import os\n"
        "for p in filter(str.isdigit, os.listdir('/proc')):\n"
        "    cmd = open(f'/proc/{p}/cmdline', 'rb').read().replace(b'\\0', b' ').decode()\n"
        "    if 'jupyter' in cmd and 'tini' not in cmd and '-c' not in cmd:\n"
        "        uid = [l for l in open(f'/proc/{p}/status') if l.startswith('Uid:')][0]\n"
        "        print(uid.split()[1], cmd)\n",
    ).stdout.splitlines()
    assert uids, "no Jupyter process found"
    assert all(line.split()[0] == CONTAINER_UID for line in uids), uids


def require_openssh() -> None:
    for tool in ("ssh", "ssh-keygen", "ssh-keyscan"):
        if shutil.which(tool) is None:
            pytest.fail(f"the OpenSSH client ({tool}) is needed for this test")


def keygen(path: Path, kind: str = "ed25519", passphrase: str = "") -> Path:
    """A new OpenSSH key pair at path (private) and path.pub."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "", "-f", str(path)], check=True
    )
    return path


def ssh_until_up(command: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run an ssh command until it succeeds (sshd is starting) or `timeout` s have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result
        time.sleep(1)


def key_body(private_key: str) -> list[str]:
    """The base64 lines of a private key file: none of them may show up anywhere."""
    return [line for line in private_key.splitlines() if line and not line.startswith("-----")]


SSH_PORT = "2222"  # sshd's port in the container: above 1024, it runs as jovyan


def listens(proc_net_tcp: str, port: int) -> bool:
    """Whether /proc/net/tcp{,6} text has a listening socket (state 0A) on this port."""
    return re.search(rf":{port:04X} [0-9A-F]+:0000 0A ", proc_net_tcp) is not None


def ssh_options(port: str, known_hosts: Path) -> list[str]:
    return [
        "ssh",
        "-p",
        port,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
    ]


def assert_refused(ssh: list[str], user: str, *extra: str) -> None:
    """The login fails, and sshd offers nothing but public keys (no password, no keyboard)."""
    denied = subprocess.run(
        [*ssh, *extra, f"{user}@127.0.0.1", "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert denied.returncode == 255, (user, extra, denied.stderr)
    assert f"{user}@127.0.0.1: Permission denied (publickey)." in denied.stderr, denied.stderr


def test_sshd_only_with_a_key_and_key_only(image: str, container_name: str, tmp_path: Path) -> None:
    require_openssh()
    # without SSH_PUBLIC_KEY: nothing listens, neither on 22 nor on 2222
    quiet = docker("run", "--rm", image, "sh", "-c", "sleep 1; cat /proc/net/tcp /proc/net/tcp6")
    assert not listens(quiet.stdout, 22) and not listens(quiet.stdout, 2222), quiet.stdout
    key = keygen(tmp_path / "id_ed25519")
    docker(
        "run",
        "-d",
        "--name",
        container_name,
        "-p",
        f"127.0.0.1::{SSH_PORT}",
        "-e",
        f"SSH_PUBLIC_KEY={key.with_suffix('.pub').read_text().strip()}",
        image,
        "sleep",
        "300",
    )
    port = docker("port", container_name, f"{SSH_PORT}/tcp").stdout.split(":")[-1].strip()
    ssh = ssh_options(port, tmp_path / "known_hosts")
    result = ssh_until_up([*ssh, "-i", str(key), "jovyan@127.0.0.1", "id -u; command -v classify"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [CONTAINER_UID, "/opt/venv/bin/classify"]
    listening = docker("exec", container_name, "cat", "/proc/net/tcp", "/proc/net/tcp6").stdout
    assert listens(listening, 2222) and not listens(listening, 22), listening
    # root, even with the right key; jovyan without a key (a password is not even offered)
    assert_refused(ssh, "root", "-i", str(key))
    assert_refused(
        ssh,
        "jovyan",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
    )
    # another key than the one given
    assert_refused(ssh, "jovyan", "-i", str(keygen(tmp_path / "other_ed25519")))


ENV_DUMP = (
    "import sys, time\n"
    "sys.stdout.write(open('/proc/self/environ', 'rb').read().replace(b'\\0', b'\\n').decode())\n"
    "print('--- end of environment', flush=True)\n"
    "time.sleep(300)\n"
)


def secret_holders(container: str, *names: str) -> str:
    """The processes of the container (PID 1, tini, and every process it started; not the
    `docker exec`s, whose parent is 0 and whose environment is the container's config) that
    have one of the variables `names` in their environment: one line each."""
    return docker(
        "exec",
        container,
        "python",
        "-c",
        "import os, sys\n"
        "names = [name.encode() + b'=' for name in sys.argv[1:]]\n"
        "for p in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        stat = open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()\n"
        "        env = open(f'/proc/{p}/environ', 'rb').read().split(b'\\0')\n"
        "    except OSError:\n"
        "        continue\n"
        "    held = [n for n in names if any(entry.startswith(n) for entry in env)]\n"
        "    if (p == '1' or stat[1] != '0') and held:\n"
        "        print(p, held, open(f'/proc/{p}/cmdline', 'rb').read())\n",
        *names,
    ).stdout


def test_sshd_presents_the_given_host_key_and_hides_it(
    image: str, container_name: str, tmp_path: Path
) -> None:
    """SSH_HOST_KEY becomes sshd's one host key (a known_hosts line written ahead is accepted
    with StrictHostKeyChecking=yes), and neither the command nor the log ever sees it."""
    require_openssh()
    host_key = keygen(tmp_path / "host_ed25519")
    user_key = keygen(tmp_path / "id_ed25519")
    private = host_key.read_text()
    public_type, public_b64 = host_key.with_suffix(".pub").read_text().split()[:2]
    docker(
        "run",
        "-d",
        "--name",
        container_name,
        "-p",
        f"127.0.0.1::{SSH_PORT}",
        "-e",
        f"SSH_PUBLIC_KEY={user_key.with_suffix('.pub').read_text().strip()}",
        "-e",
        f"SSH_HOST_KEY={private}",
        image,
        "python",
        "-c",
        ENV_DUMP,
    )
    port = docker("port", container_name, f"{SSH_PORT}/tcp").stdout.split(":")[-1].strip()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {public_type} {public_b64}\n")
    result = ssh_until_up(
        [
            "ssh",
            "-p",
            port,
            "-i",
            str(user_key),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "jovyan@127.0.0.1",
            "id -u",
        ]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == CONTAINER_UID

    scan = subprocess.run(
        ["ssh-keyscan", "-p", port, "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    offered = {tuple(line.split()[1:3]) for line in scan.stdout.splitlines() if line[:1] != "#"}
    assert offered == {(public_type, public_b64)}, scan.stdout

    # sshd runs as jovyan: the key is jovyan's, readable by no one else
    stat = docker(
        "exec", container_name, "stat", "-c", "%U %a", "/etc/ssh/ecsdl/ssh_host_ed25519_key"
    )
    assert stat.stdout.strip() == "jovyan 600"

    # the command's own environment (what the python command printed): container variables
    # such as SSH_PUBLIC_KEY are there, SSH_HOST_KEY is not
    logs = docker("logs", container_name)
    environment = logs.stdout.split("--- end of environment")[0].splitlines()
    assert "HOME=/home/jovyan" in environment, logs.stdout
    assert any(line.startswith("SSH_PUBLIC_KEY=") for line in environment)
    assert not any(line.startswith("SSH_HOST_KEY") for line in environment)
    # no process of the container has it, tini (PID 1) included
    assert secret_holders(container_name, "SSH_HOST_KEY") == "", "SSH_HOST_KEY in an environment"
    everything = logs.stdout + logs.stderr
    assert "PRIVATE KEY" not in everything
    for line in key_body(private):
        assert line not in everything, "the host key is in the container's log"
    assert "host key from SSH_HOST_KEY" in logs.stderr


@pytest.mark.parametrize("kind", ["garbage", "public-key", "rsa", "encrypted"])
def test_a_bad_host_key_stops_the_container_without_printing_it(
    image: str, tmp_path: Path, kind: str
) -> None:
    require_openssh()
    user_key = keygen(tmp_path / "id_ed25519")
    if kind == "garbage":
        bad = (
            "-----BEGIN OPENSSH PRIVATE KEY-----\n"
            "c2VjcmV0LW1hcmtlci1ub3QtYS1rZXk=\n"
            "-----END OPENSSH PRIVATE KEY-----"
        )
    elif kind == "public-key":
        bad = user_key.with_suffix(".pub").read_text()
    elif kind == "rsa":
        bad = keygen(tmp_path / "host_rsa", "rsa").read_text()
    else:  # would make ssh-keygen prompt for the passphrase if the entrypoint let it
        bad = keygen(tmp_path / "host_enc", passphrase="a passphrase").read_text()
    result = docker(
        "run",
        "--rm",
        "-e",
        f"SSH_PUBLIC_KEY={user_key.with_suffix('.pub').read_text().strip()}",
        "-e",
        f"SSH_HOST_KEY={bad}",
        image,
        "echo",
        "the command ran",
        check=False,
        timeout=60,
    )
    assert result.returncode == 64, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "ecsdl-entrypoint: SSH_HOST_KEY is not an unencrypted OpenSSH ed25519 private key "
        "(ssh-keygen -y cannot read it as one); sshd not started"
    ]
    for line in [] if kind == "public-key" else key_body(bad):  # a public key is no secret
        assert line not in result.stderr


@pytest.mark.parametrize(
    "docker_args",
    [(), ("--cap-drop", "ALL", "--security-opt", "no-new-privileges")],
    ids=["docker-defaults", "as-the-task-definitions-run-it"],
)
def test_a_jupyter_container_with_ssh_has_no_root_process_and_no_capability(
    image: str,
    container_name: str,
    password_hash: str,
    tmp_path: Path,
    docker_args: tuple[str, ...],
) -> None:
    """Jupyter with a kernel, sshd with a session open: every process runs as jovyan with no
    effective or permitted capability, with docker's default capability set (the image alone
    asks for none) and with every capability dropped (as the task definitions run it), and
    Jupyter writes in the user's home."""
    require_openssh()
    key = keygen(tmp_path / "id_ed25519")
    docker(
        "run",
        "-d",
        "--name",
        container_name,
        *docker_args,
        "-p",
        "127.0.0.1::8888",
        "-p",
        f"127.0.0.1::{SSH_PORT}",
        "-e",
        f"JUPYTER_PASSWORD_HASH={password_hash}",
        *TLS_ENV,
        "-e",
        f"SSH_PUBLIC_KEY={key.with_suffix('.pub').read_text().strip()}",
        image,
    )
    jupyter_port = docker("port", container_name, "8888/tcp").stdout.split(":")[-1].strip()
    ssh_port = docker("port", container_name, f"{SSH_PORT}/tcp").stdout.split(":")[-1].strip()
    base = f"https://127.0.0.1:{jupyter_port}"
    _wait_for_http(f"{base}/login")

    # Jupyter writes in ~/work, and starts a kernel (one more process to look at)
    opener, xsrf = jupyter_login(base)
    headers = {"X-XSRFToken": xsrf, "Content-Type": "application/json"}
    note = {"type": "file", "format": "text", "content": "written by Jupyter\n"}
    put = urllib.request.Request(
        f"{base}/api/contents/note.txt",
        data=json.dumps(note).encode(),
        method="PUT",
        headers=headers,
    )
    assert opener.open(put, timeout=10).status in (200, 201)
    kernel = urllib.request.Request(f"{base}/api/kernels", data=b"{}", headers=headers)
    assert opener.open(kernel, timeout=30).status == 201
    owner = docker("exec", container_name, "stat", "-c", "%U %u", "/home/jovyan/work/note.txt")
    assert owner.stdout.split() == ["jovyan", CONTAINER_UID]

    # the process list, taken over ssh: sshd's session processes are among them
    ssh = ssh_options(ssh_port, tmp_path / "known_hosts")
    up = ssh_until_up([*ssh, "-i", str(key), "jovyan@127.0.0.1", "true"])
    assert up.returncode == 0, up.stderr
    deadline = time.monotonic() + 60  # until the kernel's process is there
    while True:
        listed = subprocess.run(
            [*ssh, "-i", str(key), "jovyan@127.0.0.1", "python", "-"],
            input=PROCESS_LIST,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        processes = parse_listing(listed.stdout)
        if any("ipykernel" in p["cmd"] for p in processes) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert listed.returncode == 0, listed.stderr
    commands = " ".join(p["cmd"] for p in processes)
    for expected in ("tini", "jupyter", "ipykernel", "sshd"):
        assert expected in commands, f"no {expected} process: {processes}"
    root = [p for p in processes if "0" in p["uids"]]
    assert root == [], f"processes with a root uid: {root}"
    assert {tuple(p["uids"]) for p in processes} == {(CONTAINER_UID,) * 4}, processes
    capable = [p for p in processes if int(p["cap_eff"], 16) or int(p["cap_prm"], 16)]
    assert capable == [], f"processes with capabilities: {capable}"

    # the same from the host: docker top (ps) on the container's processes
    top = docker("top", container_name, "-o", "pid,uid,ruid,suid,args").stdout.splitlines()
    assert len(top) > 4, top
    assert all(line.split()[1:4] == [CONTAINER_UID] * 3 for line in top[1:]), top
