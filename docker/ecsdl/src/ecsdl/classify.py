"""`classify`: is there a cat in these images? ImageNet classifiers in MXNet checkpoint format.

Every readable image goes through the model in ONE forward pass. For each image: the summed
probability of the ImageNet cat classes (tabby, tiger cat, Persian, Siamese, Egyptian cat), found
by their labels (281..285 in a 1000-class model, 282..286 in a 1001-class one with `background`
first), the verdict `is_cat` (that sum >= --threshold) and the top-K labels. `--output` also
writes the JSON lines to a local path or an s3:// object; `--verdicts` writes one verdict object
per image (an unreadable image's says why), as the uploads' rule runs it for each new picture.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from ecsdl import EcsdlError, __version__
from ecsdl.device import DEVICES, device_name, pick_device
from ecsdl.model import Model, load_model
from ecsdl.preprocess import batch, decode, to_array
from ecsdl.sources import image_limits, is_http, is_s3, read_bytes, split_s3, write_bytes

# ImageNet's five cat classes, by the first comma-separated name of their labels ("tabby, tabby
# cat", "Siamese cat, Siamese"): indices 281..285 of a 1000-class model, 282..286 of a 1001-class
# one (TFLite's, `background` first). Found by label, so any class order works.
CAT_LABELS = ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat")
# A cat when the model puts at least half its mass on the cat classes: the summed probability is
# the model's P(cat) once the 1000 classes are folded into cat / not cat, and 0.5 is that binary
# question's natural boundary. The shared MobileNets give 0.88-0.97 for a cat photo and < 0.01
# for coffee, an astronaut and a rocket, so any threshold from 0.1 to 0.8 gives the same verdicts.
DEFAULT_THRESHOLD = 0.5
DEFAULT_TOP = 5

EXIT_OK = 0
EXIT_IMAGE_ERROR = 1
EXIT_USAGE = 2
EXIT_MODEL_ERROR = 3
EXIT_OUTPUT_ERROR = 4


@dataclass
class Result:
    """The verdict for one image (the JSON line of `classify --json`)."""

    image: str
    is_cat: bool
    cat_probability: float
    top: list[dict[str, float | str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "image": self.image,
            "is_cat": self.is_cat,
            "cat_probability": self.cat_probability,
            "top": self.top,
        }

    def as_text(self) -> str:
        verdict = "CAT" if self.is_cat else "no cat"
        tops = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in self.top)
        return f"{self.image}: {verdict} (cat probability {self.cat_probability:.3f}); top: {tops}"


def cat_classes(labels: Sequence[str]) -> list[int]:
    """The indices of the labels whose first comma-separated name is one of CAT_LABELS (case
    does not matter); [] for a model without them (the digits of `train`, ...)."""
    wanted = {name.casefold() for name in CAT_LABELS}
    return [i for i, label in enumerate(labels) if label.split(",")[0].strip().casefold() in wanted]


def cat_probability(probabilities: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Summed probability of the classes `classes` (cat_classes) per row; 0 without any."""
    probabilities = np.atleast_2d(probabilities)
    if not classes:
        return np.zeros(probabilities.shape[0])
    return probabilities[:, list(classes)].sum(axis=1)


def top_k(row: np.ndarray, labels: Sequence[str], k: int) -> list[dict[str, float | str]]:
    """The k most probable classes of one row, most probable first."""
    order = np.argsort(row)[::-1][:k]
    return [{"label": labels[i], "probability": round(float(row[i]), 6)} for i in order]


def load_image(uri: str, model: Model) -> np.ndarray:
    """Read (within the limits of a picture, image_limits()), decode and preprocess one image
    for `model`; EcsdlError with one line if it fails."""
    spec = model.spec
    image = decode(read_bytes(uri, image_limits()), uri)
    return to_array(image, (spec.height, spec.width), spec.channels, spec.crop)


def classify_arrays(
    model: Model,
    names: Sequence[str],
    arrays: Sequence[np.ndarray],
    top: int = DEFAULT_TOP,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Result]:
    """One forward pass over preprocessed (C, H, W) arrays; one Result per name."""
    if not arrays:
        return []
    probabilities = model.predict(batch(list(arrays)))
    cats = cat_probability(probabilities, cat_classes(model.labels))
    return [
        Result(
            image=name,
            is_cat=bool(cats[i] >= threshold),
            cat_probability=round(float(cats[i]), 6),
            top=top_k(probabilities[i], model.labels, top),
        )
        for i, name in enumerate(names)
    ]


