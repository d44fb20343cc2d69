from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from bombs import blank_png
from botocore.exceptions import ClientError
from imagenet_labels import CAT_LABEL_LINES, imagenet_like_labels

from ecsdl.classify import (
    EXIT_IMAGE_ERROR,
    EXIT_MODEL_ERROR,
    EXIT_OK,
    EXIT_OUTPUT_ERROR,
    EXIT_USAGE,
    Result,
    build_parser,
    cat_classes,
    cat_probability,
    main,
    top_k,
    verdict_uri,
    write_results,
)
from ecsdl.sources import SourceError


@pytest.mark.parametrize(
    ("background", "expected"),
    [(False, [281, 282, 283, 284, 285]), (True, [282, 283, 284, 285, 286])],
    ids=["1000-classes", "1001-classes-background-first"],
)
def test_cat_classes_are_found_by_label(background, expected):
    assert cat_classes(imagenet_like_labels(background)) == expected


@pytest.mark.parametrize(
    ("label", "is_cat"),
    [
        ("tabby, tabby cat", True),
        ("tabby", True),
        ("Tiger Cat", True),
        ("Siamese cat, Siamese", True),
        (" Egyptian cat ", True),
        ("tiger, Panthera tigris", False),
        ("tiger shark, Galeocerdo cuvieri", False),
        ("cougar, puma, catamount", False),
        ("a tabby", False),
    ],
)
def test_cat_classes_match_the_first_name_of_a_label(label, is_cat):
    assert cat_classes(["background", label]) == ([1] if is_cat else [])


def test_cat_classes_are_empty_for_a_model_without_cat_labels():
    assert cat_classes([str(digit) for digit in range(10)]) == []


def test_cat_probability_sums_the_cat_classes():
    probs = np.zeros((2, 1000))
    probs[0, 281:286] = [0.1, 0.2, 0.05, 0.05, 0.1]
    probs[0, 0] = 0.5
    probs[1, 280] = 0.6  # grey fox
    probs[1, 286] = 0.4  # cougar
    classes = cat_classes(imagenet_like_labels())
    assert cat_probability(probs, classes) == pytest.approx([0.5, 0.0])


def test_cat_probability_is_zero_without_cat_classes():
    assert cat_probability(np.full((1, 10), 0.1), []).tolist() == [0.0]


def test_a_1001_class_model_finds_its_cats(tiny_1001_model, images, json_lines, capsys):
    argv = ["--model", tiny_1001_model, "--json", images["red"], images["blue"]]
    code, out, err = run(argv, capsys)
    assert code == EXIT_OK, err
    red, blue = json_lines(out)
    assert red["is_cat"] is True and red["cat_probability"] > 0.9
    assert {entry["label"] for entry in red["top"]} == set(CAT_LABEL_LINES)
    assert blue["is_cat"] is False and blue["top"][0]["label"] == "class 0"


def test_top_k_is_sorted():
    labels = ["a", "b", "c"]
    assert top_k(np.array([0.2, 0.5, 0.3]), labels, 2) == [
        {"label": "b", "probability": 0.5},
        {"label": "c", "probability": 0.3},
    ]


def run(argv, capsys):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue(), capsys.readouterr().err


def test_json_contract(tiny_imagenet_model, images, json_lines, capsys):
    argv = ["--model", tiny_imagenet_model, "--json", "--top", "3", images["red"], images["blue"]]
    code, out, err = run(argv, capsys)
    assert code == EXIT_OK, err
    lines = json_lines(out)
    assert [line["image"] for line in lines] == [images["red"], images["blue"]]
    for line in lines:
        assert set(line) == {"image", "is_cat", "cat_probability", "top"}
        assert isinstance(line["is_cat"], bool)
        assert isinstance(line["cat_probability"], float)
        assert 0.0 <= line["cat_probability"] <= 1.0
        assert len(line["top"]) == 3
        for entry in line["top"]:
            assert set(entry) == {"label", "probability"}
            assert isinstance(entry["label"], str) and isinstance(entry["probability"], float)
        probabilities = [entry["probability"] for entry in line["top"]]
        assert probabilities == sorted(probabilities, reverse=True)
    assert lines[0]["is_cat"] is True and lines[1]["is_cat"] is False


