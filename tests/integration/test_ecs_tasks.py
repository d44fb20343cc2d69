"""What runs on the cluster: the Jupyter service, SSH into its container, predict.yml, train.yml.

All on the shared test deployment (the `deployment` fixture), seen as a user sees it: the
commands from the outputs file, the task playbooks, and the AWS APIs (boto3 against the local
endpoint). The last test kills the Jupyter container and waits for ECS to start another.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    CONTAINER_SSH_PORT,
    DEPLOYMENT_ARGS,
    DEPLOYMENT_NAME,
    JUPYTER_PORT,
    REPO_ROOT,
    Deployment,
    assert_playbook_ok,
    docker_container_ids,
    failure_message,
    jupyter_trust,
    run_playbook,
    skimage_photo,
    tail,
)
from tests.integration.jupyter_api import LoginRefused, login

DN = DEPLOYMENT_NAME
SERVICE = f"{DN}-jupyter"
Client = Callable[[str], Any]


def _ssh(command: str, *remote: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    """Run an SSH command line from the outputs, non-interactively, with a remote command."""
    argv = shlex.split(command)
    argv[1:1] = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    return subprocess.run(
        [*argv, *remote], capture_output=True, text=True, timeout=timeout, check=False
    )


def _service(aws_client: Client) -> dict[str, Any]:
    services = aws_client("ecs").describe_services(cluster=DN, services=[SERVICE])["services"]
    assert len(services) == 1, f"no service {SERVICE} in cluster {DN}"
    return services[0]


def _running_service_tasks(aws_client: Client) -> list[dict[str, Any]]:
    ecs = aws_client("ecs")
    arns = ecs.list_tasks(cluster=DN, serviceName=SERVICE)["taskArns"]
    tasks = ecs.describe_tasks(cluster=DN, tasks=arns)["tasks"] if arns else []
    return [task for task in tasks if task["lastStatus"] == "RUNNING"]


def _docker_json(*args: str) -> Any:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def _task_container(task_arn: str) -> dict[str, Any]:
    ids = docker_container_ids(f"com.amazonaws.ecs.task-arn={task_arn}")
    assert len(ids) == 1, f"{len(ids)} running containers for task {task_arn}"
    return _docker_json("inspect", ids[0])[0]


def _line_after(stdout: str, prefix: str) -> str:
    match = re.search(rf"{re.escape(prefix)}\s*(\S+)", stdout)
    assert match, f"no '{prefix}' in the playbook's output:\n{tail(stdout)}"
    return match.group(1).strip("'\",")


def test_the_service_runs_one_task_of_the_jupyter_definition(
    deployment: Deployment, aws_client: Client
) -> None:
    service = _service(aws_client)
    assert (service["desiredCount"], service["runningCount"]) == (1, 1), service
    assert service["launchType"] == "EC2"
    tasks = _running_service_tasks(aws_client)
    assert len(tasks) == 1, tasks
    assert tasks[0]["taskDefinitionArn"] == deployment.outputs["task_definitions"]["jupyter"]
    bindings = {
        b["containerPort"]: b["hostPort"] for b in tasks[0]["containers"][0]["networkBindings"]
    }
    assert bindings == {8888: JUPYTER_PORT, 2222: CONTAINER_SSH_PORT}
    assert deployment.outputs["jupyter"]["url"] == f"https://127.0.0.1:{JUPYTER_PORT}/"


def test_the_task_definitions_hold_no_secret(deployment: Deployment, aws_client: Client) -> None:
    ecs, ssm = aws_client("ecs"), aws_client("ssm")
    password = open(deployment.outputs["jupyter_password"], encoding="utf-8").read().strip()
    stored = {
        name: ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        for name in deployment.outputs["ssm_parameters"]
    }
    assert {p["Type"] for p in stored.values()} == {"SecureString"}
    hashed = stored[f"/{DN}/jupyter/password-hash"]["Value"]
    assert hashed.startswith("argon2:") and password not in hashed
    host_key = stored[f"/{DN}/container/ssh-host-key"]["Value"]
    tls_key = stored[f"/{DN}/jupyter/tls-key"]["Value"]
    for kind, arn in deployment.outputs["task_definitions"].items():
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        text = json.dumps(definition)
        for secret in (password, hashed, host_key.strip().splitlines()[1], tls_key.splitlines()[1]):
            assert secret not in text, f"a secret is in the {kind} task definition"
        container = definition["containerDefinitions"][0]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{DN}"
        # each family its own task role: <family>-task
        assert definition["taskRoleArn"].endswith(f":role/{definition['family']}-task"), kind
        assert definition["executionRoleArn"].endswith(f":role/{DN}-task-execution")
        # a distributed job's processes share their instance's network (any port, any instance)
        assert definition["networkMode"] == ("host" if kind == "dist" else "bridge")
    jupyter = ecs.describe_task_definition(
        taskDefinition=deployment.outputs["task_definitions"]["jupyter"]
    )["taskDefinition"]["containerDefinitions"][0]
    assert {s["name"]: s["valueFrom"].split(":parameter")[1] for s in jupyter["secrets"]} == {
        "JUPYTER_PASSWORD_HASH": f"/{DN}/jupyter/password-hash",
        "SSH_HOST_KEY": f"/{DN}/container/ssh-host-key",
        "JUPYTER_TLS_KEY": f"/{DN}/jupyter/tls-key",
    }
    assert jupyter["healthCheck"]["command"][0] == "CMD-SHELL"
    assert jupyter["memoryReservation"] > 0
    # Neither the password nor the key ever reached the playbook's output.
    assert password not in deployment.stdout
    assert host_key.strip().splitlines()[1] not in deployment.stdout


def test_the_container_runs_the_task_definition(aws_client: Client) -> None:
    """The local agent ran what ECS holds: image, ports, environment, secrets resolved, health."""
    task = _running_service_tasks(aws_client)[0]
    definition = aws_client("ecs").describe_task_definition(
        taskDefinition=task["taskDefinitionArn"]
    )["taskDefinition"]
    spec = definition["containerDefinitions"][0]
    container = _task_container(task["taskArn"])
    assert container["Config"]["Image"] == spec["image"]
    assert container["Config"]["Labels"]["com.amazonaws.ecs.cluster"] == DN
    env = dict(item.split("=", 1) for item in container["Config"]["Env"])
    for item in spec["environment"]:
        assert env[item["name"]] == item["value"], item["name"]
    assert env["JUPYTER_PASSWORD_HASH"].startswith("argon2:")
    assert container["Config"]["Cmd"] == spec["command"]
    ports = container["HostConfig"]["PortBindings"]
    assert ports["8888/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(JUPYTER_PORT)}]
    assert container["State"]["Health"]["Status"] in ("starting", "healthy")
    assert container["HostConfig"]["MemoryReservation"] == spec["memoryReservation"] * 2**20
    assert container["HostConfig"]["Memory"] == spec["memory"] * 2**20  # the hard limit


def test_the_ssh_command_reaches_python_in_the_container(deployment: Deployment) -> None:
    command = deployment.outputs["ssh"]["container"]
    assert "StrictHostKeyChecking=yes" in command  # the host key is known ahead
    result = _ssh(command, "whoami; python -c 'import mxnet; print(mxnet.__version__)'")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["jovyan", "1.9.1"], result.stdout


def test_the_ssh_command_reaches_the_instance(deployment: Deployment) -> None:
    result = _ssh(deployment.outputs["ssh"]["instance"], "echo", "instance-ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "instance-ok"


@pytest.mark.parametrize(("photo", "verdict"), [("chelsea.png", "CAT"), ("coffee.png", "NO CAT")])
def test_predict_says_whether_there_is_a_cat(
    deployment: Deployment, aws_client: Client, photo: str, verdict: str
) -> None:
    # One absolute path, one relative to where ansible-playbook runs (the repository root).
    path = skimage_photo(photo)
    image = path if verdict == "CAT" else os.path.relpath(path, REPO_ROOT)
    result = run_playbook("playbooks/predict.yml", *DEPLOYMENT_ARGS, "-e", f"image={image}")
    assert_playbook_ok(result, f"predict.yml on {photo}", f"predict-{photo}.log")
    assert re.search(rf"- {verdict} in \S*{re.escape(photo)}", result.stdout), tail(result.stdout)
    # The result object in the output bucket says the same.
    uri = _line_after(result.stdout, "result:")
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    assert bucket == deployment.outputs["buckets"]["output"]
    body = aws_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    answer = json.loads(body.splitlines()[0])
    assert answer["is_cat"] is (verdict == "CAT"), answer
    # The task's log reached CloudWatch Logs, with the same JSON line.
    group, stream = _line_after(result.stdout, "log:").split(":", 1)
    events = aws_client("logs").get_log_events(logGroupName=group, logStreamName=stream)["events"]
    assert any('"is_cat"' in event["message"] for event in events), events


def test_every_upload_gets_its_verdict(deployment: Deployment, aws_client: Client) -> None:
    """classify_uploads (on by default): pictures put under uploads/ of the input bucket, by S3
    alone, get their verdicts in the output bucket, through the bucket's EventBridge events and
    the deployment's rule, which runs the predict task for each; what is not a picture gets an
    error verdict, and its task ends well (no crash loop)."""
    s3, ecs = aws_client("s3"), aws_client("ecs")
    buckets = deployment.outputs["buckets"]
    assert deployment.outputs["uploads"]["pictures"] == f"s3://{buckets['input']}/uploads/"
    uploads = {
        "uploads/it/chelsea.png": skimage_photo("chelsea.png").read_bytes(),
        "uploads/it/coffee.png": skimage_photo("coffee.png").read_bytes(),
        "uploads/it/notes.txt": b"a shopping list, not a picture\n",
    }
    for key, body in uploads.items():
        s3.put_object(Bucket=buckets["input"], Key=key, Body=body)

    def verdicts() -> dict[str, Any]:
        found = {}
        for key in uploads:
            try:
                answer = s3.get_object(Bucket=buckets["output"], Key=f"verdicts/{key}.json")
            except s3.exceptions.NoSuchKey:
                continue
            found[key] = json.loads(answer["Body"].read())
        return found

    deadline = time.monotonic() + 300
    while len(found := verdicts()) < len(uploads) and time.monotonic() < deadline:
        time.sleep(3)
    assert set(found) == set(uploads), f"verdicts after 300 s: {sorted(found)}"
    cat, coffee, notes = (found[key] for key in uploads)
    assert (cat["is_cat"], coffee["is_cat"]) == (True, False), (cat, coffee)
    assert "error" in notes and "is_cat" not in notes, notes
    model = deployment.outputs["model_uri"].rsplit("/", 1)[-1]
    for verdict in found.values():
        assert verdict["model"] == model, verdict
        assert re.fullmatch(r"[0-9a-f]{64}", verdict["model_sha256"]), verdict
    assert len({v["model_sha256"] for v in found.values()}) == 1
    # One task for each upload, started by the rule, each ended with exit code 0.
    rule = f"events-rule/{DN}-classify-uploads"

    def stopped() -> dict[str, Any]:
        arns = ecs.list_tasks(cluster=DN, startedBy=rule, desiredStatus="STOPPED")["taskArns"]
        tasks = ecs.describe_tasks(cluster=DN, tasks=arns)["tasks"] if arns else []
        return {
            t["overrides"]["containerOverrides"][0]["command"][-1]: t
            for t in tasks
            if t.get("lastStatus") == "STOPPED"
        }

    wanted = {f"s3://{buckets['input']}/{key}" for key in uploads}
    deadline = time.monotonic() + 60
    while not wanted <= set(done := stopped()) and time.monotonic() < deadline:
        time.sleep(2)
    assert wanted <= set(done), f"stopped tasks of the rule: {sorted(done)}"
    for uri in wanted:
        assert done[uri]["containers"][0].get("exitCode") == 0, done[uri]


def test_predict_classifies_a_folder_as_a_batch(
    deployment: Deployment, aws_client: Client, tmp_path: Path
) -> None:
    """predict.yml -e images=FOLDER: the folder uploaded once, every picture through one task
    per instance that loads the model once, the counts printed, one part per batch."""
    folder = tmp_path / "album"
    (folder / "more").mkdir(parents=True)
    for i in range(3):
        (folder / f"cat-{i}.png").write_bytes(skimage_photo("chelsea.png").read_bytes())
    for i in range(2):
        (folder / "more" / f"coffee-{i}.png").write_bytes(skimage_photo("coffee.png").read_bytes())
    (folder / "notes.txt").write_text("not a picture\n")
    args = [*DEPLOYMENT_ARGS, "-e", f"images={folder}", "-e", "predict_batch_size=2"]
    result = run_playbook("playbooks/predict.yml", *args)
    assert_playbook_ok(result, "predict.yml on a folder", "predict-batch.log")
    assert "6 pictures: 3 cats, 2 not cats, 1 unreadable" in result.stdout, tail(result.stdout)
    parts = _line_after(result.stdout, "results:").split()[0]
    bucket, prefix = parts.removeprefix("s3://").split("/", 1)
    assert bucket == deployment.outputs["buckets"]["output"]
    keys = [
        o["Key"].removeprefix(prefix)
        for o in aws_client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    ]
    part_lines = 0
    for key in keys:
        if key.startswith("part-"):
            body = aws_client("s3").get_object(Bucket=bucket, Key=prefix + key)["Body"].read()
            part_lines += len(body.splitlines())
            assert len(body.splitlines()) <= 2, key
    assert part_lines == 6 and any(k.startswith("summary-") for k in keys), keys


def test_predict_reports_a_failed_task_with_its_exit_code_and_log(deployment: Deployment) -> None:
    missing = f"s3://{deployment.outputs['buckets']['input']}/no-such-picture.png"
    result = run_playbook("playbooks/predict.yml", *DEPLOYMENT_ARGS, "-e", f"image={missing}")
    assert result.returncode != 0, tail(result.stdout)
    assert "failed: exit code 1" in result.stdout, tail(result.stdout)
    assert "no-such-picture.png" in result.stdout and "Last log lines" in result.stdout


def _blank_png(width: int, height: int) -> bytes:
    """docker/ecsdl/tests/bombs.py's PNG bomb (the image's tests make the same)."""
    path = REPO_ROOT / "docker" / "ecsdl" / "tests" / "bombs.py"
    spec = importlib.util.spec_from_file_location("ecsdl_test_bombs", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.blank_png(width, height)


def test_predict_refuses_a_decompression_bomb_in_one_line(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A 20,000 x 20,000 PNG of 389 KB (400 MB of pixels, 1.2 GB as RGB) passes predict.yml's
    own checks (it is a PNG) and reaches the task: classify refuses it from its header, one
    line in the task's log, exit code 1; nothing is decoded, nothing killed for memory (137)."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_blank_png(20_000, 20_000))
    result = run_playbook("playbooks/predict.yml", *DEPLOYMENT_ARGS, "-e", f"image={bomb}")
    assert result.returncode != 0, tail(result.stdout)
    message = failure_message(result.stdout)
    assert "failed: exit code 1," in message, message
    refusal = re.search(
        r"classify: s3://\S+bomb\.png: 400,000,000 pixels, more than the 50,331,648 allowed "
        r"\(ECSDL_MAX_IMAGE_PIXELS\); refused before decoding",
        message,
    )
    assert refusal, message


def _bridge_address() -> str:
    """The host's address on docker's default bridge: what host.docker.internal (host-gateway)
    is in the task containers."""
    bridge = _docker_json("network", "inspect", "bridge")[0]
    for config in (bridge.get("IPAM") or {}).get("Config") or []:
        gateway = str(config.get("Gateway") or "").split("/")[0]
        if gateway and ":" not in gateway:
            return gateway
    name = (bridge.get("Options") or {}).get("com.docker.network.bridge.name") or "docker0"
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", name], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"inet ([0-9.]+)/", shown)
    assert found, f"no IPv4 address on {name}: {shown!r}"
    return found.group(1)


class _Trickle(BaseHTTPRequestHandler):
    """A picture that never finishes: headers at once, then one byte a second."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        try:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            pass  # the task was stopped


