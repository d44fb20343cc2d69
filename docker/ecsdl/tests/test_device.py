"""--device of classify and train: auto takes a GPU when MXNet sees one, gpu without one is one
clear error, and the output says which device ran."""

from __future__ import annotations

import io
import os

import mxnet as mx
import pytest

from ecsdl import device
from ecsdl.classify import EXIT_MODEL_ERROR
from ecsdl.classify import main as classify_main
from ecsdl.device import DeviceError, device_name, pick_device
from ecsdl.train import build_parser as train_parser
from ecsdl.train import main as train_main

NO_GPU = "--device gpu: MXNet sees no GPU"


@pytest.fixture(autouse=True)
def _environment_restored():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize(
    ("choice", "gpus", "expected"),
    [
        ("auto", 0, mx.cpu()),
        ("auto", 2, mx.gpu(0)),
        ("cpu", 2, mx.cpu()),
        ("gpu", 1, mx.gpu(0)),
    ],
)
def test_the_device_follows_the_choice_and_the_visible_gpus(choice, gpus, expected):
    assert pick_device(choice, gpus=gpus) == expected


def test_gpu_without_a_visible_gpu_is_one_clear_error():
    with pytest.raises(DeviceError, match=NO_GPU):
        pick_device("gpu", gpus=0)
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        pick_device("tpu")


def test_device_names():
    assert [device_name(mx.cpu()), device_name(mx.gpu(0)), device_name(mx.gpu(1))] == [
        "cpu",
        "gpu(0)",
        "gpu(1)",
    ]


def test_no_gpu_is_visible_here():
    """The tests run in the image's test stage, on the build host: no GPU (the CUDA build of
    MXNet with the image's stand-in driver reports none too)."""
    assert device.gpu_count() == 0
    assert pick_device() == mx.cpu()


def test_both_commands_default_to_auto():
    assert train_parser().parse_args([]).device == "auto"
    from ecsdl.classify import build_parser as classify_parser

    assert classify_parser().parse_args(["--model", "m", "a.png"]).device == "auto"


def test_train_says_which_device_ran(tmp_path, capsys):
    prefix = tmp_path / "m" / "mlp"
    argv = ["--epochs", "1", "--output", str(prefix), "--log-every", "1000"]
    assert train_main(argv) == 0
    out = capsys.readouterr().out
    assert "\ntrain: device: cpu\n" in out, out
    assert out.index("train: device: cpu") < out.index("Epoch[0] Train-accuracy=")
    assert (tmp_path / "m" / "mlp-0000.params").exists()


def test_train_on_a_gpu_that_is_not_there_fails_before_training(tmp_path, capsys):
    assert train_main(["--device", "gpu", "--output", str(tmp_path / "m" / "mlp")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"train: {NO_GPU}"), captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "Epoch[" not in captured.out
    assert not (tmp_path / "m").exists()


def test_classify_says_the_device_with_timing(tiny_imagenet_model, images, capsys):
    out = io.StringIO()
    argv = ["--model", tiny_imagenet_model, "--json", "--timing", images["red"]]
    assert classify_main(argv, out=out) == 0
    err = capsys.readouterr().err
    assert err.startswith("classify: device: cpu; model loaded in "), err
    # the JSON lines are as without --device
    assert out.getvalue().count("\n") == 1


def test_classify_on_a_gpu_that_is_not_there_is_one_line(tiny_imagenet_model, images, capsys):
    out = io.StringIO()
    argv = ["--model", tiny_imagenet_model, "--device", "gpu", images["red"]]
    assert classify_main(argv, out=out) == EXIT_MODEL_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"classify: {NO_GPU}") and len(err.strip().splitlines()) == 1, err
    assert out.getvalue() == ""
