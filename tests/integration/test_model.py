"""The deployment's pretrained model: the default one, downloaded (from the shared copy, served
over HTTP as github.com would serve it), checked, converted in the image, remembered.

The shared deployment (conftest's `deployment`) was made with
`-e model_source=http://127.0.0.1:PORT/mobilenet_v2_1.0_224_quant.tflite`: the default model's
file under its own name, its sha256 pinned by the models role. The converted checkpoint must
answer as the TFLite runtime answers on the same pictures (same top-1, top-5 within 0.02).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    DEFAULT_MODEL_FILE,
    DEFAULT_MODEL_SHA256,
    REPO_ROOT,
    SHARED_TFLITE,
    Deployment,
    assert_playbook_ok,
    recap_changed,
    run_in_image,
    run_playbook,
    tail,
)
from tests.tflite_runtime import TOLERANCE, agreement, runtime_top5, sample_pictures

Client = Callable[[str], Any]
MODEL_NAME = DEFAULT_MODEL_FILE.removesuffix(".tflite")
TOP = 5
PROBABILITY_TOLERANCE = 0.02


def s3_text(aws_client: Client, bucket: str, key: str) -> str:
    return aws_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def sums(text: str) -> dict[str, str]:
    """SHA256SUMS (`DIGEST  NAME` lines) as {name: digest}."""
    return {line.split()[1]: line.split()[0] for line in text.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def record(deployment: Deployment, aws_client: Client) -> dict[str, Any]:
    """The deployment's record of its model (SSM /<name>/model)."""
    value = aws_client("ssm").get_parameter(Name=f"/{deployment.name}/model")["Parameter"]["Value"]
    return json.loads(value)


def test_the_default_model_is_downloaded_checked_and_remembered(
    deployment: Deployment, record: dict[str, Any], model_server: str
) -> None:
    assert record["source"] == f"{model_server}{DEFAULT_MODEL_FILE}", record
    assert record["kind"] == "tflite", record
    assert record["sha256"] == DEFAULT_MODEL_SHA256, record
    bucket = deployment.outputs["buckets"]["models"]
    assert record["uri"] == f"s3://{bucket}/models/{MODEL_NAME}/{MODEL_NAME}", record
    assert deployment.outputs["model_uri"] == record["uri"]
    assert deployment.outputs["model"]["source"] == record["source"]
    # The download is kept on this machine: a rerun downloads nothing.
    cached = list((REPO_ROOT / ".cache" / "models").glob(f"*/{DEFAULT_MODEL_FILE}"))
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in cached] == [DEFAULT_MODEL_SHA256]


def test_the_original_and_its_conversion_are_in_the_bucket_with_their_sha256(
    deployment: Deployment, aws_client: Client
) -> None:
    bucket = deployment.outputs["buckets"]["models"]
    s3 = aws_client("s3")
    original = f"models/{MODEL_NAME}/source/{DEFAULT_MODEL_FILE}"
    head = s3.head_object(Bucket=bucket, Key=original)
    assert head["Metadata"].get("sha256") == DEFAULT_MODEL_SHA256, head["Metadata"]
    body = s3.get_object(Bucket=bucket, Key=original)["Body"].read()
    assert body == (SHARED_TFLITE / DEFAULT_MODEL_FILE).read_bytes()
    assert sums(s3_text(aws_client, bucket, f"models/{MODEL_NAME}/source/SHA256SUMS")) == {
        DEFAULT_MODEL_FILE: DEFAULT_MODEL_SHA256
    }
    # The checkpoint beside it, every file listed with its true digest.
    converted = sums(s3_text(aws_client, bucket, f"models/{MODEL_NAME}/SHA256SUMS"))
    expected = {f"{MODEL_NAME}-symbol.json", f"{MODEL_NAME}-0000.params", "labels.txt"}
    assert expected <= set(converted), converted
    for name in expected:
        data = s3.get_object(Bucket=bucket, Key=f"models/{MODEL_NAME}/{name}")["Body"].read()
        assert hashlib.sha256(data).hexdigest() == converted[name], name
    labels = s3_text(aws_client, bucket, f"models/{MODEL_NAME}/labels.txt").splitlines()
    assert len(labels) == 1001 and labels[0] == "background", labels[:3]
    # The conversion's record names its source, so a rerun converts nothing.
    made = json.loads(s3_text(aws_client, bucket, f"models/{MODEL_NAME}/{MODEL_NAME}-import.json"))
    assert made["source_sha256"] == DEFAULT_MODEL_SHA256, made


def test_the_task_definitions_serve_the_converted_model(
    deployment: Deployment, aws_client: Client
) -> None:
    ecs = aws_client("ecs")
    for kind in ("jupyter", "predict"):
        definition = ecs.describe_task_definition(
            taskDefinition=deployment.outputs["task_definitions"][kind]
        )["taskDefinition"]
        environment = {
            e["name"]: e["value"] for e in definition["containerDefinitions"][0]["environment"]
        }
        assert environment["MODEL_PREFIX"] == deployment.outputs["model_uri"], kind


