"""The TFLite runtime (PyPI ai-edge-litert) on pictures, and how a converted model's answers are
compared with it (controller side: no MXNet here).

For a test (e.g. against the deployment's image, whose `classify --json` gives the converted
model's answers):

    from tests.tflite_runtime import runtime_top5, agreement, sample_pictures
    pictures = sample_pictures(tmp_path)                 # chelsea, coffee, astronaut, rocket
    expected = runtime_top5(TFLITE_MODEL, pictures)      # one list of 5 Top per picture
    for ours, theirs in zip(classify_json_lines, expected):
        top1_agrees, max_difference = agreement(ours["top"], theirs)
        assert top1_agrees and max_difference <= TOLERANCE

Preprocessing is the reference harness's (shared/models/tflite/reference.py): the central
square of int(0.875 x the shorter side), a bilinear resize, uint8 RGB; the output dequantized.

As a script, the whole check on this machine: convert the shared .tflite with `ecsdl
import-tflite` and classify the pictures with the converted model, in a Python that has MXNet
(--mxnet-python, with docker/ecsdl/src on its path) or in the image (--image), then compare:

    .venv/bin/python -m tests.tflite_runtime --mxnet-python /work/venv-mx/bin/python
    .venv/bin/python -m tests.tflite_runtime --image ecsdl-test/mxnet:test

Exit status 0 when every picture has the runtime's top-1 and its top-5 probabilities within
--tolerance (0.02); the figures are printed either way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_TFLITE = (REPO_ROOT / ".." / "shared" / "models" / "tflite").resolve()
MOBILENET_V2 = SHARED_TFLITE / "mobilenet_v2_1.0_224_quant.tflite"
SAMPLES = ("chelsea", "coffee", "astronaut", "rocket")
CROP = 0.875
TOLERANCE = 0.02


@dataclass(frozen=True)
class Top:
    index: int
    label: str
    probability: float


def sample_pictures(folder: Path, names: Sequence[str] = SAMPLES) -> list[Path]:
    """scikit-image's sample photos saved as PNG in `folder` (readable by any user)."""
    from skimage import data, io

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / f"{name}.png"
        io.imsave(path, getattr(data, name)(), check_contrast=False)
        path.chmod(0o644)
        paths.append(path)
    return paths


