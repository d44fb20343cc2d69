"""`ecsdl import-tflite`: synthetic quantized TFLite models (tflite_models.py) converted to MXNet
and compared with the numpy reference of the runtime's uint8 arithmetic, op by op and as a small
classifier; the command's files, checksums and one-line errors."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import tflite_models as tm
from botocore.exceptions import ClientError
from imagenet_labels import CAT_LABEL_LINES, imagenet_like_labels

from ecsdl import cli
from ecsdl.classify import cat_classes, classify_images
from ecsdl.model import CHECKSUMS, ModelError, load_model
from ecsdl.tflite_import import (
    EXIT_CONVERSION,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_SOURCE,
    EXIT_USAGE,
    IMPORTER_VERSION,
    ConversionError,
    activation_range,
    convert,
    main,
    metadata_labels,
    same_padding,
)


def run_converted(model: tm.TFLiteModel, x: np.ndarray) -> np.ndarray:
    """The converted graph's output for uint8 NHWC inputs `x` (one row per image)."""
    import mxnet as mx

    converted = convert(model.to_bytes(), "model.tflite")
    args = {name: mx.nd.array(value) for name, value in converted.params.items()}
    nchw = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x
    args["data"] = mx.nd.array(nchw.astype(np.float32))
    executor = converted.symbol.bind(mx.cpu(), args)
    return executor.forward()[0].asnumpy()


def reference(model: tm.TFLiteModel, x: np.ndarray) -> np.ndarray:
    """The numpy reference's dequantized output, one row per image of `x`."""
    rows = [model.dequantize(model.run(image[np.newaxis])).reshape(-1) for image in x]
    return np.stack(rows)


def random_images(model: tm.TFLiteModel, n: int = 2) -> np.ndarray:
    shape = model.shape(model.inputs[0])
    return model.rng.integers(0, 256, (n, *shape[1:])).astype(np.uint8)


@pytest.mark.parametrize("name", list(tm.CASES))
def test_each_operator_gives_the_runtimes_uint8_values(name):
    """Each case of tflite_models.CASES (the runtime gives the reference's values exactly:
    tests/unit/test_tflite_reference.py): the converted model must give them too (softmax:
    within one step of 1/256, float32 exp against float64)."""
    model = tm.case(name)
    x = random_images(model, 3)  # a batch: TFLite's models say batch 1, MXNet takes any
    got, want = run_converted(model, x), reference(model, x)
    scale = model.tensors[model.outputs[0]].scale
    assert got.shape == want.shape
    steps = np.abs(got - want) / scale
    if name == "softmax":
        assert steps.max() <= 1 + 1e-3
    else:
        assert steps.max() < 1e-3, f"{np.mean(steps > 0.5):.3%} of the values differ"
    assert len(np.unique(want)) > 3, "the case should not saturate"