def test_the_converted_model_answers_as_the_tflite_runtime(
    deployment: Deployment, aws_client: Client, tmp_path: Path
) -> None:
    """scikit-image's chelsea, coffee, astronaut and rocket (PNG) through the TFLite runtime
    here and through the converted checkpoint in the pushed image: the same top-1 class (a
    tie in the original may go either way) and each of the runtime's top-5 probabilities
    within 0.02."""
    pictures = sample_pictures(tmp_path)
    expected = runtime_top5(SHARED_TFLITE / DEFAULT_MODEL_FILE, pictures)
    bucket = deployment.outputs["buckets"]["input"]
    s3 = aws_client("s3")
    for picture in pictures:
        s3.upload_file(str(picture), bucket, f"tests/agree/{picture.name}")
    result = run_in_image(
        deployment, "classify", "--json", "--top", "1001",
        "--model", deployment.outputs["model_uri"],
        *(f"s3://{bucket}/tests/agree/{picture.name}" for picture in pictures),
    )  # fmt: skip
    assert result.returncode == 0, f"classify failed:\n{result.stdout}\n{result.stderr}"
    got = {Path(line["image"]).name: line for line in map(json.loads, result.stdout.splitlines())}
    assert list(got) == [p.name for p in pictures], got
    for picture, theirs in zip(pictures, expected, strict=True):
        ours = got[picture.name]["top"]
        top1_agrees, difference = agreement(ours, theirs)
        print(f"{picture.name}: top-1 agrees {top1_agrees}, largest difference {difference:.4f}")
        assert top1_agrees, (picture.name, theirs, ours[:5])
        assert difference <= TOLERANCE, (picture.name, difference, theirs, ours[:5])
    assert got["chelsea.png"]["is_cat"] is True
    assert not any(got[name]["is_cat"] for name in ("coffee.png", "astronaut.png", "rocket.png"))


def test_the_runtime_here_gives_the_shared_reference_answers(tmp_path: Path) -> None:
    """The comparison's other side: ai-edge-litert here says what it said when the shared
    reference was made (each picture's top-3, to the 3 decimals kept there)."""
    pictures = sample_pictures(tmp_path)
    here = runtime_top5(SHARED_TFLITE / DEFAULT_MODEL_FILE, pictures)
    lines = (SHARED_TFLITE / "reference-skimage-mobilenet_v2.jsonl").read_text().splitlines()
    for picture, reference, tops in zip(pictures, map(json.loads, lines), here, strict=True):
        assert reference["image"] == picture.name
        ours = {top.label: top.probability for top in tops}
        for label, probability, _index in reference["top"]:
            assert ours[label] == pytest.approx(probability, abs=0.0015), (label, tops)


# -- the models role on a deployment of its own (tests/integration/playbooks/models.yml): the
# choices a user makes, in turn, each checked through the endpoint ----------------------------
MODELS_PLAYBOOK = "tests/integration/playbooks/models.yml"
MODELS_DEPLOYMENT = "ecs-dl-it-models"
SMALL_MODEL_FILE = "mobilenet_v1_0.25_128_quant.tflite"
SHARED_CHECKPOINT = (REPO_ROOT / ".." / "shared" / "models" / "imagenet-mobilenet").resolve()
CHECKPOINT = "mobilenet_v1_0.5_160"


def models_run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_playbook(MODELS_PLAYBOOK, "-e", f"deployment_name={MODELS_DEPLOYMENT}", *args)


def one_line(stdout: str) -> str:
    """The output with its YAML line folding undone."""
    return " ".join(stdout.split())


@pytest.fixture(scope="module")
def models_deployment(local_stack: subprocess.CompletedProcess[str]) -> Iterator[str]:
    """A deployment with only buckets and a model; removed (state=absent) at the end."""
    del local_stack
    models_run("-e", "state=absent")
    try:
        yield MODELS_DEPLOYMENT
    finally:
        assert_playbook_ok(models_run("-e", "state=absent"), "models.yml state=absent")


