from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest

from ecsdl.classify import main as classify_main
from ecsdl.datasets import DatasetError, load_digits, load_mnist, parse_idx
from ecsdl.train import (
    build_parser,
    main,
    own_address,
    ps_environment,
    save_checkpoint,
    train_model,
)


@pytest.fixture(autouse=True)
def _environment_restored():
    """train's main sets DMLC_* variables in os.environ (MXNet reads them from there)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_digits_ship_in_the_image():
    data = load_digits()
    assert data.input_shape == (1, 8, 8)
    assert len(data.train_y) + len(data.val_y) == 1797
    assert data.train_x.max() == pytest.approx(255.0)


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_parse_idx_images_and_labels():
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    assert parse_idx(_idx(images)).tolist() == images.tolist()
    assert parse_idx(_idx(np.array([7, 1]))).tolist() == [7, 1]
    with pytest.raises(DatasetError, match="not an unsigned-byte idx file"):
        parse_idx(b"garbage", "x")


def _mnist_like(folder) -> dict[str, str]:
    """A small data set in MNIST's format in folder; returns its files' sha256."""
    rng = np.random.default_rng(0)
    digests = {}
    for name, array in {
        "train-images-idx3-ubyte.gz": rng.integers(0, 255, (20, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 20),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 255, (5, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5),
    }.items():
        (folder / name).write_bytes(_idx(array))
        digests[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    return digests


def test_mnist_from_a_folder(tmp_path):
    data = load_mnist(str(tmp_path), _mnist_like(tmp_path))
    assert data.input_shape == (1, 28, 28) and len(data.val_y) == 5


def test_train_refuses_data_that_is_not_mnist(tmp_path, capsys):
    """MNIST's published sha256 by default: other bytes under its names stop train at once."""
    digests = _mnist_like(tmp_path)
    assert main(["--dataset", "mnist", "--data", str(tmp_path), "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"sha256 {digests['train-images-idx3-ubyte.gz']}, expected 440fcabf73cc" in err


def test_train_takes_the_digests_of_data_of_ones_own(tmp_path, capsys):
    digests = _mnist_like(tmp_path)
    given = [
        arg for name, digest in digests.items() for arg in ("--data-sha256", f"{name}={digest}")
    ]
    output = str(tmp_path / "model" / "mlp")
    command = ["--dataset", "mnist", "--data", str(tmp_path), "--epochs", "1", "--output", output]
    assert main([*command, *given]) == 0, capsys.readouterr().err
    assert "train: mnist: 20 training and 5 validation images" in capsys.readouterr().out


@pytest.mark.parametrize(
    "value, message",
    [
        (f"mnist.gz={'0' * 64}", "FILE must be one of train-images-idx3-ubyte.gz"),
        ("train-images-idx3-ubyte.gz=abc", "SHA256 must be 64 hex digits"),
    ],
)
def test_train_data_sha256_must_name_a_file_and_a_digest(value, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--dataset", "mnist", "--data", "/tmp", "--data-sha256", value])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_mnist_missing_files_say_which(tmp_path):
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz: no such file"):
        load_mnist(str(tmp_path))


def test_trained_digits_model_is_classified(tmp_path, json_lines, write_png, capsys):
    data = load_digits()
    out = io.StringIO()
    net, accuracy = train_model(data, epochs=3, batch_size=32, log_every=10, out=out)
    log = out.getvalue()
    assert "Epoch[0] Batch [10] Speed: " in log and " samples/sec accuracy=" in log
    assert "Epoch[2] Validation-accuracy=" in log
    assert accuracy > 0.85
    prefix = str(tmp_path / "digits" / "mlp")
    save_checkpoint(net, data, prefix)
    assert (tmp_path / "digits" / "labels.txt").read_text().split() == list("0123456789")
    # a validation digit as an 8x8 PNG, classified by the saved checkpoint
    digit = data.val_x[0, 0].round().astype(np.uint8)
    image = write_png("digit.png", digit)
    report = io.StringIO()
    assert classify_main(["--model", prefix, "--json", "--top", "1", image], out=report) == 0
    line = json_lines(report.getvalue())[0]
    assert line["top"][0]["label"] == str(data.val_y[0])
    assert line["is_cat"] is False and line["cat_probability"] == 0.0


def test_train_cli_needs_data_for_mnist(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--dataset", "mnist"])
    assert info.value.code == 2
    assert "--dataset mnist needs --data" in capsys.readouterr().err


def test_train_parser_defaults():
    args = build_parser().parse_args([])
    assert (args.dataset, args.network, args.epochs, args.batch_size, args.lr) == (
        "digits",
        "mlp",
        10,
        64,
        0.1,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("meeting", ["given-address", "rendezvous"])
def test_a_parameter_server_job_trains_every_worker_to_the_same_weights(tmp_path, meeting):
    """One scheduler, one server and two workers (processes on this machine, as ECS tasks on
    the cluster's instances): each worker trains on its half of the digits, both end with the
    same weights and a good accuracy, and only worker 0 writes the checkpoint. The scheduler's
    address is given to all, or only to the scheduler, which says it through a rendezvous file
    (its port a free one)."""
    env = dict(
        os.environ,
        DMLC_NUM_SERVER="1",
        DMLC_NUM_WORKER="2",
        DMLC_NODE_HOST="127.0.0.1",  # the build may have no network but loopback
    )
    own = {}
    if meeting == "given-address":
        env.update(DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(_free_port()))
    else:
        env["ECSDL_RENDEZVOUS"] = str(tmp_path / "job" / "scheduler.json")
        own["scheduler"] = {"DMLC_PS_ROOT_URI": "127.0.0.1"}
    prefix = str(tmp_path / "dist" / "mlp")
    command = [sys.executable, "-m", "ecsdl.train", "--epochs", "8", "--output", prefix]
    procs = {
        role: subprocess.Popen(
            command,
            env={**env, **own.get(role, {}), "DMLC_ROLE": role.split("-")[0]},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # the workers first: they wait for the scheduler (through the rendezvous, too)
        for role in ("worker-a", "worker-b", "server", "scheduler")
    }
    logs = {}
    try:
        for role, proc in procs.items():
            logs[role] = proc.communicate(timeout=240)[0]
    finally:
        for proc in procs.values():
            proc.kill()
    assert {role: proc.returncode for role, proc in procs.items()} == dict.fromkeys(procs, 0), logs
    assert "train: parameter scheduler of a job of 2 workers and 1 servers" in logs["scheduler"]
    assert "the job is done" in logs["server"]
    workers = [logs["worker-a"], logs["worker-b"]]
    line = r"train: worker (\d) of 2: weights sha256 ([0-9a-f]{64})"
    sums = [re.search(line, w) for w in workers]
    assert all(sums), workers
    assert sorted(m.group(1) for m in sums) == ["0", "1"]
    assert sums[0].group(2) == sums[1].group(2), "the workers' weights differ"
    total = len(load_digits().train_y)
    shard = total // 2 // 64 * 64  # whole batches of 64, as many for each worker
    for log in workers:
        assert re.search(rf"worker (\d) of 2: {shard} samples of {total} \(numbers \1, ", log), log
        accuracy = float(re.findall(r"Epoch\[7\] Validation-accuracy=([0-9.]+)", log)[0])
        assert accuracy > 0.9, log
    first = workers[[m.group(1) for m in sums].index("0")]
    assert f"train: wrote {prefix}-0000.params" in first
    assert (tmp_path / "dist" / "mlp-symbol.json").is_file()
    if meeting == "rendezvous":
        address = json.loads((tmp_path / "job" / "scheduler.json").read_text())
        assert address["uri"] == "127.0.0.1" and address["port"] > 0


def test_a_worker_without_a_scheduler_gives_up_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("ecsdl.train.RENDEZVOUS_TIMEOUT", 2.0)
    for name, value in {
        "DMLC_ROLE": "worker",
        "DMLC_NUM_SERVER": "1",
        "DMLC_NUM_WORKER": "2",
        "ECSDL_RENDEZVOUS": str(tmp_path / "scheduler.json"),
    }.items():
        monkeypatch.setenv(name, value)
    assert main([]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"train: no scheduler address at {tmp_path}/scheduler.json after 2 s "
        f"({tmp_path}/scheduler.json: no such file)\n"
    )


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"DMLC_ROLE": "boss"}, [], "DMLC_ROLE is 'boss': it must be one of scheduler, server"),
        (
            {"DMLC_ROLE": "worker", "DMLC_NUM_WORKER": "2"},
            [],
            "a parameter-server worker needs DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT, DMLC_NUM_SERVER",
        ),
        (
            {
                "DMLC_ROLE": "server",
                "DMLC_PS_ROOT_URI": "10.0.0.5",
                "DMLC_PS_ROOT_PORT": "9091",
                "DMLC_NUM_SERVER": "1",
                "DMLC_NUM_WORKER": "zero",
            },
            [],
            "DMLC_NUM_WORKER is 'zero': it must be a positive whole number",
        ),
        ({}, ["--kvstore", "dist_sync"], "--kvstore dist_sync runs as a worker of a parameter"),
    ],
    ids=["unknown-role", "missing-variables", "bad-count", "dist-without-a-job"],
)
def test_a_bad_parameter_server_environment_is_one_clear_line(
    monkeypatch, capsys, env, args, message
):
    for name in [n for n in os.environ if n.startswith("DMLC_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"train: {message}"), err
    assert len(err.strip().splitlines()) == 1


def test_the_scheduler_takes_its_own_address_when_none_is_given():
    env = {
        "DMLC_ROLE": "scheduler",
        "DMLC_PS_ROOT_PORT": "9091",
        "DMLC_NUM_SERVER": "1",
        "DMLC_NUM_WORKER": "2",
    }
    assert ps_environment(env) == "scheduler"
    assert env["DMLC_PS_ROOT_URI"] == own_address()
    assert ps_environment({}) == ""


def test_a_job_of_one_worker_trains_whole_batches_only(tmp_path):
    """dist_sync with a single worker: the last, partial batch of an epoch would change the
    batch size, which MXNet refuses on a distributed kvstore (it raised UserWarning)."""
    env = dict(
        os.environ,
        DMLC_PS_ROOT_URI="127.0.0.1",
        DMLC_PS_ROOT_PORT=str(_free_port()),
        DMLC_NUM_SERVER="1",
        DMLC_NUM_WORKER="1",
        DMLC_NODE_HOST="127.0.0.1",
    )
    command = [
        sys.executable,
        "-m",
        "ecsdl.train",
        "--epochs",
        "2",
        "--output",
        str(tmp_path / "m"),
    ]
    procs = [
        subprocess.Popen(
            command,
            env={**env, "DMLC_ROLE": role},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for role in ("worker", "server", "scheduler")
    ]
    try:
        logs = [proc.communicate(timeout=240)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0, 0], logs
    whole = len(load_digits().train_y) // 64 * 64
    assert f"train: worker 0 of 1: {whole} samples of" in logs[0], logs[0]
    assert "weights sha256" in logs[0]