def preprocess(path: Path | str, height: int, width: int, crop: float = CROP) -> np.ndarray:
    """The reference harness's input: H x W x 3 uint8."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    w, h = image.size
    side = int(min(w, h) * crop)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((width, height), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def model_labels(model: Path | str) -> list[str]:
    """The labels inside a .tflite (its metadata zip's labels .txt)."""
    with zipfile.ZipFile(model) as archive:
        names = [n for n in archive.namelist() if n.endswith(".txt")]
        text = archive.read(next((n for n in names if "label" in n), names[0])).decode()
    return [line.strip() for line in text.splitlines() if line.strip()]


class Runtime:
    """One TFLite interpreter for a .tflite (the runtime's default CPU path, XNNPACK)."""

    def __init__(self, model: Path | str, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(model), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.height, self.width = (int(v) for v in self.input["shape"][1:3])

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """The dequantized output for one H x W x 3 uint8 image."""
        self.interpreter.set_tensor(self.input["index"], image[np.newaxis])
        self.interpreter.invoke()
        q = self.interpreter.get_tensor(self.output["index"])[0].astype(np.float64)
        scale, zero_point = self.output["quantization"]
        return (q - zero_point) * scale if scale else q


def runtime_probabilities(model: Path | str, pictures: Sequence[Path | str]) -> np.ndarray:
    """One row of the runtime's dequantized output per picture."""
    runtime = Runtime(model)
    return np.stack(
        [runtime.probabilities(preprocess(p, runtime.height, runtime.width)) for p in pictures]
    )


def runtime_top5(
    model: Path | str, pictures: Sequence[Path | str], labels: Sequence[str] | None = None, k=5
) -> list[list[Top]]:
    """The runtime's k most probable classes per picture, most probable first."""
    labels = list(labels) if labels is not None else model_labels(model)
    rows = runtime_probabilities(model, pictures)
    tops = []
    for row in rows:
        order = np.argsort(-row, kind="stable")[:k]
        tops.append([Top(int(i), labels[i], float(row[i])) for i in order])
    return tops


def agreement(
    ours: Sequence[Mapping[str, Any]] | Mapping[str, float], theirs: Sequence[Top]
) -> tuple[bool, float]:
    """(top-1 agrees, the largest |ours - theirs| over the runtime's top-5 classes).

    `ours`: classify's `top` list ([{"label", "probability"}, ...], as long as it is: a class
    missing from it counts as probability 0) or {label: probability}. The top-1 agrees when it
    is one of the runtime's most probable classes (a tie in the original may go either way),
    or when the runtime's top-1 has the same probability as ours there (a tie in ours)."""
    if not isinstance(ours, Mapping):
        ours = {entry["label"]: float(entry["probability"]) for entry in ours}
    difference = max(abs(ours.get(top.label, 0.0) - top.probability) for top in theirs)
    best = max(ours, key=ours.get)
    theirs_best = {top.label for top in theirs if top.probability == theirs[0].probability}
    tie = abs(ours.get(theirs[0].label, -1.0) - ours[best]) < 1e-9
    return best in theirs_best or tie, difference


# --- the check: convert and classify with MXNet, compare with the runtime ---------------------


def _converted_answers(args: argparse.Namespace, work: Path, pictures: list[Path]) -> list[dict]:
    """classify --json --top 10 of the converted model, one dict per picture; and the import's
    summary line printed."""
    model_dir = work / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.model, model_dir / "source.tflite")
    for path in (work, model_dir, *pictures):
        path.chmod(0o777 if path.is_dir() else 0o644)
    if args.image:
        base = ["docker", "run", "--rm", "-v", f"{work}:/work", args.image]
        root, pics = "/work", [f"/work/pictures/{p.name}" for p in pictures]
        env = None
    else:
        base = [args.mxnet_python, "-m"]
        root, pics = str(work), [str(p) for p in pictures]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "docker" / "ecsdl" / "src")}
    prefix = f"{root}/model/out/converted"
    importer = ["ecsdl"] if args.image else ["ecsdl.cli"]
    started = time.perf_counter()
    convert = subprocess.run(
        [*base, *importer, "import-tflite", f"{root}/model/source.tflite", prefix],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if convert.returncode != 0:
        sys.exit(f"import-tflite failed ({convert.returncode}): {convert.stderr.strip()}")
    print(f"{convert.stdout.strip()} (wall {time.perf_counter() - started:.1f} s)")
    classify = ["classify"] if args.image else ["ecsdl.classify"]
    run = subprocess.run(
        [*base, *classify, "--json", "--top", "10", "--model", prefix, *pics],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if run.returncode != 0:
        sys.exit(f"classify failed ({run.returncode}): {run.stderr.strip()}")
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--mxnet-python", help="a python with mxnet 1.9.1 and the ecsdl deps")
    where.add_argument("--image", help="the ecs-dl image (docker run; ecsdl and classify in it)")
    parser.add_argument("--model", type=Path, default=MOBILENET_V2, help="the .tflite")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        sys.exit(f"no such file: {args.model} (the shared TFLite models)")
    with tempfile.TemporaryDirectory(prefix="ecsdl-tflite-check-") as tmp:
        work = Path(tmp)
        pictures = sample_pictures(work / "pictures")
        theirs = runtime_top5(args.model, pictures)
        ours = _converted_answers(args, work, pictures)
    failures = 0
    for picture, line, expected in zip(pictures, ours, theirs, strict=True):
        top1_agrees, difference = agreement(line["top"], expected)
        ok = top1_agrees and difference <= args.tolerance
        failures += not ok
        print(
            f"{picture.name:14s} runtime top-1 {expected[0].label!r} {expected[0].probability:.4f},"
            f" converted {line['top'][0]['label']!r} {line['top'][0]['probability']:.4f}: "
            f"top-1 {'same' if top1_agrees else 'DIFFERENT'}, max top-5 difference "
            f"{difference:.4f} {'ok' if ok else 'TOO LARGE'}"
        )
    print(f"{len(pictures) - failures} agreed, {failures} disagreed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