def test_threshold_decides_is_cat(tiny_imagenet_model, images, json_lines, capsys):
    code, out, _ = run(["--model", tiny_imagenet_model, "--json", images["red"]], capsys)
    probability = json_lines(out)[0]["cat_probability"]
    above = min(1.0, probability + 0.01)
    code, out, _ = run(
        ["--model", tiny_imagenet_model, "--json", "--threshold", str(above), images["red"]],
        capsys,
    )
    assert code == EXIT_OK and json_lines(out)[0]["is_cat"] is False


def test_text_output_is_one_line_per_image(tiny_imagenet_model, images, capsys):
    code, out, _ = run(["--model", tiny_imagenet_model, images["red"], images["blue"]], capsys)
    assert code == EXIT_OK
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{images['red']}: CAT (cat probability ")
    assert lines[1].startswith(f"{images['blue']}: no cat (cat probability ")


def test_bad_images_fail_one_line_each_and_the_good_one_is_reported(
    tiny_imagenet_model, images, json_lines, capsys
):
    argv = [
        "--model",
        tiny_imagenet_model,
        "--json",
        images["bad"],
        images["red"],
        images["missing"],
    ]
    code, out, err = run(argv, capsys)
    assert code == EXIT_IMAGE_ERROR
    assert [line["image"] for line in json_lines(out)] == [images["red"]]
    assert err.splitlines() == [
        f"classify: {images['bad']}: cannot decode (not an image Pillow can read)",
        f"classify: {images['missing']}: no such file",
    ]


@pytest.mark.parametrize(("width", "height"), [(20_000, 20_000), (12_000, 12_000)])
def test_a_decompression_bomb_is_one_line_and_the_good_picture_is_reported(
    tiny_imagenet_model, images, json_lines, tmp_path, capsys, width, height
):
    """A few hundred KB of PNG that would decode to 144-400 MB (and 3x that as RGB): refused
    from its header, one line, while the other picture is classified."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(blank_png(width, height))
    code, out, err = run(
        ["--model", tiny_imagenet_model, "--json", str(bomb), images["red"]], capsys
    )
    assert code == EXIT_IMAGE_ERROR
    assert [line["image"] for line in json_lines(out)] == [images["red"]]
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"classify: {bomb}: {width * height:,} pixels"), err
    assert err.rstrip().endswith("allowed (ECSDL_MAX_IMAGE_PIXELS); refused before decoding"), err


def test_a_picture_over_the_byte_limit_is_one_line(
    tiny_imagenet_model, images, capsys, monkeypatch
):
    """classify reads pictures within their own limits (ECSDL_MAX_IMAGE_BYTES), not a model's."""
    monkeypatch.setenv("ECSDL_MAX_IMAGE_BYTES", "100")
    size = Path(images["red"]).stat().st_size
    code, out, err = run(["--model", tiny_imagenet_model, images["red"]], capsys)
    assert code == EXIT_IMAGE_ERROR and out == ""
    assert err == (
        f"classify: {images['red']}: {size:,} bytes, more than the 100 bytes allowed "
        "(ECSDL_MAX_IMAGE_BYTES); refused\n"
    )


def test_unreachable_url_is_one_line(tiny_imagenet_model, images, capsys):
    url = "http://127.0.0.1:9/cat.jpg"
    code, out, err = run(["--model", tiny_imagenet_model, url, images["red"]], capsys)
    assert code == EXIT_IMAGE_ERROR
    assert len(out.splitlines()) == 1
    assert err.startswith(f"classify: {url}: cannot fetch (") and len(err.splitlines()) == 1


def test_missing_model_is_one_line(tmp_path, images, capsys):
    prefix = str(tmp_path / "nothing")
    code, out, err = run(["--model", prefix, images["red"]], capsys)
    assert code == EXIT_MODEL_ERROR and out == ""
    assert err == f"classify: model: {prefix}-symbol.json: no such file\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "m"], "the following arguments are required: IMAGE"),
        (["x.jpg"], "the following arguments are required: --model"),
        (["--model", "m", "--top", "0", "x.jpg"], "argument --top: must be at least 1"),
        (["--model", "m", "--threshold", "1.5", "x.jpg"], "must be between 0 and 1"),
        (["--model", "m", "--threshold", "cat", "x.jpg"], "not a number"),
        (["--model", "m", "--output", "https://h/r.json", "x.jpg"], "cannot write to an http"),
        (["--model", "m", "--output", "s3://bucket", "x.jpg"], "names no object"),
        (["--model", "m", "--output", "s3://bucket/prefix/", "x.jpg"], "names no object"),
        (["--model", "m", "--output", "", "x.jpg"], "give a local path or s3://bucket/key"),
        (["--model", "m", "--verdicts", "s3://bucket/verdicts", "x.jpg"], "ending with /"),
        (["--model", "m", "--verdicts", "https://h/v/", "x.jpg"], "cannot write to an http"),
    ],
)
def test_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_parser_defaults():
    args = build_parser().parse_args(["--model", "s3://b/m/x", "a.jpg", "https://h/b.png"])
    assert (args.top, args.threshold, args.json, args.labels) == (5, 0.5, False, None)
    assert args.images == ["a.jpg", "https://h/b.png"]