def models_record(aws_client: Client) -> dict[str, Any] | None:
    ssm = aws_client("ssm")
    try:
        value = ssm.get_parameter(Name=f"/{MODELS_DEPLOYMENT}/model")["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return json.loads(value)


def test_offline_the_default_model_is_one_warning_naming_the_setting(
    models_deployment: str, aws_client: Client
) -> None:
    """No model_source on a new deployment: the default's download fails here (no internet),
    which is one warning saying what to set, and the run goes on."""
    result = models_run()
    assert_playbook_ok(result, "models.yml with the default model, offline")
    text = one_line(result.stdout)
    assert (
        text.count(
            "WARNING: no model was deployed: cannot download https://github.com/google-coral/"
        )
        == 1
    )
    assert f"-e model_source=/path/to/{DEFAULT_MODEL_FILE}" in text, tail(result.stdout)
    assert f"-e model_source=https://mirror.example/{DEFAULT_MODEL_FILE}" in text
    assert models_record(aws_client) is None


def test_a_download_whose_sha256_differs_stops_with_both_digests(
    models_deployment: str, model_server: str, aws_client: Client
) -> None:
    actual = hashlib.sha256((SHARED_TFLITE / SMALL_MODEL_FILE).read_bytes()).hexdigest()
    wrong = "0" * 64
    result = models_run(
        "-e", f"model_source={model_server}{SMALL_MODEL_FILE}", "-e", f"model_sha256={wrong}"
    )
    assert result.returncode != 0, tail(result.stdout)
    expected = f"the download's sha256 is {actual}, not the {wrong} expected (model_sha256)"
    assert expected in one_line(result.stdout), tail(result.stdout)
    assert models_record(aws_client) is None, "a model whose digest is wrong was deployed"


def test_a_file_larger_than_the_bound_is_refused(
    models_deployment: str, model_server: str, aws_client: Client
) -> None:
    result = models_run(
        "-e", f"model_source={model_server}{SMALL_MODEL_FILE}", "-e", "models_max_bytes=1000"
    )
    assert result.returncode != 0, tail(result.stdout)
    assert "more than models_max_bytes (1000.00 Bytes)" in one_line(result.stdout), tail(
        result.stdout
    )
    assert models_record(aws_client) is None


def test_a_checkpoint_on_this_machine_is_uploaded_with_its_sha256(
    models_deployment: str, aws_client: Client
) -> None:
    """An MXNet checkpoint prefix (as before the TFLite default): its three files, each with
    its sha256 in the metadata and in SHA256SUMS, and the deployment's record of it."""
    prefix = SHARED_CHECKPOINT / CHECKPOINT
    result = models_run("-e", f"model_source={prefix}")
    assert_playbook_ok(result, "models.yml with a checkpoint prefix")
    record = models_record(aws_client)
    assert record is not None and record["kind"] == "mxnet" and record["source"] == str(prefix), (
        record
    )
    bucket = record["uri"].split("/")[2]
    s3 = aws_client("s3")
    listed = sums(s3_text(aws_client, bucket, f"models/{CHECKPOINT}/SHA256SUMS"))
    for name in (f"{CHECKPOINT}-symbol.json", f"{CHECKPOINT}-0000.params", "labels.txt"):
        expected = hashlib.sha256((SHARED_CHECKPOINT / name).read_bytes()).hexdigest()
        head = s3.head_object(Bucket=bucket, Key=f"models/{CHECKPOINT}/{name}")
        assert head["Metadata"].get("sha256") == expected == listed[name], name
    assert record["sha256"] == listed[f"{CHECKPOINT}-0000.params"]


def test_a_run_without_model_source_keeps_the_deployed_model(
    models_deployment: str, aws_client: Client
) -> None:
    before = models_record(aws_client)
    result = models_run()
    assert_playbook_ok(result, "models.yml without model_source")
    assert models_record(aws_client) == before
    assert recap_changed(result.stdout) == 0, tail(result.stdout)
    assert "WARNING" not in result.stdout, "the default model was tried instead of the deployed one"


def test_a_new_model_that_fails_leaves_the_deployed_one(
    models_deployment: str, aws_client: Client
) -> None:
    before = models_record(aws_client)
    gone = "http://127.0.0.1:9/models/nothing.tflite"
    result = models_run("-e", f"model_source={gone}")
    assert_playbook_ok(result, "models.yml with a model that cannot be downloaded")
    text = one_line(result.stdout)
    assert f"WARNING: the deployment keeps its model {before['source']}" in text, tail(
        result.stdout
    )
    assert f"cannot download {gone}" in text
    assert models_record(aws_client) == before


def test_a_served_tflite_replaces_it(
    models_deployment: str, model_server: str, aws_client: Client
) -> None:
    result = models_run("-e", f"model_source={model_server}{SMALL_MODEL_FILE}")
    assert_playbook_ok(result, "models.yml with another TFLite model")
    record = models_record(aws_client)
    assert record is not None and record["kind"] == "tflite", record
    assert (
        record["sha256"]
        == hashlib.sha256((SHARED_TFLITE / SMALL_MODEL_FILE).read_bytes()).hexdigest()
    )
    name = SMALL_MODEL_FILE.removesuffix(".tflite")
    assert record["original"].endswith(f"/models/{name}/source/{SMALL_MODEL_FILE}"), record
    assert record["uri"].endswith(f"/models/{name}/{name}"), record