def test_relu6_clips_at_six():
    model = tm.case("depthwise-relu6-clips")
    x = random_images(model, 2)
    got = run_converted(model, x)
    assert got.max() == pytest.approx(6.0) and got.min() == 0.0
    assert np.mean(np.isclose(got, 6.0)) > 0.05, "RELU6 should cut some values"
    np.testing.assert_allclose(got, reference(model, x), atol=1e-6)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        (224, 3, 2, (112, 0, 1)),  # MobileNet's first conv: the odd one at the bottom/right
        (112, 3, 1, (112, 1, 1)),
        (7, 3, 2, (4, 1, 1)),
        (8, 1, 2, (4, 0, 0)),
        (5, 4, 1, (5, 1, 2)),
    ],
)
def test_same_padding_puts_the_odd_one_after(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize(
    ("activation", "scale", "zero_point", "expected"),
    [
        (tm.NONE, 0.1, 128, (0, 255)),
        (tm.RELU, 0.1, 128, (128, 255)),
        (tm.RELU6, 0.02352848, 0, (0, 255)),  # MobileNet v2's: 6 / scale = 255.0
        (tm.RELU6, 0.05, 0, (0, 120)),
        (tm.RELU6, 0.05, 200, (200, 255)),
        (tm.RELU_N1_TO_1, 0.01, 128, (28, 228)),
    ],
)
def test_activation_range(activation, scale, zero_point, expected):
    assert activation_range(activation, scale, zero_point) == expected


# --- a small classifier, through the command --------------------------------------------------


@pytest.fixture
def tflite_file(tmp_path: Path):
    def write(model: tm.TFLiteModel, labels: list[str] | None = None, name="model.tflite") -> str:
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(model.to_bytes(labels))
        return str(path)

    return write


def run_main(argv, capsys):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue(), capsys.readouterr().err


def test_import_writes_the_checkpoint_its_checksums_and_record(tflite_file, tmp_path, capsys):
    labels = imagenet_like_labels(background=True)
    source = tflite_file(tm.tiny_classifier(), labels)
    prefix = str(tmp_path / "out" / "tiny" / "tiny")
    code, out, err = run_main([source, prefix], capsys)
    assert code == EXIT_OK, err
    assert re.fullmatch(
        rf"import-tflite: {re.escape(prefix)}: 8 ops, 1001 classes, input 16x16x3, \d+\.\d s\n",
        out,
    ), out
    folder = tmp_path / "out" / "tiny"
    names = ["tiny-symbol.json", "tiny-0000.params", "labels.txt", "tiny-import.json"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*names, CHECKSUMS])
    sums = (folder / CHECKSUMS).read_text().splitlines()
    assert sums == [f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}" for n in names]
    assert (folder / "labels.txt").read_text().splitlines() == labels
    record = json.loads((folder / "tiny-import.json").read_text())
    assert record["source_sha256"] == hashlib.sha256(Path(source).read_bytes()).hexdigest()
    assert record["importer_version"] == IMPORTER_VERSION
    assert record["operators"] == {
        "CONV_2D": 3,
        "DEPTHWISE_CONV_2D": 1,
        "ADD": 1,
        "AVERAGE_POOL_2D": 1,
        "RESHAPE": 1,
        "SOFTMAX": 1,
    }
    symbol = json.loads((folder / "tiny-symbol.json").read_text())
    data = next(n for n in symbol["nodes"] if n["name"] == "data")
    assert data["attrs"]["ecsdl_input_shape"] == "(1, 3, 16, 16)"
    assert data["attrs"]["ecsdl_crop"] == "0.875"
    assert data["attrs"]["ecsdl_output"] == "probabilities"


def test_the_imported_model_loads_and_gives_the_reference_probabilities(tflite_file, tmp_path):
    model = tm.tiny_classifier()
    source = tflite_file(model, imagenet_like_labels(background=True))
    prefix = str(tmp_path / "m" / "tiny")
    assert main([source, prefix]) == EXIT_OK
    loaded = load_model(prefix)  # checks SHA256SUMS
    assert (loaded.spec.channels, loaded.spec.height, loaded.spec.crop) == (3, 16, 0.875)
    assert loaded.spec.probabilities
    x = random_images(model, 4)
    got = loaded.predict(x.transpose(0, 3, 1, 2).astype(np.float32))
    want = reference(model, x)
    assert np.abs(got - want).max() <= 1 / 256 + 1e-6
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all() or np.allclose(
        got.max(axis=1), want.max(axis=1)
    )  # a tie may go either way
    assert np.all(got * 256 == np.round(got * 256)), "probabilities are multiples of 1/256"


def test_classify_sums_the_imported_models_cat_classes(tflite_file, tmp_path, images):
    labels = imagenet_like_labels(background=True)
    prefix = str(tmp_path / "m" / "tiny")
    assert main([tflite_file(tm.tiny_classifier(), labels), prefix]) == EXIT_OK
    model = load_model(prefix)
    assert cat_classes(model.labels) == [282, 283, 284, 285, 286]
    results, errors = classify_images(model, [images["red"]], top=1001)
    assert errors == []
    by_label = {entry["label"]: entry["probability"] for entry in results[0].top}
    expected = sum(by_label[label] for label in CAT_LABEL_LINES)
    assert results[0].cat_probability == pytest.approx(expected, abs=1e-5)


def test_labels_may_be_given(tflite_file, tmp_path, capsys):
    labels_file = tmp_path / "names.txt"
    labels_file.write_text("\n".join(f"thing {i}" for i in range(10)) + "\n")
    source = tflite_file(tm.tiny_classifier(classes=10))  # no labels inside
    prefix = str(tmp_path / "m" / "ten")
    code, _, err = run_main([source, prefix, "--labels", str(labels_file)], capsys)
    assert code == EXIT_OK, err
    assert (tmp_path / "m" / "labels.txt").read_text() == labels_file.read_text()