def test_help_explains_every_option():
    text = build_parser().format_help()
    for option in (
        "--model",
        "--labels",
        "--top",
        "--json",
        "--output",
        "--threshold",
        "--input-size",
        "--verdicts",
    ):
        assert option in text
    assert "4 the results could not be written to --output" in " ".join(text.split())


@pytest.mark.parametrize("stdout_json", [True, False], ids=["json", "text"])
def test_output_file_holds_the_json_lines(
    tiny_imagenet_model, images, json_lines, tmp_path, capsys, stdout_json
):
    target = tmp_path / "new" / "folder" / "results.json"
    flags = ["--json"] if stdout_json else []
    argv = ["--model", tiny_imagenet_model, *flags, "--output", str(target)]
    code, out, err = run([*argv, images["red"], images["blue"]], capsys)
    assert code == EXIT_OK and err == ""
    written = target.read_text()
    if stdout_json:
        assert written == out  # byte for byte what --json prints
    else:
        assert out.splitlines()[0].startswith(f"{images['red']}: CAT")
    lines = json_lines(written)
    assert [(line["image"], line["is_cat"]) for line in lines] == [
        (images["red"], True),
        (images["blue"], False),
    ]
    assert all(set(line) == {"image", "is_cat", "cat_probability", "top"} for line in lines)


@pytest.mark.parametrize(
    ("names", "expected"),
    [(["bad", "red", "missing"], ["red"]), (["bad", "missing"], [])],
    ids=["some-unreadable", "all-unreadable"],
)
def test_output_is_written_when_images_are_unreadable(
    tiny_imagenet_model, images, json_lines, tmp_path, capsys, names, expected
):
    target = tmp_path / "results.json"
    target.write_text("stale\n")  # replaced, not appended to
    argv = ["--model", tiny_imagenet_model, "--output", str(target)]
    code, _, err = run([*argv, *(images[n] for n in names)], capsys)
    assert code == EXIT_IMAGE_ERROR
    assert [line["image"] for line in json_lines(target.read_text())] == [
        images[n] for n in expected
    ]
    assert len(err.splitlines()) == 2  # one line per unreadable image, as without --output


def test_output_not_written_without_a_model(tmp_path, images, capsys):
    target = tmp_path / "results.json"
    argv = ["--model", str(tmp_path / "nothing"), "--output", str(target), images["red"]]
    code, _, _ = run(argv, capsys)
    assert code == EXIT_MODEL_ERROR and not target.exists()


