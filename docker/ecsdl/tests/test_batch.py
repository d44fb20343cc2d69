"""`classify --parts`: a folder or prefix of pictures through one loaded model, batch by batch,
each batch's JSON lines in a part file, the counts in a summary; shards share the pictures."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from ecsdl import batch
from ecsdl.classify import EXIT_OK, EXIT_OUTPUT_ERROR, EXIT_USAGE, main


def run(argv, capsys):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue(), capsys.readouterr().err


@pytest.fixture
def folder(images, tmp_path) -> Path:
    """red.png (a cat), blue.jpg and, one level down, bad.jpg (not a picture)."""
    root = tmp_path / "pictures"
    (root / "deeper").mkdir(parents=True)
    shutil.copy(images["red"], root / "red.png")
    shutil.copy(images["blue"], root / "blue.jpg")
    shutil.copy(images["bad"], root / "deeper" / "bad.jpg")
    return root


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_folder_in_batches_with_parts_and_a_summary(
    tiny_imagenet_model, folder, tmp_path, capsys
):
    parts = tmp_path / "out"
    argv = ["--model", tiny_imagenet_model, "--parts", str(parts), "--batch-size", "2", "--json"]
    code, out, err = run([*argv, f"{folder}/"], capsys)
    assert code == EXIT_OK, err
    first, second = sorted(parts.glob("part-000-*.jsonl"))
    # name order: blue.jpg, deeper/bad.jpg, red.png
    assert [line["image"] for line in lines_of(first)] == [
        str(folder / "blue.jpg"),
        str(folder / "deeper" / "bad.jpg"),
    ]
    blue, bad = lines_of(first)
    assert blue["is_cat"] is False and set(bad) == {"image", "error"}
    (red,) = lines_of(second)
    assert red["is_cat"] is True
    summary = json.loads((parts / "summary-000.json").read_text())
    assert (summary["images"], summary["cats"], summary["not_cats"], summary["unreadable"]) == (
        3, 1, 1, 1,
    )  # fmt: skip
    assert (summary["batches"], summary["batch_size"], summary["model"]) == (2, 2, "tiny_32")
    assert json.loads(out) == summary
    assert err.strip().endswith("images/s") and "3 images (1 cats, 1 not cats, 1 unreadable)" in err


def test_shards_share_the_pictures_once(tiny_imagenet_model, folder, tmp_path, capsys):
    parts = tmp_path / "out"
    seen = []
    for shard in ("0/2", "1/2"):
        argv = ["--model", tiny_imagenet_model, "--parts", str(parts), "--shard", shard]
        assert run([*argv, f"{folder}/"], capsys)[0] == EXIT_OK
    for part in sorted(parts.glob("part-*.jsonl")):
        seen += [line["image"] for line in lines_of(part)]
    assert sorted(seen) == sorted(str(p) for p in folder.rglob("*") if p.is_file())
    assert {p.name for p in parts.glob("summary-*.json")} == {
        "summary-000.json",
        "summary-001.json",
    }


def test_a_folder_without_parts_is_a_usage_error(tiny_imagenet_model, folder, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--model", tiny_imagenet_model, f"{folder}/"])
    assert info.value.code == EXIT_USAGE
    assert "give --parts PREFIX" in capsys.readouterr().err


def test_a_part_that_cannot_be_written_exits_4(tiny_imagenet_model, folder, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    argv = ["--model", tiny_imagenet_model, "--parts", str(blocker / "out"), f"{folder}/"]
    code, _, err = run(argv, capsys)
    assert code == EXIT_OUTPUT_ERROR and "results not written" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [("2/2", "less than N"), ("x", "give I/N"), ("-1/2", "at least 0")],
)
def test_a_bad_shard_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        batch.parse_shard(text)


class Pages:
    def __init__(self, keys):
        self.keys = keys
        self.asked = []

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        return self

    def paginate(self, *, Bucket, Prefix):  # noqa: N803
        self.asked.append((Bucket, Prefix))
        yield {"Contents": [{"Key": k} for k in self.keys[:2]]}
        yield {"Contents": [{"Key": k} for k in self.keys[2:]]}


def test_an_s3_prefix_lists_every_object_in_name_order():
    client = Pages(["in/b.png", "in/sub/", "in/a.jpg", "in/sub/c.png"])
    found = batch.expand(["s3://bucket/in/", "s3://other/one.png"], client=client)
    assert found == ["s3://bucket/in/a.jpg", "s3://bucket/in/b.png", "s3://bucket/in/sub/c.png",
                     "s3://other/one.png"]  # fmt: skip
    assert client.asked == [("bucket", "in/")]
