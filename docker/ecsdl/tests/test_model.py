from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecsdl.model import (
    CHECKSUMS,
    ModelError,
    as_probabilities,
    checksums_text,
    input_spec,
    load_model,
    parse_checksums,
)


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


@pytest.fixture
def model_copy(tiny_imagenet_model, tmp_path):
    """A copy of the tiny checkpoint in its own folder (to add a SHA256SUMS to): its prefix."""
    source = Path(tiny_imagenet_model)
    for path in source.parent.iterdir():
        shutil.copyfile(path, tmp_path / path.name)
    return str(tmp_path / source.name)


def _files(prefix: str) -> dict[str, bytes]:
    folder, name = Path(prefix).parent, Path(prefix).name
    names = [f"{name}-symbol.json", f"{name}-0000.params", "labels.txt"]
    return {n: (folder / n).read_bytes() for n in names}


def test_checksums_text_is_sha256sum_format():
    text = checksums_text({"a.txt": b"abc", "b.bin": b""})
    assert text == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.txt\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b.bin\n"
    )
    assert parse_checksums(text + "\n", "SUMS") == {
        "a.txt": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "b.bin": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }


def test_load_model_checks_a_matching_sha256sums(model_copy):
    sums = Path(model_copy).parent / CHECKSUMS
    sums.write_text(checksums_text(_files(model_copy)))
    assert len(load_model(model_copy).labels) == 1000


@pytest.mark.parametrize("which", ["symbol", "params", "labels"])
def test_load_model_names_the_file_that_does_not_match(model_copy, which):
    files = _files(model_copy)
    name = next(n for n in files if which in n)
    files[name] = b"something else"  # SHA256SUMS lists another content
    (Path(model_copy).parent / CHECKSUMS).write_text(checksums_text(files))
    with pytest.raises(ModelError) as info:
        load_model(model_copy)
    message = str(info.value)
    assert message.startswith(f"model: {Path(model_copy).parent / name}: sha256 mismatch: ")
    assert hashlib.sha256(b"something else").hexdigest() in message
    assert "\n" not in message


def test_load_model_refuses_a_file_missing_from_sha256sums(model_copy):
    files = _files(model_copy)
    del files["labels.txt"]
    (Path(model_copy).parent / CHECKSUMS).write_text(checksums_text(files))
    with pytest.raises(ModelError, match=r"labels.txt: not listed in .*SHA256SUMS$"):
        load_model(model_copy)


def test_load_model_does_not_check_labels_from_another_folder(model_copy, tmp_path_factory):
    files = _files(model_copy)
    elsewhere = tmp_path_factory.mktemp("labels") / "labels.txt"
    elsewhere.write_bytes(files.pop("labels.txt"))
    (Path(model_copy).parent / CHECKSUMS).write_text(checksums_text(files))
    assert len(load_model(model_copy, labels_uri=str(elsewhere)).labels) == 1000


def test_load_model_refuses_a_malformed_sha256sums(model_copy):
    (Path(model_copy).parent / CHECKSUMS).write_text("not a checksum line\n")
    with pytest.raises(ModelError, match=r"SHA256SUMS: line 1 is not '<sha256>  <file name>'"):
        load_model(model_copy)


def test_load_model_without_sha256sums_loads_unchecked(model_copy):
    assert not (Path(model_copy).parent / CHECKSUMS).exists()
    assert len(load_model(model_copy).labels) == 1000


def test_probabilities_output_is_used_as_it_is(tmp_path):
    """A data node with ecsdl_output=probabilities (import-tflite's models): rows that do not sum
    to exactly 1 (quantized probabilities) are not softmaxed again."""
    import mxnet as mx

    prefix = str(tmp_path / "quantized")
    data = mx.sym.var(
        "data", attr={"ecsdl_input_shape": "(1, 3, 4, 4)", "ecsdl_output": "probabilities"}
    )
    pooled = mx.sym.Pooling(data, kernel=(1, 1), global_pool=True, pool_type="avg")
    out = mx.sym.FullyConnected(mx.sym.Flatten(pooled), num_hidden=3, name="fc")
    out.save(f"{prefix}-symbol.json")
    weight = np.zeros((3, 3), np.float32)
    bias = np.array([0.5, 0.25, 0.2421875], np.float32)  # sums to 0.9921875
    mx.nd.save(
        f"{prefix}-0000.params",
        {"arg:fc_weight": mx.nd.array(weight), "arg:fc_bias": mx.nd.array(bias)},
    )
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    model = load_model(prefix)
    assert model.spec.probabilities and (model.spec.height, model.spec.width) == (4, 4)
    assert model.predict(np.zeros((1, 3, 4, 4), np.float32)).tolist() == [bias.tolist()]