def test_unwritable_output_exits_4_with_one_line(tiny_imagenet_model, images, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "results.json"  # its parent is a file: cannot be created
    argv = ["--model", tiny_imagenet_model, "--json", "--output", str(target), images["red"]]
    code, out, err = run(argv, capsys)
    assert code == EXIT_OUTPUT_ERROR == 4
    assert len(out.splitlines()) == 1, "stdout still has the results"
    assert err.startswith(f"classify: results not written: {target}: cannot write (")
    assert len(err.splitlines()) == 1


def test_output_error_wins_over_image_errors(tiny_imagenet_model, images, tmp_path, capsys):
    argv = ["--model", tiny_imagenet_model, "--output", str(tmp_path), images["missing"]]
    code, _, err = run(argv, capsys)  # tmp_path is a folder: cannot be written as a file
    assert code == EXIT_OUTPUT_ERROR
    assert err.splitlines()[-1].startswith(f"classify: results not written: {tmp_path}: ")


class StubS3:
    """Stands for boto3's S3 client: records put_object calls, or fails them with `error`."""

    def __init__(self, error: str | None = None) -> None:
        self.error = error
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> dict:  # noqa: N803
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "x"}}, "PutObject")
        self.objects[(Bucket, Key)] = Body
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


RESULTS = [
    Result("s3://in/cat.jpg", True, 0.93, [{"label": "tabby", "probability": 0.5}]),
    Result("s3://in/mug.png", False, 0.01, [{"label": "cup", "probability": 0.7}]),
]


def test_write_results_round_trip_through_s3(json_lines):
    s3 = StubS3()
    write_results("s3://results-bucket/runs/1/results.json", RESULTS, client=s3)
    assert list(s3.objects) == [("results-bucket", "runs/1/results.json")]
    body = s3.get_object(Bucket="results-bucket", Key="runs/1/results.json")["Body"].read()
    assert json_lines(body.decode()) == [result.as_dict() for result in RESULTS]
    assert body.endswith(b"\n") and body.count(b"\n") == len(RESULTS)


def test_write_results_s3_failure_is_one_line():
    with pytest.raises(SourceError) as info:
        write_results("s3://no-such-bucket/r.json", RESULTS, client=StubS3("NoSuchBucket"))
    assert str(info.value) == "s3://no-such-bucket/r.json: cannot write to S3 (NoSuchBucket)"


def test_verdicts_one_object_per_image_with_the_model_an_unreadable_one_says_why(
    tiny_imagenet_model, images, tmp_path, capsys
):
    folder = tmp_path / "verdicts"
    argv = ["--model", tiny_imagenet_model, "--verdicts", str(folder)]
    code, _, err = run([*argv, images["red"], images["bad"], images["blue"]], capsys)
    assert code == EXIT_OK  # the unreadable picture has its verdict: an answer, not a failure
    assert len(err.splitlines()) == 1  # and is still said on stderr
    params = Path(f"{tiny_imagenet_model}-0000.params").read_bytes()
    model = {"model": "tiny_32", "model_sha256": hashlib.sha256(params).hexdigest()}
    red = json.loads((folder / "red.png.json").read_text())
    assert (red["image"], red["is_cat"], red["model"], red["model_sha256"]) == (
        images["red"],
        True,
        *model.values(),
    )
    assert json.loads((folder / "blue.jpg.json").read_text())["is_cat"] is False
    bad = json.loads((folder / "bad.jpg.json").read_text())
    assert set(bad) == {"image", "error", "model", "model_sha256"}
    assert bad["image"] == images["bad"] and bad["error"] and bad["model"] == "tiny_32"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("s3://in/uploads/a b/cat.png", "s3://out/verdicts/uploads/a b/cat.png.json"),
        ("https://example.org/pics/cat.jpg?x=1", "s3://out/verdicts/pics/cat.jpg.json"),
        ("/data/cat.jpg", "s3://out/verdicts/cat.jpg.json"),
    ],
)
def test_a_verdict_goes_under_the_prefix_by_the_images_key(image, expected):
    assert verdict_uri("s3://out/verdicts/", image) == expected


def test_a_verdict_that_cannot_be_written_exits_4(tiny_imagenet_model, images, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    argv = ["--model", tiny_imagenet_model, "--verdicts", str(blocker / "v"), images["red"]]
    code, _, err = run(argv, capsys)
    assert code == EXIT_OUTPUT_ERROR
    assert err.startswith("classify: verdict not written: ")