def classify_each(
    model: Model,
    images: Sequence[str],
    top: int = DEFAULT_TOP,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[tuple[str, Result | None, str | None]]:
    """Classify images (paths, URLs, s3:// URIs) in one forward pass: for each, in input order,
    (image, its Result, None) or (image, None, the one line that says why it could not be read)."""
    names: list[str] = []
    arrays: list[np.ndarray] = []
    failed: dict[str, str] = {}
    for uri in images:
        try:
            arrays.append(load_image(uri, model))
            names.append(uri)
        except EcsdlError as exc:
            failed[uri] = str(exc)
    results = iter(classify_arrays(model, names, arrays, top, threshold))
    return [
        (uri, None, failed[uri]) if uri in failed else (uri, next(results), None) for uri in images
    ]


def classify_images(
    model: Model,
    images: Sequence[str],
    top: int = DEFAULT_TOP,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[Result], list[str]]:
    """Classify images (paths, URLs, s3:// URIs): (results in input order, error lines)."""
    each = classify_each(model, images, top, threshold)
    return [r for _, r, _ in each if r is not None], [e for _, _, e in each if e is not None]


def verdict(model: Model, image: str, result: Result | None, error: str | None) -> dict[str, Any]:
    """One image's verdict object (`--verdicts`): the result's fields, or {"image", "error"},
    with the model that gave it (its name and its parameters' sha256)."""
    body: dict[str, Any] = (
        result.as_dict() if result is not None else {"image": image, "error": error}
    )
    return {**body, "model": model.name, "model_sha256": model.sha256}


def verdict_uri(prefix: str, image: str) -> str:
    """Where `--verdicts PREFIX` puts the verdict of `image`: PREFIX + the image's key (an s3://
    image), its URL path (http(s)) or its file name (a local path) + ".json"."""
    if is_s3(image):
        name = split_s3(image)[1]
    elif is_http(image):
        name = image.split("://", 1)[1].partition("/")[2].partition("?")[0] or "index"
    else:
        name = image.rstrip("/").rsplit("/", 1)[-1]
    return f"{prefix}{name}.json"


def json_lines(results: Sequence[Result]) -> str:
    """The `--json` output: one JSON object per result and line ('' for no results)."""
    return "".join(json.dumps(result.as_dict()) + "\n" for result in results)


def write_results(uri: str, results: Sequence[Result], client: Any | None = None) -> None:
    """Write the JSON lines of `results` to a local path or s3://bucket/key (`client`: an S3
    client instead of boto3's default one); SourceError with one line when that fails."""
    write_bytes(uri, json_lines(results).encode("utf-8"), client=client)


def _output_uri(text: str) -> str:
    """--output: a local path or s3://bucket/key (an object, not a prefix); no http(s)."""
    if not text:
        raise argparse.ArgumentTypeError("give a local path or s3://bucket/key")
    if is_http(text):
        raise argparse.ArgumentTypeError(
            f"cannot write to an http(s) URL: {text!r}; give a local path or s3://bucket/key"
        )
    if is_s3(text):
        bucket, _, key = text[len("s3://") :].partition("/")
        if not bucket or not key or key.endswith("/"):
            raise argparse.ArgumentTypeError(
                f"{text!r} names no object; give s3://bucket/key (e.g. s3://bucket/results.json)"
            )
    return text


def _verdicts_prefix(text: str) -> str:
    """--verdicts: a local folder or an s3://bucket/prefix that ends with a slash."""
    if is_http(text):
        raise argparse.ArgumentTypeError(f"cannot write to an http(s) URL: {text!r}")
    if is_s3(text):
        bucket, _, key = text[len("s3://") :].partition("/")
        if not bucket or (key and not key.endswith("/")):
            raise argparse.ArgumentTypeError(
                f"{text!r}: give s3://bucket/prefix/ (ending with /), e.g. s3://bucket/verdicts/"
            )
        return text
    if not text:
        raise argparse.ArgumentTypeError("give a local folder or s3://bucket/prefix/")
    return text if text.endswith("/") else text + "/"


def _parts_prefix(text: str) -> str:
    from ecsdl.batch import parts_prefix

    try:
        return parts_prefix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shard(text: str) -> tuple[int, int]:
    from ecsdl.batch import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classify",
        description=(
            "Classify images with an MXNet ImageNet classifier and say whether each shows a cat "
            "(the summed probability of the ImageNet cat classes, tabby, tiger cat, Persian, "
            "Siamese and Egyptian cat, found by their labels). All readable images go through "
            "the model in one forward pass."
        ),
        epilog=(
            "Preprocessing: central square crop (87.5% of the shorter side unless the model "
            "says otherwise), bilinear resize to the model's input size, RGB float32 in [0, 255], "
            "NCHW. The cat verdict only means something for ImageNet models (1000 classes, or 1001 "
            "with background first, as imported by `ecsdl import-tflite`); for models without "
            "those labels, such as the digit models of `train`, is_cat is false and "
            "cat_probability 0. Exit status: 0 all images classified, 1 some image could not be "
            "read (the others are still reported; 0 with --verdicts, where it is a verdict), 2 "
            "usage error, 3 model or labels missing or unloadable (or --device gpu and no GPU), "
            "4 the results could not be written to --output or a verdict to --verdicts (stdout "
            "still has them; 4 wins over 1). S3 access uses the usual AWS "
            "credentials and honours AWS_ENDPOINT_URL."
        ),
    )
    parser.add_argument(
        "--model",
        required=True,
        metavar="PREFIX",
        help="checkpoint prefix, a local path or s3://bucket/key-prefix: PREFIX-symbol.json and "
        "PREFIX-0000.params (see --epoch) are loaded; float16-stored parameters are cast to "
        "float32",
    )
    parser.add_argument(
        "--labels",
        metavar="FILE",
        help="class names, one per line in output order (path, URL or s3://); "
        "default: labels.txt beside the checkpoint",
    )
    parser.add_argument(
        "--top",
        type=_positive_int,
        default=DEFAULT_TOP,
        metavar="K",
        help=f"how many of the most probable labels to report per image (default {DEFAULT_TOP})",
    )
    parser.add_argument(
        "--threshold",
        type=_probability,
        default=DEFAULT_THRESHOLD,
        metavar="P",
        help="is_cat is true when the summed cat probability is >= P "
        f"(default {DEFAULT_THRESHOLD}: the model then gives 'cat' at least as much mass as "
        "all other classes together)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per image and line: {"image", "is_cat", "cat_probability", '
        '"top": [{"label", "probability"}, ...]}; default: one readable line per image',
    )
    parser.add_argument(
        "--output",
        type=_output_uri,
        metavar="URI",
        help="also write the results to URI, a local path (parent folders created) or "
        "s3://bucket/key, replacing what is there: the JSON lines of --json whatever stdout "
        "shows. Written whenever the model loads, even if some images could not be read: "
        "like --json, it holds the classified images only (possibly none, an empty file) and "
        "the unreadable ones are reported on stderr with exit status 1. Not written on exit "
        "status 2 or 3",
    )
    parser.add_argument(
        "--verdicts",
        type=_verdicts_prefix,
        metavar="PREFIX",
        help="also write each image's verdict to PREFIX<key>.json (PREFIX: a local folder or "
        "s3://bucket/prefix/; <key>: an s3:// image's key, an http(s) image's path, a local "
        "image's file name): its JSON object with the model's name and parameters' sha256 "
        '("model", "model_sha256"), or {"image", "error", "model", "model_sha256"} for an image '
        "that cannot be read or decoded. An unreadable image then is an answer, not a failure: "
        "exit status 0 once every verdict is written (4 when one cannot be)",
    )
    parser.add_argument(
        "--parts",
        type=_parts_prefix,
        metavar="PREFIX",
        help="classify in batches (thousands of pictures, the model loaded once): an IMAGE with a "
        "trailing slash, a folder or s3://bucket/prefix/, stands for every picture under it; "
        "--decoders threads read and decode while the network runs --batch-size at a time; each "
        'batch\'s JSON lines ({"image", "error"} for what cannot be read) go to '
        "PREFIXpart-<shard>-<batch>.jsonl, and the counts (cats, not cats, unreadable), seconds "
        "and images/s to PREFIXsummary-<shard>.json and stderr. Exit status 0 once every part is "
        "written (an unreadable picture is counted, not a failure), 4 when one cannot be",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=32,
        metavar="N",
        help="with --parts: pictures per forward pass and per part file (default 32)",
    )
    parser.add_argument(
        "--decoders",
        type=_positive_int,
        default=2,
        metavar="K",
        help="with --parts: threads that read and decode pictures (default 2)",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="I/N",
        help="with --parts: only every N-th picture from the I-th (0-based), so N tasks share "
        "the pictures (default 0/1, all of them)",
    )
    parser.add_argument(
        "--input-size",
        type=_positive_int,
        metavar="N",
        help="resize images to N x N; default: from the symbol's data shape or the prefix's "
        "trailing _N (mobilenet_v1_0.5_160 -> 160), else 224",
    )
    parser.add_argument(
        "--epoch",
        type=int,
        default=0,
        metavar="N",
        help="load PREFIX-NNNN.params of that epoch (default 0)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the model runs: auto (default) the first GPU when MXNet sees one, else the "
        "CPU; cpu; gpu (an error when there is none). --timing says which one ran",
    )
    parser.add_argument(
        "--timing",
        action="store_true",
        help="also print the device, the model load and forward-pass times on stderr",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="local path, http(s):// URL or s3://bucket/key of a PNG, JPEG, ... image",
    )
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # `classify serve`: the HTTP endpoint (ecsdl.serve)
        from ecsdl import serve

        return serve.main(argv[1:])
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    folders = [image for image in args.images if image.endswith("/")]
    if folders and args.parts is None:
        parser.error(
            f"{folders[0]} is a folder or prefix: give --parts PREFIX to classify every picture "
            "under it in batches"
        )
    started = time.perf_counter()
    try:
        ctx = pick_device(args.device)
        model = load_model(args.model, args.labels, epoch=args.epoch, size=args.input_size, ctx=ctx)
    except EcsdlError as exc:
        print(f"classify: {exc}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    loaded = time.perf_counter()
    if args.parts is not None:
        return _run_parts(model, args, out)
    each = classify_each(model, args.images, args.top, args.threshold)
    results = [r for _, r, _ in each if r is not None]
    errors = [e for _, _, e in each if e is not None]
    done = time.perf_counter()
    for error in errors:
        print(f"classify: {error}", file=sys.stderr)
    if args.json:
        out.write(json_lines(results))
    else:
        for result in results:
            print(result.as_text(), file=out)
    out.flush()
    written = True
    if args.output is not None:
        try:
            write_results(args.output, results)
        except EcsdlError as exc:
            print(f"classify: results not written: {exc}", file=sys.stderr)
            written = False
    if args.verdicts is not None:
        for image, result, error in each:
            uri = verdict_uri(args.verdicts, image)
            try:
                write_bytes(uri, json.dumps(verdict(model, image, result, error)).encode("utf-8"))
            except EcsdlError as exc:
                print(f"classify: verdict not written: {exc}", file=sys.stderr)
                written = False
    if args.timing:
        print(
            f"classify: device: {device_name(ctx)}; model loaded in {loaded - started:.3f} s; "
            f"{len(results)} image(s) read and classified in {done - loaded:.3f} s",
            file=sys.stderr,
        )
    if not written:
        return EXIT_OUTPUT_ERROR
    return EXIT_IMAGE_ERROR if errors and args.verdicts is None else EXIT_OK


def _run_parts(model: Model, args: argparse.Namespace, out: TextIO) -> int:
    """--parts: classify every picture of args.images (folders and prefixes expanded, this
    shard's share) in batches; exit status as --help says."""
    from ecsdl import batch

    try:
        images = batch.shard_of(batch.expand(args.images), args.shard)
    except EcsdlError as exc:
        print(f"classify: {exc}", file=sys.stderr)
        return EXIT_IMAGE_ERROR
    try:
        summary = batch.run(
            model,
            images,
            args.parts,
            shard=args.shard,
            batch_size=args.batch_size,
            decoders=args.decoders,
            top=args.top,
            threshold=args.threshold,
        )
    except EcsdlError as exc:
        print(f"classify: results not written: {exc}", file=sys.stderr)
        return EXIT_OUTPUT_ERROR
    print(f"classify: shard {summary.shard}: {summary.line()}", file=sys.stderr)
    if args.json:
        out.write(json.dumps(batch.asdict(summary)) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
