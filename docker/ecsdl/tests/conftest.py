"""Fixtures for the ecsdl tests (run inside the image's test stage: MXNet is there)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from imagenet_labels import imagenet_like_labels
from PIL import Image


def _tiny_model(folder: Path, name: str, background: bool) -> str:
    """A checkpoint (global pooling + dense + softmax) whose weights favour the cat classes for
    reddish images and 'class 0' for bluish ones; float16-stored params, like the shared
    mobilenet_v1_0.5_160, so the cast path is exercised. Returns its prefix."""
    import mxnet as mx

    labels = imagenet_like_labels(background)
    prefix = str(folder / name)
    data = mx.sym.var("data")
    pooled = mx.sym.Pooling(data, kernel=(1, 1), global_pool=True, pool_type="avg", name="pool")
    flat = mx.sym.Flatten(pooled * (1.0 / 255.0), name="flat")
    fc = mx.sym.FullyConnected(flat, num_hidden=len(labels), name="fc")
    prob = mx.sym.softmax(fc * 20.0, axis=-1, name="prob")
    prob.save(f"{prefix}-symbol.json")
    weight = np.zeros((len(labels), 3), np.float32)
    offset = 1 if background else 0
    weight[281 + offset : 286 + offset, 0] = 1.0  # red -> cats
    weight[offset, 2] = 1.0  # blue -> class 0
    params = {
        "arg:fc_weight": mx.nd.array(weight).astype("float16"),
        "arg:fc_bias": mx.nd.zeros((len(labels),)).astype("float16"),
    }
    mx.nd.save(f"{prefix}-0000.params", params)
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    return prefix


@pytest.fixture(scope="session")
def tiny_imagenet_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 1000-class checkpoint (see _tiny_model), cats at 281..285. Returns its prefix."""
    return _tiny_model(tmp_path_factory.mktemp("model"), "tiny_32", background=False)


@pytest.fixture(scope="session")
def tiny_1001_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same with 1001 classes, `background` first (as TFLite's ImageNet models): cats at
    282..286. Returns its prefix."""
    return _tiny_model(tmp_path_factory.mktemp("model1001"), "tiny_32", background=True)


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A red PNG (a 'cat' for the tiny model), a blue JPEG, a non-image and a missing path."""
    folder = tmp_path_factory.mktemp("images")
    red = folder / "red.png"
    Image.new("RGB", (64, 48), (250, 10, 10)).save(red)
    blue = folder / "blue.jpg"
    Image.new("RGB", (40, 60), (10, 10, 250)).save(blue)
    bad = folder / "bad.jpg"
    bad.write_text("this is not a JPEG")
    return {"red": str(red), "blue": str(blue), "bad": str(bad), "missing": str(folder / "no.png")}


def read_json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def json_lines():
    return read_json_lines


@pytest.fixture
def write_png(tmp_path: Path):
    def write(name: str, array: np.ndarray) -> str:
        path = tmp_path / name
        Image.fromarray(array).save(path)
        return str(path)

    return write