def test_metadata_labels_come_from_the_appended_zip():
    data = tm.tiny_classifier(classes=3).to_bytes(
        ["a", "b", "c"], labels_name="imagenet_labels.txt"
    )
    assert metadata_labels(data) == ["a", "b", "c"]
    assert metadata_labels(tm.tiny_classifier(classes=3).to_bytes()) is None


def tanh_conv(m):
    x = m.input((1, 6, 6, 3))
    out = m.conv(x, 4)
    m.ops[-1].options["FusedActivationFunction"] = 4  # TANH
    return out


def per_axis(m):
    out = m.conv(m.input((1, 6, 6, 3)), 4)
    m.tensors[m.ops[-1].inputs[1]].scale = [0.02, 0.03, 0.04, 0.05]
    m.tensors[m.ops[-1].inputs[1]].zero_point = [0, 0, 0, 0]
    return out


def float_input(m):
    x = m.tensor((1, 6, 6, 3), type=tm.FLOAT32, name="image")
    m.inputs.append(x)
    out = m.tensor((1, 108), 0.1, 0)
    m.ops.append(tm.Op(tm.RESHAPE, [x], [out], {"NewShape": [1, 108]}))
    return out


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda m: m.mul(m.conv(m.input((1, 6, 6, 3)), 4), m.weights((1, 6, 6, 4))),
            "model.tflite: unsupported TFLite operator MUL (builtin 18) at op 1",
        ),
        (
            lambda m: m.custom(m.input((1, 6, 6, 3)), "TFLite_Detection_PostProcess"),
            "model.tflite: unsupported TFLite operator CUSTOM 'TFLite_Detection_PostProcess' "
            "(custom) at op 0",
        ),
        (
            tanh_conv,
            "model.tflite: unsupported fused activation TANH at op 0 (CONV_2D)",
        ),
        (
            per_axis,
            "model.tflite: per-axis quantization (4 scales) of tensor 'w1' is not supported "
            "(only per-tensor quantized uint8 models are) at op 0 (CONV_2D)",
        ),
        (
            float_input,
            "model.tflite: the input 'image' is FLOAT32 [1, 6, 6, 3]; only a quantized uint8 "
            "input of batch 1 converts",
        ),
        (
            lambda m: m.softmax(m.input((1, 10))),
            "model.tflite: the input is [1, 10]; only an image classifier (input 1 x H x W x "
            "1|3) converts to a checkpoint classify loads",
        ),
    ],
    ids=[
        "unknown-operator",
        "custom-operator",
        "fused-tanh",
        "per-axis",
        "float-input",
        "no-image",
    ],
)
def test_what_does_not_convert_is_one_line_naming_it(build, message, tflite_file, tmp_path, capsys):
    model = tm.TFLiteModel(seed=3)
    model.output(build(model))
    source = tflite_file(model, ["x"])
    code, out, err = run_main([source, str(tmp_path / "m" / "m")], capsys)
    assert (code, out) == (EXIT_CONVERSION, "")
    assert err == f"import-tflite: {message}\n"
    assert not (tmp_path / "m").exists(), "nothing is written"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"this is not a model", "not a TFLite flatbuffer (no TFL3 file identifier)"),
        (b"\xff\xff\xff\x7fTFL3" + bytes(24), "not a valid TFLite flatbuffer ("),
    ],
    ids=["text", "broken-flatbuffer"],
)
def test_not_a_tflite_file_is_one_line(data, message, tmp_path, capsys):
    source = tmp_path / "model.tflite"
    source.write_bytes(data)
    code, _, err = run_main([str(source), str(tmp_path / "m" / "m")], capsys)
    assert code == EXIT_CONVERSION
    assert err.startswith(f"import-tflite: model.tflite: {message}") and err.count("\n") == 1


def test_no_labels_in_the_file_and_none_given(tflite_file, tmp_path, capsys):
    code, _, err = run_main(
        [tflite_file(tm.tiny_classifier(classes=10)), str(tmp_path / "m")], capsys
    )
    assert code == EXIT_CONVERSION
    assert err == (
        "import-tflite: model.tflite: no labels in the file (no TFLite metadata labels .txt); "
        "give --labels\n"
    )


