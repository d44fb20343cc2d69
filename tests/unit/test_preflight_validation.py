"""Preflight: the pure input checks (a table of cases) and the module's ``aws`` checks.

The ``aws`` checks run the module as a subprocess, the way Ansible would, against a moto
server that a fixture starts on a free loopback port.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.ecs_dl.deep_learning.plugins.module_utils import validation as v

from tests.conftest import free_port
from tests.unit.conftest import run_library_module

GOOD: dict[str, Any] = dict(
    deployment_name="ecs-dl",
    region="us-east-1",
    vpc_cidr="10.0.0.0/16",
    subnet_cidrs=["10.0.1.0/24", "10.0.2.0/24"],
    instance_types=["m5.large", "m5a.large", "m4.large"],
    target_capacity=1,
    source_cidr="203.0.113.7/32",
    allow_open_source_cidr=False,
    local_target=False,
    ports={"jupyter_port": 80, "container_ssh_port": 2222},
    endpoint_url=None,
)
REGIONS = v.known_regions()


def run_validation(**changes: Any) -> v.ValidationResult:
    return v.validate_inputs(**{**GOOD, **changes, "regions": REGIONS})


BAD = [
    # (changes to GOOD, expected fragment of the error)
    ({"deployment_name": ""}, "deployment_name is required"),
    ({"deployment_name": None}, "deployment_name is required"),
    ({"deployment_name": "ECS-dl"}, "only lowercase letters, digits and hyphens"),
    ({"deployment_name": "ecs_dl"}, "only lowercase letters, digits and hyphens"),
    ({"deployment_name": "1ecs"}, "must start with a lowercase letter"),
    ({"deployment_name": "-ecs"}, "must start with a lowercase letter"),
    ({"deployment_name": "ecs-"}, "must end with a lowercase letter or digit"),
    ({"deployment_name": "ecs--dl"}, "must not contain '--'"),
    ({"deployment_name": "ab"}, "is 2 characters long"),
    ({"deployment_name": "a" * 25}, "is 25 characters long"),
    ({"deployment_name": 42}, "deployment_name must be a string"),
    ({"region": ""}, "aws_region is required"),
    ({"region": "US-EAST-1"}, "is not a region name like"),
    ({"region": "useast1"}, "is not a region name like"),
    ({"region": "us-east-9"}, "is not a region this botocore knows"),
    ({"region": "us-esat-1"}, "did you mean"),
    ({"vpc_cidr": ""}, "network_vpc_cidr is required"),
    ({"vpc_cidr": "10.0.0.0"}, "needs a prefix length"),
    ({"vpc_cidr": "10.0.0.256/16"}, "is not a valid IPv4 CIDR block"),
    ({"vpc_cidr": "10.0.0.0/33"}, "is not a valid IPv4 CIDR block"),
    ({"vpc_cidr": "10.0.1.0/16"}, "has host bits set; did you mean '10.0.0.0/16'"),
    ({"vpc_cidr": "10.0.0.0/8"}, "has prefix /8; AWS allows /16 to /28"),
    ({"vpc_cidr": "10.0.0.0/29"}, "has prefix /29"),
    ({"vpc_cidr": "fd00::/48"}, "is IPv6"),
    ({"vpc_cidr": "127.0.0.0/16"}, "loopback, link-local, multicast or reserved"),
    ({"vpc_cidr": "169.254.0.0/16"}, "loopback, link-local, multicast or reserved"),
    ({"subnet_cidrs": "10.0.1.0/24"}, "network_subnet_cidrs must be a list of 2"),
    ({"subnet_cidrs": ["10.0.1.0/24"]}, "must have exactly 2 CIDR blocks"),
    (
        {"subnet_cidrs": ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]},
        "must have exactly 2 CIDR blocks",
    ),
    ({"subnet_cidrs": ["10.0.1.0/24", "10.1.2.0/24"]}, "[1] '10.1.2.0/24' is not inside"),
    ({"subnet_cidrs": ["10.0.0.0/17", "10.0.1.0/24"]}, "[1] '10.0.1.0/24' overlaps '10.0.0.0/17'"),
    ({"subnet_cidrs": ["10.0.1.0/24", "10.0.1.0/24"]}, "overlaps"),
    ({"subnet_cidrs": ["10.0.1.0/29", "10.0.2.0/24"]}, "network_subnet_cidrs[0] '10.0.1.0/29' has"),
    ({"subnet_cidrs": ["10.0.1.0/24", "nope"]}, "network_subnet_cidrs[1] 'nope' needs a prefix"),
    ({"instance_types": []}, "must list at least one instance type"),
    ({"instance_types": "m5.large"}, "spot_fleet_instance_types must be a list"),
    ({"instance_types": ["m5"]}, "[0] 'm5' is not an EC2 instance type"),
    ({"instance_types": ["M5.large"]}, "is not an EC2 instance type"),
    ({"instance_types": ["m5.huge"]}, "'m5.huge' is not an EC2 instance type"),
    ({"instance_types": ["m5.large", "m5.large"]}, "lists 'm5.large' more than once"),
    ({"target_capacity": 0}, "spot_fleet_target_capacity is 0; it must be from 1 to 50"),
    ({"target_capacity": 51}, "is 51; it must be from 1 to 50"),
    ({"target_capacity": -1}, "is -1; it must be from 1 to 50"),
    ({"target_capacity": "two"}, "must be a whole number"),
    ({"target_capacity": True}, "must be a whole number"),
    ({"target_capacity": 1.5}, "must be a whole number"),
    ({"source_cidr": ""}, "source_cidr is required"),
    ({"source_cidr": None}, "source_cidr is required"),
    ({"source_cidr": "203.0.113.7"}, "needs a prefix length, e.g. '203.0.113.7/32'"),
    ({"source_cidr": "203.0.113.7/24"}, "did you mean '203.0.113.0/24' or '203.0.113.7/32'"),
    ({"source_cidr": "0.0.0.0/0"}, "set allow_open_source_cidr=true"),
    ({"source_cidr": "my-ip"}, "needs a prefix length"),
    ({"ports": {"jupyter_port": 0, "container_ssh_port": 2222}}, "jupyter_port is 0"),
    ({"ports": {"jupyter_port": 80, "container_ssh_port": 65536}}, "container_ssh_port is 65536"),
    (
        {"ports": {"jupyter_port": "http", "container_ssh_port": 2222}},
        "jupyter_port must be a port",
    ),
    (
        {"ports": {"jupyter_port": 2222, "container_ssh_port": 2222}},
        "container_ssh_port and jupyter_port are both 2222",
    ),
    ({"ports": {"jupyter_port": 80, "container_ssh_port": 22}}, "the instance's own SSH"),
    ({"local_target": True, "endpoint_url": None}, "no aws_endpoint_url is set"),
    ({"endpoint_url": "127.0.0.1:5100"}, "is not an http:// or https:// URL"),
]


@pytest.mark.parametrize(("changes", "fragment"), BAD, ids=[repr(c) for c, _ in BAD])
def test_bad_input_is_reported(changes: dict[str, Any], fragment: str) -> None:
    result = run_validation(**changes)
    assert any(fragment in error for error in result.errors), result.errors
    assert all("\n" not in error for error in result.errors)


GOOD_CASES = [
    {},
    {"deployment_name": "abc"},
    {"deployment_name": "a" * 24},
    {"deployment_name": "team7-dl-2"},
    {"region": "eu-west-2"},
    {"region": "cn-north-1"},
    {"region": "us-gov-west-1"},
    {"vpc_cidr": "172.16.0.0/16", "subnet_cidrs": ["172.16.0.0/20", "172.16.16.0/20"]},
    {"vpc_cidr": "10.0.0.0/27", "subnet_cidrs": ["10.0.0.0/28", "10.0.0.16/28"]},
    {"instance_types": ["c6gn.16xlarge", "p3.2xlarge", "u-6tb1.metal", "t3.micro"]},
    {"instance_types": ["m7i-flex.large", "c7i.metal-48xl", "g4dn.xlarge"]},
    {"target_capacity": 50},
    {"target_capacity": "3"},
    {"source_cidr": "127.0.0.1/32"},
    {"source_cidr": "198.51.100.0/24"},
    {"source_cidr": "", "local_target": True, "endpoint_url": "http://127.0.0.1:5100"},
    {"source_cidr": "0.0.0.0/0", "allow_open_source_cidr": True},
    {"ports": {"jupyter_port": "8888", "container_ssh_port": 2222}},
    {"endpoint_url": "https://ec2.example.internal"},
]


@pytest.mark.parametrize("changes", GOOD_CASES, ids=[repr(c) for c in GOOD_CASES])
def test_good_input_passes(changes: dict[str, Any]) -> None:
    assert run_validation(**changes).errors == []


def test_every_problem_is_reported_at_once() -> None:
    result = run_validation(deployment_name="X", target_capacity=0, source_cidr="")
    assert len(result.errors) >= 3


def test_open_source_cidr_allowed_is_a_warning() -> None:
    result = run_validation(source_cidr="0.0.0.0/0", allow_open_source_cidr=True)
    assert result.errors == []
    assert any("whole internet" in w for w in result.warnings)
    assert run_validation().warnings == []


def test_public_vpc_range_is_a_warning() -> None:
    result = run_validation(vpc_cidr="8.8.0.0/16", subnet_cidrs=["8.8.1.0/24", "8.8.2.0/24"])
    assert result.errors == []
    assert any("not a private" in w for w in result.warnings)


def test_region_format_only_without_botocore_data() -> None:
    assert v.validate_region("us-east-9", regions=None) == []


def test_teardown_checks_only_what_teardown_needs() -> None:
    result = v.validate_teardown_inputs("ecs-dl", "us-east-1", regions=REGIONS)
    assert result.errors == []
    assert v.validate_teardown_inputs("Bad", "us-east-1").errors


def test_known_regions_cover_the_partitions() -> None:
    assert REGIONS is not None
    assert {"us-east-1", "cn-north-1", "us-gov-west-1"} <= set(REGIONS)


# --- the pretrained model (model_source), looked at on this machine ----------------------


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A checkpoint prefix whose files (symbol, params, labels.txt beside them) all exist."""
    folder = tmp_path / "models"
    folder.mkdir()
    prefix = folder / "mobilenet"
    for name in ("mobilenet-symbol.json", "mobilenet-0000.params", "labels.txt"):
        (folder / name).write_text("x\n")
    return prefix