def test_predict_stops_a_task_that_outlasts_predict_timeout(
    deployment: Deployment, aws_client: Client
) -> None:
    """The task reads a picture a server trickles to it (a byte a second: it would take the
    picture's own 120 s limit); predict.yml's wait gives up after predict_timeout (5 s), stops
    the task and says so in one line, and the task's container is gone, not left running."""
    server = ThreadingHTTPServer((_bridge_address(), 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://host.docker.internal:{server.server_address[1]}/slow.png"
        result = run_playbook(
            "playbooks/predict.yml",
            *DEPLOYMENT_ARGS,
            "-e",
            f"image={url}",
            "-e",
            "predict_timeout=5",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode != 0, tail(result.stdout)
    message = failure_message(result.stdout)
    found = re.fullmatch(
        r"The predict task ([0-9a-f-]+) was not done within 5 s \(predict_timeout\): "
        r"(it was stopped|StopTask was sent, and it is stopping)\.",
        message,
    )
    assert found, message
    cluster = deployment.outputs["cluster"]
    deadline = time.monotonic() + 90
    while True:
        task = aws_client("ecs").describe_tasks(cluster=cluster, tasks=[found.group(1)])["tasks"][0]
        if task["lastStatus"] == "STOPPED" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert (task["lastStatus"], task["desiredStatus"]) == ("STOPPED", "STOPPED"), task
    assert task["stoppedReason"] == "ecs-deep-learning: not done within 5 s (predict_timeout)"
    assert docker_container_ids(f"com.amazonaws.ecs.task-arn={task['taskArn']}") == []


def test_train_writes_the_checkpoint_to_the_models_bucket(
    deployment: Deployment, aws_client: Client
) -> None:
    result = run_playbook("playbooks/train.yml", *DEPLOYMENT_ARGS)
    assert_playbook_ok(result, "train.yml", "train.log")
    bucket = deployment.outputs["buckets"]["models"]
    keys = {
        item["Key"]
        for item in aws_client("s3").list_objects_v2(Bucket=bucket, Prefix="trained/")["Contents"]
    }
    assert {
        "trained/digits/mlp-symbol.json",
        "trained/digits/mlp-0000.params",
        "trained/digits/labels.txt",
    } <= keys
    assert f"Trained: s3://{bucket}/trained/digits/mlp-symbol.json" in result.stdout
    accuracy = re.search(r"Validation-accuracy=(\d\.\d+)", result.stdout)
    assert accuracy and float(accuracy.group(1)) >= 0.9, tail(result.stdout)


def test_train_settings_take_effect(deployment: Deployment, aws_client: Client) -> None:
    """-e train_epochs and -e train_batch_size are what the task runs: 2 epochs (none after),
    16 samples a step (so that the 1,437 training digits make the 50th batch, which 64 a step
    never reach), in the task's command and in its log."""
    result = run_playbook(
        "playbooks/train.yml", *DEPLOYMENT_ARGS, "-e", "train_epochs=2", "-e", "train_batch_size=16"
    )
    assert_playbook_ok(result, "train.yml -e train_epochs=2 -e train_batch_size=16", "train-2.log")
    stream = re.search(r"log: \S+?:(\S+/train/([0-9a-f-]+))", result.stdout)
    assert stream, tail(result.stdout)
    task = aws_client("ecs").describe_tasks(
        cluster=deployment.outputs["cluster"], tasks=[stream.group(2)]
    )["tasks"][0]
    command = task["overrides"]["containerOverrides"][0]["command"]
    assert command[command.index("--epochs") + 1] == "2", command
    assert command[command.index("--batch-size") + 1] == "16", command
    events = aws_client("logs").get_log_events(
        logGroupName=deployment.outputs["log_group"],
        logStreamName=stream.group(1),
        startFromHead=True,
    )["events"]
    log = "\n".join(event["message"] for event in events)
    assert "Epoch[1] Validation-accuracy=" in log and "Epoch[2]" not in log, log
    assert "Epoch[0] Batch [50]" in log, log


def test_ecs_starts_jupyter_again_when_its_container_dies(
    deployment: Deployment, aws_client: Client
) -> None:
    """As after a Spot interruption: desired count 1 brings a new task; the URL and SSH work."""
    before = _running_service_tasks(aws_client)[0]
    subprocess.run(
        ["docker", "kill", _task_container(before["taskArn"])["Id"]],
        capture_output=True,
        timeout=60,
        check=True,
    )
    deadline = time.monotonic() + 240
    while True:
        after = [t for t in _running_service_tasks(aws_client) if t["taskArn"] != before["taskArn"]]
        if after:
            break
        assert time.monotonic() < deadline, "ECS did not start another jupyter task in 240 s"
        time.sleep(2)
    stopped = aws_client("ecs").describe_tasks(cluster=DN, tasks=[before["taskArn"]])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["containers"][0]["exitCode"] == 137
    url = deployment.outputs["jupyter"]["url"]
    trust = jupyter_trust(deployment.outputs)
    while True:
        try:
            with urllib.request.urlopen(f"{url}login", timeout=5, context=trust) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer again in 240 s"
        time.sleep(2)
    # The same host key (kept in SSM): the known_hosts written by site.yml still holds.
    result = _ssh(deployment.outputs["ssh"]["container"], "true")
    assert result.returncode == 0, result.stderr


def _command_lines_seen(stop: threading.Event, secret: str, seen: dict[str, Any]) -> None:
    """What any user of the machine sees with `ps`: every process's command line, read every
    0.1 s until `stop`; counts them into seen["read"], keeps those holding `secret`."""
    while not stop.is_set():
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            seen["read"] += 1
            if secret in line:
                seen["holding"].append(line)
        stop.wait(0.1)


def test_a_given_jupyter_password_replaces_the_generated_one(deployment: Deployment) -> None:
    """The password given as the README says (ECS_DL_JUPYTER_PASSWORD, not -e): a new hash in
    SSM, a new task reads it; then back again. The attack: another user reading `ps` while
    site.yml runs never sees it in a command line (Ansible's or its workers' or modules')."""
    url = deployment.outputs["jupyter"]["url"]
    ca = deployment.outputs["jupyter"]["certificate"]
    generated = open(deployment.outputs["jupyter_password"], encoding="utf-8").read().strip()
    given = "Given-passw0rd-of-the-test"
    stop, seen = threading.Event(), {"read": 0, "holding": []}
    watcher = threading.Thread(target=_command_lines_seen, args=(stop, given, seen), daemon=True)
    watcher.start()
    try:
        result = run_playbook("site.yml", *DEPLOYMENT_ARGS, env={"ECS_DL_JUPYTER_PASSWORD": given})
    finally:
        stop.set()
        watcher.join()
    assert seen["read"] > 1000, "the command lines were not read during the run"
    assert seen["holding"] == [], "the password was in a command line"
    assert_playbook_ok(result, "site.yml with jupyter_password", "site-given-password.log")
    assert given not in result.stdout
    outputs = json.loads(deployment.outputs_path.read_text())
    assert outputs["jupyter_password"] == "the jupyter_password you gave"
    login(url, given, verify=ca)
    with pytest.raises(LoginRefused):
        login(url, generated, verify=ca)
    # Without it again: the generated password (kept in its file) is back, for the later tests.
    result = run_playbook("site.yml", *DEPLOYMENT_ARGS)
    assert_playbook_ok(result, "site.yml without jupyter_password", "site-generated-password.log")
    login(url, generated, verify=ca)
    with pytest.raises(LoginRefused):
        login(url, given, verify=ca)
