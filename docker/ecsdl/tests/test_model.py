from __future__ import annotations

import numpy as np
import pytest

from ecsdl.model import ModelError, as_probabilities, input_spec, load_model


def _symbol(attrs=None):
    node = {"op": "null", "name": "data", "inputs": []}
    if attrs:
        node["attrs"] = attrs
    return {"nodes": [node]}


@pytest.mark.parametrize(
    ("attrs", "prefix", "size", "expected"),
    [
        (None, "/m/mobilenet_v1_0.5_160", None, (3, 160, 160, 0.875)),
        (None, "s3://b/models/mobilenet_v1_0.25_128", None, (3, 128, 128, 0.875)),
        (None, "/m/resnet", None, (3, 224, 224, 0.875)),
        (None, "/m/mobilenet_v1_0.5_160", 192, (3, 192, 192, 0.875)),
        ({"__shape__": "(1, 3, 299, 299)"}, "/m/x", None, (3, 299, 299, 0.875)),
        ({"ecsdl_input_shape": "(1, 8, 8)", "ecsdl_crop": "1.0"}, "/m/x_160", None, (1, 8, 8, 1.0)),
    ],
)
def test_input_spec(attrs, prefix, size, expected):
    spec = input_spec(_symbol(attrs), prefix, size)
    assert (spec.channels, spec.height, spec.width, spec.crop) == expected


def test_input_spec_needs_a_data_input():
    with pytest.raises(ModelError, match="no input named 'data'"):
        input_spec({"nodes": []}, "/m/x")


def test_as_probabilities_keeps_probabilities_and_softmaxes_logits():
    probs = np.array([[0.2, 0.8], [0.5, 0.5]])
    assert as_probabilities(probs) is probs
    logits = np.array([[1.0, -3.0], [0.0, 0.0]])
    out = as_probabilities(logits)
    assert np.allclose(out.sum(axis=1), 1.0) and out[0, 0] > out[0, 1]


def test_load_model_casts_float16_params(tiny_imagenet_model):
    model = load_model(tiny_imagenet_model)
    assert (model.spec.height, model.spec.width) == (32, 32)
    assert len(model.labels) == 1000
    probs = model.predict(np.full((2, 3, 32, 32), 128, np.float32))
    assert probs.shape == (2, 1000) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("missing", "model: {prefix}-symbol.json: no such file"),
    ],
)
def test_load_model_missing_files_say_which(tmp_path, suffix, message):
    prefix = str(tmp_path / suffix)
    with pytest.raises(ModelError) as info:
        load_model(prefix)
    assert str(info.value) == message.format(prefix=prefix)


def test_load_model_missing_labels(tiny_imagenet_model, tmp_path):
    with pytest.raises(ModelError, match="labels: .*nope.txt: no such file"):
        load_model(tiny_imagenet_model, labels_uri=str(tmp_path / "nope.txt"))