def test_model_source_empty_or_a_checkpoint_passes(checkpoint: Path) -> None:
    assert v.validate_model_source("") == []
    assert v.validate_model_source(None) == []
    assert v.validate_model_source(str(checkpoint)) == []
    assert run_validation(model_source=str(checkpoint)).errors == []


def test_model_source_relative_to_the_current_directory(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(checkpoint.parent.parent)
    assert v.validate_model_source("models/mobilenet") == []
    assert "no file" in v.validate_model_source("mobilenet")[0]


def test_model_source_missing_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "mobilenet"
    errors = run_validation(model_source=str(missing)).errors
    assert len(errors) == 1
    assert f"model_source '{missing}' is not an MXNet checkpoint on this machine" in errors[0]
    assert f"no file {missing}-symbol.json, no file {missing}-0000.params" in errors[0]
    assert "\n" not in errors[0]


def _replace_symbol_by_a_folder(prefix: Path) -> None:
    symbol = prefix.parent / "mobilenet-symbol.json"
    symbol.unlink()
    symbol.mkdir()


BAD_MODEL = [
    # (id, how to spoil the checkpoint fixture or None, model_source from the prefix, fragment)
    ("params-missing", lambda p: (p.parent / "mobilenet-0000.params").unlink(), str, "0000.params"),
    ("symbol-a-folder", _replace_symbol_by_a_folder, str, "symbol.json is a folder, not a file"),
    ("labels-missing", lambda p: (p.parent / "labels.txt").unlink(), str, "no labels beside it"),
    ("a-file-not-the-prefix", None, lambda p: f"{p}-symbol.json", "give the prefix"),
    ("a-folder", None, lambda p: str(p.parent), "is a folder; give the model in it"),
    (
        "tflite-missing",
        None,
        lambda p: f"{p.parent}/nothing.tflite",
        "is not a TFLite model on this machine: no file",
    ),
    (
        "tflite-a-folder",
        lambda p: (p.parent / "m.tflite").mkdir(),
        lambda p: f"{p.parent}/m.tflite",
        "m.tflite is a folder, not a file",
    ),
    ("s3-url", None, lambda p: "s3://bucket/models/mobilenet", "neither a path"),
    ("url-without-path", None, lambda p: "https://example.com", "neither a path"),
    ("not-a-string", None, lambda p: ["a", "b"], "model_source must be a path"),
]


@pytest.mark.parametrize(
    ("spoil", "source", "fragment"), [c[1:] for c in BAD_MODEL], ids=[c[0] for c in BAD_MODEL]
)
def test_model_source_bad(checkpoint: Path, spoil: Any, source: Any, fragment: str) -> None:
    if spoil:
        spoil(checkpoint)
    errors = v.validate_model_source(source(checkpoint))
    assert len(errors) == 1 and fragment in errors[0], errors
    assert "\n" not in errors[0]


def test_model_labels_are_checked_without_model_source_too(tmp_path: Path) -> None:
    """No model_source (the deployed or the default model): labels given must still be there."""
    errors = v.validate_model_source("", str(tmp_path / "none.txt"))
    assert errors == [f"model_labels '{tmp_path / 'none.txt'}': no file {tmp_path / 'none.txt'}"]


def test_model_source_tflite_here_or_at_a_url_passes(tmp_path: Path) -> None:
    model = tmp_path / "mobilenet_v2_1.0_224_quant.tflite"
    model.write_bytes(b"TFL3")
    assert v.validate_model_source(str(model)) == []
    assert v.validate_model_source("https://example.com/m/mobilenet.tflite") == []
    assert v.validate_model_source("https://example.com/m/MOBILENET.TFLITE") == []


@pytest.mark.parametrize(
    ("sha256", "ok"),
    [("", True), (None, True), ("7aad0c74c5e3c06e5eb3c827e13304fd" * 2, True),
     ("7AAD0C74C5E3C06E5EB3C827E13304FD" * 2, True),
     ("7aad0c74", False), ("z" * 64, False), (12, False)],
)  # fmt: skip
def test_model_sha256_is_64_hex_digits(sha256: Any, ok: bool) -> None:
    errors = v.validate_model_source("", sha256=sha256)
    assert (
        errors == []
        if ok
        else errors == [f"model_sha256 '{sha256}' is not a SHA-256 digest (64 hex digits)"]
    )
    assert (run_validation(model_sha256=sha256).errors == []) is ok


def test_model_source_folder_suggests_the_prefix_in_it(checkpoint: Path) -> None:
    errors = v.validate_model_source(str(checkpoint.parent))
    assert f"e.g. '{checkpoint}'" in errors[0]


def test_model_labels(checkpoint: Path, tmp_path: Path) -> None:
    (checkpoint.parent / "labels.txt").unlink()
    other = tmp_path / "synset.txt"
    other.write_text("cat\n")
    assert v.validate_model_source(str(checkpoint), str(other)) == []
    assert v.validate_model_source(str(checkpoint), "https://example.com/labels.txt") == []
    assert v.validate_model_source("https://example.com/m/mobilenet") == []
    errors = v.validate_model_source(str(checkpoint), str(tmp_path / "none.txt"))
    assert errors == [f"model_labels '{tmp_path / 'none.txt'}': no file {tmp_path / 'none.txt'}"]
    errors = v.validate_model_source("https://example.com/m/mobilenet", "ftp://x/labels.txt")
    assert "model_labels 'ftp://x/labels.txt' is neither" in errors[0]


# --- the module, run as Ansible would run it ---------------------------------------------

CLEAN_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def clean_env(**extra: str) -> dict[str, str]:
    """No credentials, no config files, no IMDS: only what the test gives."""
    env = {k: os.environ[k] for k in CLEAN_ENV_KEYS if k in os.environ}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def run_module(
    tmp_path: Path, args: dict[str, Any], env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    return run_library_module(
        "ecs_dl_preflight",
        args,
        tmp_path / "args.json",
        env=env if env is not None else clean_env(),
    )


def warning_texts(result: dict[str, Any]) -> list[str]:
    """Warnings as text (ansible-core 2.19 modules print them as WarningSummary dicts)."""
    texts = []
    for warning in result.get("warnings", []):
        if isinstance(warning, dict):
            texts.append(warning.get("event", {}).get("msg", str(warning)))
        else:
            texts.append(str(warning))
    return texts


INPUT_ARGS: dict[str, Any] = dict(
    checks="inputs",
    region="us-east-1",
    deployment_name="ecs-dl",
    network_vpc_cidr="10.0.0.0/16",
    network_subnet_cidrs=["10.0.1.0/24", "10.0.2.0/24"],
    spot_fleet_instance_types=["m5.large"],
    spot_fleet_target_capacity=1,
    source_cidr="203.0.113.7/32",
    jupyter_port=80,
    container_ssh_port=2222,
)


def test_module_inputs_pass_without_credentials(tmp_path: Path) -> None:
    rc, result = run_module(tmp_path, INPUT_ARGS)
    assert rc == 0, result
    assert result["changed"] is False


def test_module_inputs_fail_in_one_line(tmp_path: Path) -> None:
    args = {**INPUT_ARGS, "deployment_name": "Bad_Name", "source_cidr": "0.0.0.0/0"}
    args["network_subnet_cidrs"] = ["10.0.1.0/24"]
    rc, result = run_module(tmp_path, args)
    assert rc != 0
    msg = result["msg"]
    assert "\n" not in msg
    assert "deployment_name 'Bad_Name'" in msg
    assert "; " in msg
    assert "allow_open_source_cidr=true" in msg
    assert "exactly 2 CIDR blocks" in msg


def test_module_inputs_missing_model_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "nothing"
    rc, result = run_module(tmp_path, {**INPUT_ARGS, "model_source": str(missing)})
    assert rc != 0
    assert result["msg"].startswith("Invalid input (1 problem(s)): model_source ")
    assert f"no file {missing}-symbol.json" in result["msg"]
    assert "\n" not in result["msg"]


def test_module_inputs_return_warnings(tmp_path: Path) -> None:
    args = {**INPUT_ARGS, "source_cidr": "0.0.0.0/0", "allow_open_source_cidr": True}
    rc, result = run_module(tmp_path, args)
    assert rc == 0, result
    assert any("whole internet" in w for w in warning_texts(result))


def test_module_inputs_teardown_needs_no_source_cidr(tmp_path: Path) -> None:
    args = {"checks": "inputs", "state": "absent", "region": "us-east-1", "deployment_name": "x1y"}
    rc, result = run_module(tmp_path, args)
    assert rc == 0, result


def aws_args(endpoint: str, **extra: Any) -> dict[str, Any]:
    return dict(
        checks="aws",
        region="us-east-1",
        endpoint_url=endpoint,
        access_key="testing",
        secret_key="testing",
        spot_fleet_instance_types=["m5.large", "m5a.large", "m4.large"],
        **extra,
    )


def test_aws_good_credentials_pass(tmp_path: Path, moto_endpoint: str) -> None:
    rc, result = run_module(tmp_path, aws_args(moto_endpoint))
    assert rc == 0, result
    assert result["account_id"] == "123456789012"
    assert result["caller_arn"].startswith("arn:aws:")
    zones = result["availability_zones"]
    assert len(zones) >= 2
    assert zones == sorted(zones)
    assert all(zone.startswith("us-east-1") for zone in zones)
    assert result["changed"] is False


def test_aws_instance_types_without_gpus_have_none(tmp_path: Path, moto_endpoint: str) -> None:
    rc, result = run_module(tmp_path, aws_args(moto_endpoint))
    assert rc == 0, result
    assert result["instance_gpus"] == 0
    assert result["gpus_by_instance_type"] == {"m5.large": 0, "m5a.large": 0, "m4.large": 0}


def test_aws_gpu_instance_types_say_their_gpus(tmp_path: Path, moto_endpoint: str) -> None:
    types = ["g4dn.xlarge", "g4dn.12xlarge"]
    rc, result = run_module(
        tmp_path, {**aws_args(moto_endpoint), "spot_fleet_instance_types": types}
    )
    assert rc == 0, result
    assert result["gpus_by_instance_type"] == {"g4dn.xlarge": 1, "g4dn.12xlarge": 4}
    assert result["instance_gpus"] == 1  # what every instance of the fleet has


def test_aws_a_fleet_mixing_gpu_and_cpu_types_is_refused(
    tmp_path: Path, moto_endpoint: str
) -> None:
    types = ["g4dn.xlarge", "m5.large"]
    rc, result = run_module(
        tmp_path, {**aws_args(moto_endpoint), "spot_fleet_instance_types": types}
    )
    assert rc != 0
    assert result["msg"] == (
        "spot_fleet_instance_types mixes GPU instance types (g4dn.xlarge: 1 GPU) with types "
        "without GPUs (m5.large): the fleet's instances must be all one or the other (the AMI, "
        "the image and the task definitions differ)"
    )


def test_aws_check_mode_runs_the_same(tmp_path: Path, moto_endpoint: str) -> None:
    rc, result = run_module(tmp_path, aws_args(moto_endpoint, _ansible_check_mode=True))
    assert rc == 0, result
    assert result["account_id"] == "123456789012"


def test_aws_credentials_from_environment(tmp_path: Path, moto_endpoint: str) -> None:
    args = {"checks": "aws", "region": "eu-west-1", "endpoint_url": moto_endpoint}
    env = clean_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    rc, result = run_module(tmp_path, args, env)
    assert rc == 0, result
    assert all(zone.startswith("eu-west-1") for zone in result["availability_zones"])


def test_aws_unknown_instance_type_fails_with_its_name(tmp_path: Path, moto_endpoint: str) -> None:
    args = aws_args(moto_endpoint)
    args["spot_fleet_instance_types"] = ["m5.large", "m5.huge"]
    rc, result = run_module(tmp_path, args)
    assert rc != 0
    assert "m5.huge" in result["msg"]
    assert "m5.large" not in result["msg"].split("m5.huge")[0].split(":")[-1]
    assert "\n" not in result["msg"]


def test_aws_unreachable_endpoint_names_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # closed: nothing listens there
    rc, result = run_module(tmp_path, aws_args(url))
    assert rc != 0
    msg = result["msg"]
    assert "\n" not in msg
    assert url in msg
    assert "Cannot reach the AWS endpoint" in msg


def test_aws_no_credentials(tmp_path: Path) -> None:
    rc, result = run_module(tmp_path, {"checks": "aws", "region": "us-east-1"}, clean_env())
    assert rc != 0
    msg = result["msg"]
    assert msg.startswith("No AWS credentials found")
    assert "AWS_PROFILE" in msg and "sso login" in msg
    assert "\n" not in msg


def test_aws_unknown_profile(tmp_path: Path) -> None:
    args = {"checks": "aws", "region": "us-east-1", "profile": "nope"}
    rc, result = run_module(tmp_path, args, clean_env())
    assert rc != 0
    assert "profile" in result["msg"] and "nope" in result["msg"]
    assert "\n" not in result["msg"]


def test_aws_spot_quota_moto_does_not_know_is_a_warning(tmp_path: Path, moto_endpoint: str) -> None:
    # Plain moto has no EC2 quotas in Service Quotas: unknown, so a warning, not a refusal.
    rc, result = run_module(tmp_path, aws_args(moto_endpoint, spot_fleet_target_capacity=1))
    assert rc == 0, result
    assert result["vcpus_by_instance_type"] == {"m5.large": 2, "m5a.large": 2, "m4.large": 2}
    assert [q["value"] for q in result["spot_vcpu_quotas"]] == [None]
    assert any("L-34B43A08 unknown, not checked" in w for w in warning_texts(result))


@pytest.mark.parametrize("value", [True, False, "true", "False", "yes", "no", "1", "0", None])
def test_teardown_takes_keep_work_as_a_boolean(value: object) -> None:
    assert v.validate_teardown_inputs("ecs-dl", "us-east-1", keep_work=value).errors == []


@pytest.mark.parametrize("value", ["maybe", "", "2", [], {"a": 1}])
def test_teardown_refuses_a_keep_work_that_is_not_a_boolean(value: object) -> None:
    (error,) = v.validate_teardown_inputs("ecs-dl", "us-east-1", keep_work=value).errors
    assert error.startswith(f"keep_work is {value!r}: it must be true")


@pytest.mark.parametrize("value", [True, False, "yes", "False", 0, None])
def test_site_takes_classify_uploads_as_a_boolean(value: object) -> None:
    assert v.validate_classify_uploads(value) == []


@pytest.mark.parametrize("value", ["sometimes", 2, ["true"]])
def test_site_refuses_a_classify_uploads_that_is_not_a_boolean(value: object) -> None:
    (error,) = v.validate_classify_uploads(value)
    assert error.startswith(f"classify_uploads is {value!r}: it must be true")
