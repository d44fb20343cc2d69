#!/usr/bin/env python3
"""Benchmark `ecsdl import-tflite` and the converted model against the TFLite runtime.

    python3 benchmarks/importer.py [--image ecsdl-bench/mxnet:bench] [--model FILE.tflite]

In one run, on scikit-image's chelsea, coffee, astronaut and rocket: inside the container (as
benchmarks/image.py times classify's forward pass), the import's time and the converted model's
forward pass, batch 1 latency (median of 50 after 10 warm-up runs, the pictures in turn) and
batch 32 throughput (10 runs after 3 warm-up runs); on the controller, the same for the TFLite
runtime (PyPI ai-edge-litert, XNNPACK, --threads, default every core as MXNet uses them) on the
same pictures (batch 32: the model's batch of 1 invoked 32 times, its RESHAPE fixes the batch).
Prints both, their ratio, and whether the two agree on each picture's top-1. The image is built
(runtime stage, as image.py does) when it is missing.
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
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.tflite_runtime import MOBILENET_V2, preprocess, sample_pictures  # noqa: E402

CONTAINER_BENCH = r"""
import json, sys, time
import numpy as np
from ecsdl.classify import load_image
from ecsdl.model import load_model
from ecsdl.preprocess import batch
from ecsdl.tflite_import import import_tflite
source, prefix, *pictures = sys.argv[1:]
started = time.perf_counter()
result = import_tflite(source, prefix)
imported = time.perf_counter() - started
model = load_model(prefix)
arrays = [load_image(p, model) for p in pictures]
ones = [batch([a]) for a in arrays]
many = batch([arrays[i % len(arrays)] for i in range(32)])
for i in range(10):
    model.predict(ones[i % len(ones)])
times = []
for i in range(50):
    t = time.perf_counter()
    model.predict(ones[i % len(ones)])
    times.append(time.perf_counter() - t)
for _ in range(3):
    model.predict(many)
t = time.perf_counter()
for _ in range(10):
    model.predict(many)
elapsed = time.perf_counter() - t
top1 = [int(model.predict(one)[0].argmax()) for one in ones]
print(json.dumps({"import_s": imported, "import_reported_s": result.seconds,
                  "operators": result.operators, "latency_ms": 1000 * float(np.median(times)),
                  "throughput": 320 / elapsed, "top1": top1}))
"""


def runtime_figures(model: Path, pictures: list[Path], threads: int) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=threads)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    height, width = (int(v) for v in inp["shape"][1:3])
    images = [preprocess(p, height, width)[np.newaxis] for p in pictures]
    for i in range(10):
        interpreter.set_tensor(inp["index"], images[i % len(images)])
        interpreter.invoke()
    times, top1 = [], []
    for i in range(50):
        t = time.perf_counter()
        interpreter.set_tensor(inp["index"], images[i % len(images)])
        interpreter.invoke()
        times.append(time.perf_counter() - t)
    for image in images:
        interpreter.set_tensor(inp["index"], image)
        interpreter.invoke()
        top1.append(int(interpreter.get_tensor(out["index"])[0].argmax()))
    # batch 32: 32 invocations of the model's batch of 1 (its RESHAPE to 1 x 1001 fixes the
    # batch, so XNNPACK cannot resize the input to 32)
    many = [images[i % len(images)] for i in range(32)]

    def batch32() -> None:
        for image in many:
            interpreter.set_tensor(inp["index"], image)
            interpreter.invoke()

    for _ in range(3):
        batch32()
    t = time.perf_counter()
    for _ in range(10):
        batch32()
    elapsed = time.perf_counter() - t
    return {
        "latency_ms": 1000 * float(np.median(times)),
        "throughput": 320 / elapsed,
        "top1": top1,
    }


def ensure_image(tag: str, base_image: str) -> None:
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return
    from benchmarks.image import build  # the runtime stage, as image.py builds it

    print(f"building {tag} (runtime stage): {build(base_image, tag, False):.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="ecsdl-bench/mxnet:bench", help="the ecs-dl image")
    parser.add_argument("--base-image", default="ecs-dl/debian:bookworm-minbase")
    parser.add_argument("--model", type=Path, default=MOBILENET_V2, help="the .tflite")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not args.model.is_file():
        sys.exit(f"bench: no such file: {args.model}")
    ensure_image(args.image, args.base_image)
    with tempfile.TemporaryDirectory(prefix="ecsdl-bench-importer-") as tmp:
        work = Path(tmp)
        work.chmod(0o777)  # the container's user (uid 1000) writes the checkpoint here
        pictures = sample_pictures(work / "pictures")
        (work / "pictures").chmod(0o755)
        shutil.copyfile(args.model, work / "model.tflite")
        (work / "model.tflite").chmod(0o644)
        run = subprocess.run(
            ["docker", "run", "--rm", "-v", f"{work}:/work"]
            + (["-e", "OMP_NUM_THREADS"] if "OMP_NUM_THREADS" in os.environ else [])
            + [args.image, "python", "-c", CONTAINER_BENCH, "/work/model.tflite", "/work/out/m"]
            + [f"/work/pictures/{p.name}" for p in pictures],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            sys.exit(f"bench: the container's benchmark failed:\n{run.stderr[-2000:]}")
        ours = json.loads(run.stdout.splitlines()[-1])
        theirs = runtime_figures(args.model, pictures, args.threads)
    agree = sum(a == b for a, b in zip(ours["top1"], theirs["top1"], strict=True))
    print(
        f"import-tflite {args.model.name} ({args.model.stat().st_size / 1e6:.1f} MB, "
        f"{ours['operators']} ops) in the container: {ours['import_s']:.2f} s"
    )
    print(f"{'':22s}{'converted (MXNet)':>20s}{'TFLite runtime':>18s}{'ratio':>8s}")
    latency_ratio = ours["latency_ms"] / theirs["latency_ms"]
    print(
        f"{'batch 1 latency':22s}{ours['latency_ms']:17.1f} ms{theirs['latency_ms']:15.1f} ms"
        f"{latency_ratio:7.2f}x"
    )
    print(
        f"{'batch 32 throughput':22s}{ours['throughput']:14.1f} img/s{theirs['throughput']:12.1f}"
        f" img/s{ours['throughput'] / theirs['throughput']:7.2f}x"
    )
    print(
        f"(runtime: {args.threads} thread(s); the same top-1 on {agree} of {len(pictures)} "
        "pictures)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