def test_labels_that_do_not_fit_the_classes(tflite_file, tmp_path, capsys):
    source = tflite_file(tm.tiny_classifier(classes=10), ["a", "b"])
    code, _, err = run_main([source, str(tmp_path / "m")], capsys)
    assert code == EXIT_CONVERSION
    assert (
        err == "import-tflite: model.tflite: 10 classes but 2 labels in model.tflite's metadata\n"
    )


def test_missing_source_and_labels_exit_3(tflite_file, tmp_path, capsys):
    missing = str(tmp_path / "nothing.tflite")
    code, _, err = run_main([missing, str(tmp_path / "m")], capsys)
    assert (code, err) == (EXIT_SOURCE, f"import-tflite: {missing}: no such file\n")
    source = tflite_file(tm.tiny_classifier(classes=10))
    labels = str(tmp_path / "no-labels.txt")
    code, _, err = run_main([source, str(tmp_path / "m"), "--labels", labels], capsys)
    assert (code, err) == (EXIT_SOURCE, f"import-tflite: {labels}: no such file\n")


def test_unwritable_prefix_exits_4(tflite_file, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    source = tflite_file(tm.tiny_classifier(), imagenet_like_labels(background=True))
    code, _, err = run_main([source, str(blocker / "m")], capsys)
    assert code == EXIT_OUTPUT
    assert err.startswith(f"import-tflite: not written: {blocker / 'm'}-symbol.json: cannot write")


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("https://host/m", "cannot write to an http(s) URL"),
        ("/models/folder/", "names no checkpoint"),
        ("s3://bucket", "names no object"),
    ],
)
def test_usage_errors_exit_2(prefix, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["model.tflite", prefix])
    assert info.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_help_explains_the_command():
    from ecsdl.tflite_import import build_parser

    text = " ".join(build_parser().format_help().split())
    for part in ("SOURCE", "PREFIX", "--labels", "SHA256SUMS", "import.json", "RELU6"):
        assert part in text
    assert "4 the checkpoint cannot be written" in text


class StubS3:
    """boto3's S3 client for get_object/put_object, NoSuchKey for what is not there."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> dict:  # noqa: N803
        self.objects[(Bucket, Key)] = Body
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "x"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def test_s3_source_and_prefix(monkeypatch, capsys):
    """The ECS task's way: the .tflite in the models bucket, the checkpoint beside it."""
    s3 = StubS3()
    monkeypatch.setattr("ecsdl.sources._s3_client", lambda: s3)
    data = tm.tiny_classifier().to_bytes(imagenet_like_labels(background=True))
    s3.objects[("models", "mobilenet/model.tflite")] = data
    code, out, err = run_main(
        ["s3://models/mobilenet/model.tflite", "s3://models/mobilenet/mobilenet"], capsys
    )
    assert code == EXIT_OK, err
    keys = sorted(key for bucket, key in s3.objects)
    assert keys == [
        "mobilenet/SHA256SUMS",
        "mobilenet/labels.txt",
        "mobilenet/mobilenet-0000.params",
        "mobilenet/mobilenet-import.json",
        "mobilenet/mobilenet-symbol.json",
        "mobilenet/model.tflite",
    ]
    assert len(load_model("s3://models/mobilenet/mobilenet").labels) == 1001
    s3.objects[("models", "mobilenet/labels.txt")] = b"changed\n"
    with pytest.raises(ModelError, match=r"labels.txt: sha256 mismatch"):
        load_model("s3://models/mobilenet/mobilenet")


def test_ecsdl_runs_its_subcommands(tflite_file, tmp_path, capsys):
    source = tflite_file(tm.tiny_classifier(), imagenet_like_labels(background=True))
    assert cli.main(["import-tflite", source, str(tmp_path / "m" / "m")]) == EXIT_OK
    assert "import-tflite: " in capsys.readouterr().out
    for command in ("classify", "train", "import-tflite"):
        with pytest.raises(SystemExit) as info:
            cli.main([command, "--help"])
        assert info.value.code == 0
    with pytest.raises(SystemExit) as info:
        cli.main(["nope"])
    assert info.value.code == 2


def test_conversion_error_is_an_ecsdl_error():
    with pytest.raises(ConversionError):
        convert(b"nothing", "x.tflite")
