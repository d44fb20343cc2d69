#!/usr/bin/env python3
"""Benchmark the MXNet image: build times, size, and classify's forward pass per model.

    python3 benchmarks/image.py [--base-image ecs-dl/debian:bookworm-minbase] [--no-cold]

Prints: cold build time (`docker build --no-cache`, all stages up to runtime), cached build time,
image size and compressed size (`docker save | gzip -c | wc -c`), and for each model in the
shared models folder the forward-pass latency at batch 1 (median of 50 after 10 warm-up runs) and
the throughput at batch 32 (10 runs after 3 warm-up runs), measured inside the container.
The build host's extra CA certificates are copied to docker/certs/ for the build (as the role
does) and removed afterwards. Goals (2-core machine): image <= 1.0 GB, cold build <= 2 min,
batch-1 latency <= 10 ms for mobilenet_v1_0.5_160.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

DOCKER_DIR = Path(__file__).resolve().parents[1] / "docker"
DEFAULT_MODELS = (DOCKER_DIR / ".." / ".." / "shared" / "models" / "imagenet-mobilenet").resolve()
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")

FORWARD_BENCH = r"""
import json, sys, time
import numpy as np
from ecsdl.model import load_model
result = {}
for prefix in sys.argv[1:]:
    model = load_model(prefix)
    s = model.spec
    one = np.random.default_rng(0).uniform(0, 255, (1, s.channels, s.height, s.width))
    many = np.repeat(one, 32, axis=0).astype(np.float32)
    one = one.astype(np.float32)
    for _ in range(10):
        model.predict(one)
    times = []
    for _ in range(50):
        t = time.perf_counter(); model.predict(one); times.append(time.perf_counter() - t)
    for _ in range(3):
        model.predict(many)
    t = time.perf_counter()
    for _ in range(10):
        model.predict(many)
    elapsed = time.perf_counter() - t
    result[prefix] = {"latency_ms": 1000 * float(np.median(times)),
                      "throughput": 320 / elapsed, "input": [s.channels, s.height, s.width]}
print(json.dumps(result))
"""


def build(base_image: str, tag: str, no_cache: bool) -> float:
    command = ["docker", "build", "--build-arg", f"BASE_IMAGE={base_image}", "--target", "runtime"]
    command += ["-t", tag, str(DOCKER_DIR)] + (["--no-cache"] if no_cache else [])
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"bench: docker build failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def compressed_size(tag: str) -> int:
    save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
    assert save.stdout is not None
    size = 0
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip -6 format
    while chunk := save.stdout.read(1 << 20):
        size += len(compressor.compress(chunk))
    size += len(compressor.flush())
    if save.wait() != 0:
        sys.exit("bench: docker save failed")
    return size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default="ecs-dl/debian:bookworm-minbase")
    parser.add_argument("--tag", default="ecsdl-bench/mxnet:bench", help="image tag to build")
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--no-cold", action="store_true", help="skip the --no-cache build")
    args = parser.parse_args()

    copied = []
    for cert in sorted(HOST_CA_DIR.glob("*.crt")):
        target = DOCKER_DIR / "certs" / cert.name
        if not target.exists():
            shutil.copyfile(cert, target)
            copied.append(target)
    try:
        if not args.no_cold:
            print(f"cold build (--no-cache):   {build(args.base_image, args.tag, True):7.1f} s")
        print(f"cached build:              {build(args.base_image, args.tag, False):7.1f} s")
    finally:
        for target in copied:
            target.unlink(missing_ok=True)

    inspect = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", args.tag],
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"image size:                {int(inspect.stdout) / 1e6:7.1f} MB")
    print(f"compressed (save | gzip):  {compressed_size(args.tag) / 1e6:7.1f} MB")

    prefixes = sorted(p.name[: -len("-symbol.json")] for p in args.models_dir.glob("*-symbol.json"))
    if not prefixes:
        sys.exit(f"bench: no *-symbol.json in {args.models_dir}")
    run = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{args.models_dir}:/models:ro"]
        # OMP_NUM_THREADS from the caller's environment, when set (e.g. 1 on a busy 2-core host)
        + (["-e", "OMP_NUM_THREADS"] if "OMP_NUM_THREADS" in os.environ else [])
        + [args.tag]
        + ["python", "-c", FORWARD_BENCH]
        + [f"/models/{p}" for p in prefixes],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        sys.exit(f"bench: forward-pass benchmark failed:\n{run.stderr[-2000:]}")
    for prefix, figures in json.loads(run.stdout.splitlines()[-1]).items():
        name = prefix.rsplit("/", 1)[-1]
        print(
            f"{name:24s} input {'x'.join(map(str, figures['input']))}: batch 1 latency "
            f"{figures['latency_ms']:.2f} ms, batch 32 throughput {figures['throughput']:.0f} img/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
