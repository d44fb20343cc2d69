from __future__ import annotations

import gzip
import io
import struct

import numpy as np
import pytest

from ecsdl.classify import main as classify_main
from ecsdl.datasets import DatasetError, load_digits, load_mnist, parse_idx
from ecsdl.train import build_parser, main, save_checkpoint, train_model


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


def test_mnist_from_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    for name, array in {
        "train-images-idx3-ubyte.gz": rng.integers(0, 255, (20, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 20),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 255, (5, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5),
    }.items():
        (tmp_path / name).write_bytes(_idx(array))
    data = load_mnist(str(tmp_path))
    assert data.input_shape == (1, 28, 28) and len(data.val_y) == 5


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
